"""CI checks the lowest versions pyproject.toml allows: its list stays equal to the bounds."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_LOWER_BOUND = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?>=([0-9][0-9A-Za-z.]*)")


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_lowest_constraints_pin_every_runtime_lower_bound_of_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    bounds = {}
    for requirement in project["dependencies"]:
        match = _LOWER_BOUND.match(requirement.replace(" ", ""))
        assert match is not None, f"{requirement}: give it a lower bound (>=) that CI checks"
        bounds[_name(match.group(1))] = match.group(2)
    pinned = {}
    for line in (REPO / ".ci" / "lowest-constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pinned[_name(name)] = version.strip()
    # 1.3 and 1.3.0 are the same lower bound.
    assert {name: tuple(int(p) for p in v.split(".")) + (0,) * (3 - len(v.split(".")))
            for name, v in bounds.items()} == \
        {name: tuple(int(p) for p in v.split(".")) + (0,) * (3 - len(v.split(".")))
         for name, v in pinned.items()}
