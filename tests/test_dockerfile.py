"""The Dockerfile's install steps work in a fresh virtual environment (no Docker engine here)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_dockerfile_runs_the_service_as_non_root_with_a_volume_and_healthcheck() -> None:
    instructions = _instructions()
    keywords = dict(instructions)
    assert re.match(r"python:3\.\d+-slim", keywords["FROM"])
    assert keywords["USER"] not in {"root", "0"}
    assert "/data" in keywords["VOLUME"]
    assert "/healthz" in keywords["HEALTHCHECK"]
    assert keywords["CMD"].startswith('["source-ingest", "run"')


@pytest.mark.timeout(600)
def test_dockerfile_install_steps_work_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    context = tmp_path / "app"
    context.mkdir()
    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(environment)
    python = environment / "bin" / "python"
    for keyword, argument in _instructions():
        if keyword == "COPY":
            *sources, _target = shlex.split(argument)
            for source in sources:
                origin = REPO / source
                if origin.is_dir():
                    shutil.copytree(origin, context / source, dirs_exist_ok=True,
                                    ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy2(origin, context / source)
        elif keyword == "RUN" and "pip install" in argument:
            command = argument.replace("python -m pip", f"{python} -m pip")
            result = subprocess.run(command, shell=True, cwd=context, capture_output=True,
                                    text=True, timeout=540)
            assert result.returncode == 0, result.stderr[-3000:]
    cli = environment / "bin" / "source-ingest"
    result = subprocess.run([str(cli), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "fetch" in result.stdout
    check = subprocess.run([str(python), "-c", "import psycopg, ingest.run.pipeline"],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
