"""Hostile bodies on POST /api/fetch answer 400, never 500 with a traceback (issue 15)."""

from __future__ import annotations

import httpx
import pytest

from tests.console.test_httpapi import ServiceProcess, open_service  # noqa: F401 - fixture

DEEP = 200_000


@pytest.mark.parametrize("body", [
    b'{"feeds": ' + b"[" * DEEP + b"]" * DEEP + b"}",
    b"[" * DEEP,
    b'{"feeds": ["world"], "x": ' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}",
    b'{"feeds": [' + b"[" * 500 + b"]" * 500 + b"]}",
    b'{"feeds": ["' + "\ud800".encode("utf-8", "surrogatepass") + b'"]}',
    b'{"feeds": ["w\\ud800"]}',
    b'{"feeds": [' + b"1" * 5000 + b"]}",
    b'{"feeds": {"world": 1}}',
])
def test_a_hostile_json_body_is_a_400(open_service: ServiceProcess, body: bytes) -> None:  # noqa: F811
    answer = httpx.post(f"{open_service.base}/api/fetch", content=body[:60_000],
                        headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert "Traceback" not in answer.text
    assert httpx.get(f"{open_service.base}/healthz").status_code == 200
