"""Check what the built distributions carry: usage: check_dist.py WHEEL SDIST.

Both carry the LICENSE the metadata names; the sdist carries the package, its tests
and documents, and nothing of the benchmarks.
"""

import sys
import tarfile
import zipfile

wheel, sdist = sys.argv[1:3]
problems = []
wheel_names = zipfile.ZipFile(wheel).namelist()
if not any(name.endswith(".dist-info/licenses/LICENSE") for name in wheel_names):
    problems.append(f"{wheel}: no LICENSE")
with tarfile.open(sdist) as archive:
    top_level = {name.split("/")[1] for name in archive.getnames() if name.count("/") >= 1}
for needed in ("LICENSE", "README.md", "CHANGELOG.md", "ipay_links", "tests", "pyproject.toml"):
    if needed not in top_level:
        problems.append(f"{sdist}: no {needed}")
if "benchmarks" in top_level:
    problems.append(f"{sdist}: carries benchmarks/")
for problem in problems:
    print(f"check_dist: {problem}", file=sys.stderr)
print(f"check_dist: {len(problems)} problems in the wheel and the sdist")
sys.exit(1 if problems else 0)
