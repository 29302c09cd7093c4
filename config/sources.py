"""Reading TOML files, and sources kept in files of their own (`include`).

With 100,000 `[[feeds]]` an operator does not edit one huge file: the main configuration can
name other files and folders holding feeds (`include = ["sources/"]`), each with `[[feeds]]`
tables only, and errors name the file they are in (`sources/de.toml: feeds[3].url: ...`).

tomli, not the standard library's tomllib: the same parser (tomllib is tomli 1.2), compiled
with mypyc in its wheels, reads a configuration of 100,000 feeds in 0.95 s against tomllib's
2.0 s (bench/scale_sources.py's, measured on this 2-core VM), half the start-up's budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid."""


@dataclass(frozen=True)
class FeedTables:
    """The `[[feeds]]` tables of one file, and how errors name it ("" for the main file)."""

    where: str
    tables: Any


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomli.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: configuration file not found") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text") from exc
    except tomli.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def included_feeds(raw: Mapping[str, Any], config_path: Path) -> list[FeedTables]:
    """The feeds of every file `include` names: a file, or a folder (its `*.toml` files, by
    name). Relative paths are from the folder of the configuration file."""
    include = raw.get("include", [])
    if not isinstance(include, list) or not all(isinstance(item, str) and item.strip()
                                                for item in include):
        raise ConfigError("include: must be a list of file or folder paths")
    found: list[FeedTables] = []
    for index, item in enumerate(include):
        path = Path(item)
        if not path.is_absolute():
            path = config_path.parent / path
        if path.is_dir():
            files = sorted(path.glob("*.toml"))
        elif path.exists():
            files = [path]
        else:
            raise ConfigError(f"include[{index}]: {item}: no such file or folder")
        for file in files:
            table = read_toml(file)
            unknown = sorted(set(table) - {"feeds"})
            if unknown:
                raise ConfigError(f"{file}: {unknown[0]}: unknown key (an included file "
                                  f"holds [[feeds]] only)")
            found.append(FeedTables(where=f"{file}: ", tables=table.get("feeds", [])))
    return found
