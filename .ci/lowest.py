"""Print pip constraints pinning every dependency of pyproject.toml to its floor.

Used by .ci/run to test the lowest versions we claim to support: the runtime
dependencies and the [test] and [db] extras (`name>=X` becomes `name==X`).
"""

import re
import sys
import tomllib
from pathlib import Path

project = tomllib.loads(Path(sys.argv[1]).read_text())["project"]
extras = project["optional-dependencies"]
for requirement in [*project["dependencies"], *extras["test"], *extras["db"]]:
    if match := re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*>=\s*([^,;\s]+)", requirement):
        print(f"{match[1]}=={match[2]}")
