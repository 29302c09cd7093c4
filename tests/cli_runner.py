"""Run the real `source-ingest` command as a subprocess, as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_SCRIPT = Path(sys.executable).with_name("source-ingest")


def command(*args: str) -> list[str]:
    if _SCRIPT.exists():
        return [str(_SCRIPT), *args]
    return [sys.executable, "-m", "ingest", *args]


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("SOURCE_INGEST_")}
    env.update(extra or {})
    return env


def run_cli(*args: str, cwd: Path, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=environment(env))


def start_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(command(*args), cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=environment(env))


def write_config(path: Path, *, database_url: str, corpus_dir: Path, feeds: list[tuple[str, str]],
                 extra: str = "", fetch: dict[str, object] | None = None,
                 schedule: dict[str, object] | None = None,
                 storage: dict[str, object] | None = None) -> Path:
    """A test configuration; `fetch`, `schedule` and `storage` override single keys of those
    tables (the archive goes beside the corpus folder unless `storage` says otherwise)."""
    feed_tables = "\n".join(
        f'[[feeds]]\nname = "{name}"\nurl = "{url}"\ninterval_seconds = 1\n'
        for name, url in feeds)
    # No pacing: the tests fetch many pages of one loopback host (the default 1 s between
    # two would make a run of 30 articles take 30 s).
    fetch_table = _toml_table({"allow_private_addresses": True, "retries": 1,
                               "backoff_seconds": 0.05, "total_timeout": 10,
                               "per_host_delay_seconds": 0, **(fetch or {})})
    schedule_table = _toml_table({"jitter_seconds": 0, "check_every_seconds": 0.5,
                                  "lease_seconds": 30, **(schedule or {})})
    path.write_text(f"""
[storage]
database_url = "{database_url}"
corpus_dir = "{corpus_dir}"
{_toml_table(storage or {})}

[fetch]
{fetch_table}

[schedule]
{schedule_table}

{extra}

{feed_tables}
""", encoding="utf-8")
    return path


def _toml_table(values: dict[str, object]) -> str:
    def literal(value: object) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return repr(value)

    return "\n".join(f"{key} = {literal(value)}" for key, value in values.items())
