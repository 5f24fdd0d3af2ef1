"""Real ``ipay-links export`` processes killed, racing each other, and out of disk space.

Every kill point is chosen by what the simulator saw (a request for a page held by a
hang fault) and by the files' state, never by a guessed sleep; the randomness is seeded.
"""

from __future__ import annotations

import json
import random
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ipay_links import Credentials
from ipay_links.cli import main
from ipay_links.testing import Fault, Simulator

from .test_cli import (
    INTERRUPTIBLE,
    SECRET,
    library_log_level,  # noqa: F401  # autouse
    serving,
)

CREDENTIALS = Credentials("cli-client", SECRET, "127.0.0.1")
ENV = {
    "IPAY_CLIENT_ID": CREDENTIALS.client_id,
    "IPAY_CLIENT_SECRET": CREDENTIALS.client_secret,
    "IPAY_ENDPOINT_IP": CREDENTIALS.endpoint_ip,
}
CLI = [sys.executable, "-m", "ipay_links"]
PER_PAGE = 5
HANG = 60.0  # longer than any test: a held page is let go by a kill, or never


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll until ``condition`` holds: the events come from another process."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


def saved_links(out: Path) -> int | None:
    """``links_written`` of ``out``'s checkpoint, or None when there is none (yet)."""
    try:
        return int(json.loads(out.with_name(out.name + ".checkpoint").read_text())["links_written"])
    except (FileNotFoundError, ValueError):  # not there, or replaced as we read it
        return None


def asked_for(sim: Simulator, page: int, since: int) -> bool:
    return any(seen.page == page for seen in list(sim.requests)[since:])


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "json"])
def test_sigkill_anywhere_then_resume_gives_the_bytes_of_an_uninterrupted_export(
    env: None, tmp_path: Path, fmt: str
) -> None:
    rng = random.Random(f"sigkill-{fmt}")
    sim = Simulator(60, seed=5, credentials=CREDENTIALS)  # 12 pages of 5
    out = tmp_path / "kill" / f"links.{fmt}"
    out.parent.mkdir()
    with serving(sim) as url:
        # Two pages in flight: when page N is asked for, page N - 1 may be anywhere
        # between its answer and its checkpoint, which is where a kill may land.
        argv = ["export", "--base-url", url, "--per-page", str(PER_PAGE), "--format", fmt]
        argv += ["--concurrency", "2"]
        assert main([*argv, "-o", str(tmp_path / "reference"), "-q"]) == 0
        expected = (tmp_path / "reference").read_bytes()
        for page in sorted(rng.sample(range(2, 13), 4)):
            resume = ["--resume"] if out.with_name(out.name + ".checkpoint").exists() else []
            _kill_at(sim, [*CLI, *argv, "-o", str(out), *resume], page, rng, out)
            _tear(out, expected, rng)
        assert main([*argv, "-o", str(out), "--resume", "-q"]) == 0
    assert out.read_bytes() == expected
    assert sorted(path.name for path in out.parent.iterdir()) == [out.name]


def _kill_at(sim: Simulator, command: list[str], page: int, rng: random.Random, out: Path) -> None:
    """Run ``command`` until it asks for ``page`` (held), maybe until it saved the page before."""
    sim.inject(Fault.hang(HANG), page=page)
    since = len(sim.requests)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: asked_for(sim, page, since), f"a request for page {page}")
        if rng.random() < 0.5:  # else: wherever it is between the two pages
            whole = (page - 1) * PER_PAGE
            wait_for(lambda: saved_links(out) == whole, f"page {page - 1} saved")
    finally:
        process.kill()
        _, err = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, err


def _tear(out: Path, expected: bytes, rng: random.Random) -> None:
    """Sometimes: what a kill in the middle of a page's write leaves, a page cut short."""
    partial = out.with_name(out.name + ".partial")
    if partial.exists() and rng.random() < 0.5:
        size = partial.stat().st_size
        with partial.open("ab") as stream:
            stream.write(expected[size : size + rng.randint(1, 300)])


