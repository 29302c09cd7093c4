"""Log lines: JSON off a terminal, and secrets never printed."""

from __future__ import annotations

import io
import json
import logging

from ingest.console.logs import configure_logging, redact_secrets
from storage.database import redact_database_url


def test_database_password_is_redacted_everywhere() -> None:
    url = "postgresql+psycopg://ingest:hunter2@db.internal:5432/corpus"
    assert "hunter2" not in redact_secrets(f"cannot connect to {url}")
    assert "hunter2" not in redact_database_url(url)
    assert "db.internal" in redact_database_url(url)


def test_bearer_tokens_are_redacted() -> None:
    assert "tok123" not in redact_secrets("Authorization: Bearer tok123")


def test_each_kind_of_secret_is_redacted_and_other_text_is_kept() -> None:
    assert redact_secrets("AUTHORIZATION=basic c2VjcmV0") == "AUTHORIZATION=basic ***"
    assert redact_secrets("sent bearer abc.def") == "sent bearer ***"
    assert redact_secrets("https://x.example/login?user=a&Password=pw1&x=2") == \
        "https://x.example/login?user=a&Password=***&x=2"
    assert redact_secrets("ftp://anna:pw2@files.example/") == "ftp://anna:***@files.example/"
    assert redact_secrets("feed polled: 12 entries from https://news.example/rss") == \
        "feed polled: 12 entries from https://news.example/rss"


def test_json_lines_when_not_a_terminal_with_event_fields() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, json_lines=None)
    logging.getLogger("source_ingest.test").info(
        "feed failed", extra={"event": "feed_failed", "feed": "world",
                              "detail": "postgresql://u:pw@h/db refused"})
    record = json.loads(stream.getvalue().strip())
    assert record["event"] == "feed_failed" and record["feed"] == "world"
    assert "pw@" not in record["detail"]
