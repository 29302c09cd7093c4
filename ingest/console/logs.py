"""One line per event on stderr: JSON when not a terminal, plain text on a terminal.

Every record passes through `redact_secrets`, so a password in a database URL or a bearer
token never reaches the log whatever a message or exception contains.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)))
# Every repetition is bounded: a 300 KB link ("a.a.a...") made the unbounded scheme pattern
# try every start against the whole rest of the line, 82 s on the event loop. A scheme is
# short, and user information longer than 256 characters is no credential worth hiding.
_URL_PASSWORD = re.compile(
    r"(\b[a-zA-Z][a-zA-Z0-9+.-]{0,31}://[^:/@\s]{0,256}:)[^@\s]{1,256}@")
_AUTHORIZATION = re.compile(
    r"(?i)(authorization[\"']?\s{0,16}[:=]\s{0,16}[\"']?(?:bearer\s{1,16}|basic\s{1,16})?)"
    r"[^\s\"',]+")
_BEARER = re.compile(r"(?i)(bearer\s{1,16})(?!\*\*\*)[^\s\"',]+")
_PASSWORD_PARAM = re.compile(r"(?i)(password=)[^&\s]+")


# Every pattern below needs one of these; most log values have none, and one scan is a
# quarter of four (every string of every record passes through here).
_MAYBE_SECRET = re.compile(r"(?i)@|bearer|authorization|password=")


def redact_secrets(text: str) -> str:
    if _MAYBE_SECRET.search(text) is None:
        return text
    text = _URL_PASSWORD.sub(r"\1***@", text)
    text = _AUTHORIZATION.sub(r"\1***", text)
    text = _BEARER.sub(r"\1***", text)
    return _PASSWORD_PARAM.sub(r"\1***", text)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items()
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")}


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_secrets(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact_secrets(record.getMessage()),
        }
        payload.update({key: _redact_value(value) for key, value in _extras(record).items()})
        if record.exc_info:
            payload["exception"] = redact_secrets(self.formatException(record.exc_info))
        return json.dumps(payload, default=str, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    # Erase the terminal line first, so a progress bar being redrawn there is not mixed in.
    _CLEAR_LINE = "\r\x1b[2K"

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extras = " ".join(f"{key}={_redact_value(value)}" for key, value in _extras(record).items()
                          if key != "event")
        line = (f"{self._CLEAR_LINE}{stamp} {record.levelname.lower():7} "
                f"{redact_secrets(record.getMessage())}")
        if extras:
            line = f"{line}  {extras}"
        if record.exc_info:
            line = f"{line}\n{redact_secrets(self.formatException(record.exc_info))}"
        return line


def configure_logging(stream: TextIO | None = None, level: int = logging.INFO,
                      json_lines: bool | None = None) -> None:
    """Send source-ingest's log records to stderr, one line each."""
    stream = stream or sys.stderr
    if json_lines is None:
        json_lines = not stream.isatty()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if json_lines else PlainFormatter())
    root = logging.getLogger("source_ingest")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # APScheduler's and aiohttp's own warnings are useful for operators, in the same format.
    for library in ("apscheduler", "aiohttp"):
        library_log = logging.getLogger(library)
        library_log.handlers[:] = [handler]
        library_log.setLevel(logging.WARNING)
        library_log.propagate = False