def test_a_second_export_to_the_same_file_exits_2_and_touches_nothing(
    env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = Simulator(40, seed=6, credentials=CREDENTIALS)
    sim.inject(Fault.hang(HANG), page=2)  # the first export waits there, holding the lock
    out = tmp_path / "links.jsonl"
    with serving(sim) as url:
        argv = ["export", "--base-url", url, "--per-page", "10", "-o", str(out)]
        first = subprocess.Popen([*INTERRUPTIBLE, *argv], stderr=subprocess.PIPE, text=True)
        wait_for(lambda: sim.request_count == 2 and saved_links(out) == 10, "page 1 saved")
        files = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
        for extra in ([], ["--resume"], ["--restart"], ["--force"]):
            assert main([*argv, *extra]) == 2
            (line,) = capsys.readouterr().err.splitlines()
            assert line == f"ipay-links: error: another export is writing {out}"
        assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == files
        assert sim.request_count == 2
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=60)
        assert first.returncode == 130, err
        assert main([*argv, "--resume"]) == 0
    assert [json.loads(line)["link_id"] for line in out.read_text().splitlines()] == [
        link["linkId"] for link in sim.links
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == [out.name]


# -- a full disk -----------------------------------------------------------------------

# The command with a file-size limit (ulimit -f): a write past it fails with EFBIG
# instead of killing the process with SIGXFSZ.
LIMITED = [
    sys.executable,
    "-c",
    "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    "limit = int(sys.argv.pop(1)); resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)); "
    "from ipay_links.cli import main; sys.exit(main(sys.argv[1:]))",
]
EXPORT = ["export", "--simulator", "--simulator-links", "200", "--per-page", "10"]


@pytest.fixture(params=["ulimit -f", "tmpfs"])
def small_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Disk]:
    """A directory where writing stops after a few pages, and how to give it room again."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if request.param == "ulimit -f":
        yield Disk(folder, limited=True)
        return
    mount = ["mount", "-t", "tmpfs", "-o", "size=48k,mode=0755", "tmpfs", str(folder)]
    if subprocess.run(mount, capture_output=True, check=False).returncode != 0:
        pytest.skip("no privilege to mount a tmpfs here: the ulimit -f case stands for it")
    try:
        yield Disk(folder, limited=False)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)  # noqa: S607  # as mount


class Disk:
    """A folder that fills up after a few pages: a tmpfs, or a file-size limit."""

    def __init__(self, folder: Path, *, limited: bool) -> None:
        self.folder = folder
        self.limited = limited

    def run(self, argv: list[str], limit: int = 40_000) -> subprocess.CompletedProcess[str]:
        command = [*LIMITED, str(limit)] if self.limited else CLI
        return subprocess.run([*command, *argv], capture_output=True, text=True, timeout=60)

    def grow(self) -> None:
        if not self.limited:
            remount = ["mount", "-o", "remount,size=4m", str(self.folder)]
            subprocess.run(remount, check=True)


def test_a_full_disk_exits_1_keeps_the_hint_and_resumes_to_the_same_bytes(
    small_disk: Disk, tmp_path: Path
) -> None:
    assert main([*EXPORT, "-o", str(tmp_path / "reference"), "-q"]) == 0
    out = small_disk.folder / "links.jsonl"
    full = small_disk.run([*EXPORT, "-o", str(out)])
    assert full.returncode == 1, full.stderr
    hint, error = full.stderr.splitlines()
    resume = shlex.join(["ipay-links", *EXPORT, "-o", str(out), "--resume"])
    assert re.fullmatch(
        rf"ipay-links: \d+ links of whole pages are kept in {re.escape(str(out))}\.partial; "
        rf"to go on from there: {re.escape(resume)}",
        hint,
    )
    assert re.match(r"ipay-links: OSError: \[Errno (27|28)\] .*links\.jsonl", error)
    small_disk.grow()
    assert main([*EXPORT, "-o", str(out), "--resume", "-q"]) == 0
    assert out.read_bytes() == (tmp_path / "reference").read_bytes()
    assert sorted(path.name for path in small_disk.folder.iterdir()) == [out.name]


@pytest.mark.parametrize(("limit", "stopped"), [(100, "checkpoint.tmp"), (2000, "partial")])
def test_a_disk_full_before_the_first_whole_page_leaves_nothing_behind(
    tmp_path: Path, limit: int, stopped: str
) -> None:
    out = tmp_path / "links.jsonl"
    # 100 bytes: not even the first checkpoint; 2,000: the checkpoint, not the first page.
    full = Disk(tmp_path, limited=True).run([*EXPORT, "-o", str(out)], limit=limit)
    assert full.returncode == 1
    (line,) = full.stderr.splitlines()
    assert line == f"ipay-links: OSError: [Errno 27] File too large: '{out}.{stopped}'"
    assert list(tmp_path.iterdir()) == []
