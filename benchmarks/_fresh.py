"""Run a command from a small interpreter, so that its ``ru_maxrss`` starts near zero.

On Linux a process keeps, across ``exec``, the peak RSS of the process it was
forked from: a child started straight from the benchmark (which holds pages in
memory) would report the parent's peak as its own. Started from this process,
which imports nothing but ``subprocess``, it inherits a peak of a few MB, below
its own baseline. Usage: ``python -m benchmarks._fresh COMMAND...``; relays
stdout and the exit status.
"""

import subprocess
import sys

if __name__ == "__main__":
    done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, check=False)  # noqa: S603
    sys.stdout.buffer.write(done.stdout)
    sys.exit(done.returncode)
