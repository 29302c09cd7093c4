"""What every route of the HTTP API shares: JSON answers, errors, query parameters, and index
calls bounded in time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web

from ingest.records import FailureKind
from storage.database import DatabaseError

DATABASE_TIMEOUT_SECONDS = 5.0


async def query_index(call: Callable[[], Any]) -> Any:
    """An index call in a worker thread, bounded in time."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(call), DATABASE_TIMEOUT_SECONDS)
    except TimeoutError:
        raise DatabaseError(
            f"database did not answer within {DATABASE_TIMEOUT_SECONDS:g} s") from None


def json_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, indent=1).encode("utf-8", "replace")


def json_response(status: HTTPStatus, payload: dict[str, Any] | bytes,
                  headers: dict[str, str] | None = None) -> web.Response:
    body = payload if isinstance(payload, bytes) else json_body(payload)
    return web.Response(status=status.value, headers=headers, body=body,
                        content_type="application/json", charset="utf-8")


def error_response(status: HTTPStatus, message: str,
                   headers: dict[str, str] | None = None) -> web.Response:
    return json_response(status, {"error": message}, headers)


class HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    values = request.query.getall(name, [])
    if not values:
        return default
    try:
        value = int(values[-1])
    except ValueError:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{name}: not a whole number") from None
    if not low <= value <= high:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{name}: must be {low} to {high}")
    return value


def failure_explanation(kind: str) -> str:
    try:
        return FailureKind(kind).explanation
    except ValueError:
        return ""
