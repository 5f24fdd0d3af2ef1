"""Print pip constraints pinning every dependency of pyproject.toml to its floor.

Used by .ci/run to test the lowest versions we claim to support: the runtime
dependencies and the [test] extra (`name>=X` becomes `name==X`).
"""

import re
import sys
import tomllib
from pathlib import Path

project = tomllib.loads(Path(sys.argv[1]).read_text())["project"]
for requirement in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
    if match := re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*>=\s*([^,;\s]+)", requirement):
        print(f"{match[1]}=={match[2]}")
