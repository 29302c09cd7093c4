"""Entries' fates as `source-ingest articles` prints them and `GET /api/entries` answers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from storage.entry_fates import LISTED_STATES, EntryFate


class ListingError(ValueError):
    """A listing option that cannot be used (an unknown state, a malformed date)."""


def parse_since(text: str | None) -> datetime | None:
    """`YYYY-MM-DD` (midnight UTC) or an ISO date and time; None when not given."""
    if not text:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ListingError(f"since: {text!r} is not a date (YYYY-MM-DD)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_state(state: str | None) -> str | None:
    if state is not None and state not in LISTED_STATES:
        raise ListingError(f"state: {state!r} is none of {', '.join(LISTED_STATES)}")
    return state


def fate_as_json(fate: EntryFate) -> dict[str, Any]:
    return {"feed": fate.feed, "url": fate.url, "state": fate.state,
            "failure_kind": fate.failure_kind, "failure_detail": fate.failure_detail,
            "attempts": fate.attempts, "sequence": fate.sequence, "title": fate.title,
            "file_name": fate.file_name, "run_id": fate.run_id, "language": fate.language,
            "method": fate.method, "text_length": fate.text_length,
            "updated_at": fate.updated_at.isoformat(timespec="seconds")}


def render_fate(fate: EntryFate, width: int) -> list[str]:
    when = fate.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")
    # The URL is never cut: it is what the line is about (a terminal wraps it instead).
    lines = [f"{when} {fate.feed:16} {fate.state:14} {fate.url or '(no link)'}"]
    if fate.failure_kind:
        detail = f"    {fate.failure_kind}: {fate.failure_detail or ''}"
        if fate.attempts > 1:
            detail += f" (attempt {fate.attempts})"
        lines.append(detail[:width])
    elif fate.file_name:
        signals = ", ".join(str(value) for value in (
            fate.language, fate.method,
            f"{fate.text_length} chars" if fate.text_length is not None else None) if value)
        lines.append(f"    {fate.file_name} {fate.title or ''}"
                     f"{f' ({signals})' if signals else ''}"[:width])
    elif fate.sequence is not None:
        lines.append(f"    of article {fate.sequence}"[:width])
    return lines
