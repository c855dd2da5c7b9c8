"""Check that a venv resolved with ``uv pip install --resolution lowest-direct`` holds each direct
dependency at the floor pyproject.toml states, so the tests that ran in it tested that floor.

Run with the venv's python: ``.venv-lowest/bin/python scripts/check_floors.py``. A floor is held
when the installed version, cut to the floor's precision, equals it (``>=2.3`` is held by 2.3.1,
not by 2.4). A floor below what the other requirements allow is reported: raise it.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the backport, which pytest depends on there
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _extras_of(project: dict, extra: str, seen: set[str]) -> list[str]:
    """The requirements of ``extra`` and of the project's own extras it names, recursively."""
    own = project["name"]
    specs: list[str] = []
    for text in project.get("optional-dependencies", {}).get(extra, []):
        req = Requirement(text)
        if req.name == own:
            for inner in sorted(req.extras - seen):
                seen.add(inner)
                specs += _extras_of(project, inner, seen)
        else:
            specs.append(text)
    return specs


def floors(project: dict, extra: str = "dev") -> dict[str, Version]:
    """Every ``>=`` floor of the dependencies and of ``extra`` (with the extras it includes), by
    package name: what the lowest leg installs. Extras outside it (``ui-test``) run in legs of
    their own at the newest release."""
    own = project["name"]
    found: dict[str, Version] = {}
    specs = list(project["dependencies"]) + _extras_of(project, extra, {extra})
    for text in specs:
        req = Requirement(text)
        if req.name == own:
            continue
        for spec in req.specifier:
            if spec.operator == ">=":
                found[req.name] = max(found.get(req.name, Version("0")), Version(spec.version))
    return found


def held(floor: Version, installed: Version) -> bool:
    width = len(floor.release)
    return installed.release[:width] == floor.release + (0,) * (width - len(floor.release))


def main() -> int:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    bad = 0
    for name, floor in sorted(floors(project).items()):
        try:
            installed = Version(version(name))
        except PackageNotFoundError:
            print(f"{name:45} floor {floor!s:10} NOT INSTALLED")
            bad += 1
            continue
        ok = held(floor, installed)
        bad += not ok
        print(f"{name:45} floor {floor!s:10} installed {installed!s:10} {'ok' if ok else 'FLOOR NOT TESTED'}")
    if bad:
        print(f"{bad} floor(s) not held: raise them in pyproject.toml to what resolves, with the reason")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
