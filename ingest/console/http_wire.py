"""HTTP/1.1 on asyncio streams, as small as the status API needs.

One request per connection (`Connection: close`), a request line and headers of at most
`MAX_HEADER_BYTES`, a body only with `Content-Length` and at most `MAX_BODY_BYTES`; anything else
is refused with the status that says why.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024

_REQUEST_LINE = re.compile(r"^([A-Z]{1,16}) (\S{1,4096}) HTTP/1\.[01]$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes

    def query_int(self, name: str, default: int, low: int, high: int) -> int:
        values = self.query.get(name)
        if not values:
            return default
        try:
            value = int(values[-1])
        except ValueError:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"{name}: not a whole number") from None
        if not low <= value <= high:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"{name}: must be {low} to {high}")
        return value


@dataclass(frozen=True)
class HttpResponse:
    status: HTTPStatus
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


class HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str,
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


async def read_request(reader: asyncio.StreamReader) -> HttpRequest:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                         f"request line and headers exceed {MAX_HEADER_BYTES} bytes") from None
    lines = head[:-4].decode("latin-1").split("\r\n")
    match = _REQUEST_LINE.match(lines[0])
    if match is None:
        raise HttpError(HTTPStatus.BAD_REQUEST, "malformed request line")
    method, target = match.groups()
    if not target.startswith("/"):
        raise HttpError(HTTPStatus.BAD_REQUEST, "request target must be a path")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not _HEADER_NAME.match(name):  # also refuses obsolete line folding
            raise HttpError(HTTPStatus.BAD_REQUEST, "malformed header line")
        key = name.lower()
        if key in headers and key in ("content-length", "host", "authorization"):
            raise HttpError(HTTPStatus.BAD_REQUEST, f"repeated {name} header")
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    if "transfer-encoding" in headers:
        raise HttpError(HTTPStatus.LENGTH_REQUIRED, "send the body with Content-Length")
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit() or len(length_text) > 12:
        raise HttpError(HTTPStatus.BAD_REQUEST, "malformed Content-Length")
    length = int(length_text)
    if length > MAX_BODY_BYTES:
        raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                         f"request body exceeds {MAX_BODY_BYTES} bytes")
    body = await reader.readexactly(length) if length else b""
    parts = urlsplit(target)
    return HttpRequest(method=method, path=parts.path, query=parse_qs(parts.query),
                       headers=headers, body=body)


COMMON_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def encode_response(response: HttpResponse, include_body: bool) -> bytes:
    headers = [("Content-Type", response.content_type),
               ("Content-Length", str(len(response.body))), ("Connection", "close"),
               *COMMON_HEADERS, *response.headers]
    if not any(name == "Content-Security-Policy" for name, _ in response.headers):
        headers.append(("Content-Security-Policy", API_POLICY))
    status = response.status
    head = f"HTTP/1.1 {status.value} {status.phrase}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    return head.encode("latin-1") + (response.body if include_body else b"")


def json_response(status: HTTPStatus, payload: JsonObject,
          headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    body = json.dumps(payload, ensure_ascii=False, indent=1).encode("utf-8")
    return HttpResponse(status, body, "application/json; charset=utf-8", headers)


def error_response(status: HTTPStatus, message: str,
           headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    return json_response(status, {"error": message}, headers)
