"""Publication dates as the publisher wrote them, from feeds and page metadata."""

from __future__ import annotations

from datetime import date

import pytest

from ingest.extract.dates import parse_publisher_date

TODAY = date(2024, 10, 1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # ISO 8601: the calendar date as written, whatever the offset.
        ("2024-09-03T23:30:00-04:00", date(2024, 9, 3)),
        ("2024-09-03T01:30:00+09:00", date(2024, 9, 3)),
        ("2024-09-03T04:03:19Z", date(2024, 9, 3)),
        ("2024-09-03 04:03:19+00:00", date(2024, 9, 3)),
        ("2024-09-03", date(2024, 9, 3)),
        ("20240903T120000Z", date(2024, 9, 3)),
        ("2024/09/03 10:00", date(2024, 9, 3)),
        # RFC 822 / 1123 as RSS writes it; also without weekday and with a two-digit year.
        ("Tue, 03 Sep 2024 23:30:00 -0400", date(2024, 9, 3)),
        ("Tue, 03 Sep 2024 23:30:00 GMT", date(2024, 9, 3)),
        ("3 Sep 2024 08:00 +0200", date(2024, 9, 3)),
        ("Mon, 05 Feb 24 10:00:00 GMT", date(2024, 2, 5)),
        # Written dates in several languages.
        ("September 3, 2024", date(2024, 9, 3)),
        ("Sept. 3, 2024, 5:02 PM EDT", date(2024, 9, 3)),
        ("3 September 2024", date(2024, 9, 3)),
        ("le 3 septembre 2024 à 07:19", date(2024, 9, 3)),
        ("3. März 2024", date(2024, 3, 3)),
        ("15 de octubre de 2024", date(2024, 10, 15)),
        ("2024年9月3日 10時", date(2024, 9, 3)),
        # Day.month.year with dots is European order.
        ("03.09.2024", date(2024, 9, 3)),
        # Slashes: unambiguous only when one part cannot be a month.
        ("19/03/2024", date(2024, 3, 19)),
        ("3/19/2024", date(2024, 3, 19)),
    ],
)
def test_publisher_calendar_date_is_read_from_common_forms(value: str, expected: date) -> None:
    assert parse_publisher_date(value, today=TODAY) == expected


def test_date_keeps_publisher_offset_not_utc() -> None:
    # 23:30 in New York is already the 4th in UTC; the publisher's day is the 3rd.
    assert parse_publisher_date("2024-09-03T23:30:00-04:00", today=TODAY) == date(2024, 9, 3)
    assert parse_publisher_date("Tue, 03 Sep 2024 23:30:00 -0400", today=TODAY) == date(2024, 9, 3)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "yesterday",
        "03/04/2024",  # 3 April or March 4? No date rather than a wrong one.
        "0001-01-01T00:00:00Z",  # CMS placeholder
        "Thu, 01 Jan 1970 00:00:00 GMT",  # epoch placeholder
        "2031-01-01",  # years ahead: a typo or a placeholder
        "2024-02-30",  # no such day
        "Maybe 5 2024",  # not a month name
    ],
)
def test_no_date_when_value_is_missing_ambiguous_or_implausible(value: str) -> None:
    assert parse_publisher_date(value, today=TODAY) is None


def test_next_year_is_still_plausible() -> None:
    # Scheduled posts and time zones ahead of ours can be dated into next year on 31 December.
    assert parse_publisher_date("2025-01-01", today=date(2024, 12, 31)) == date(2025, 1, 1)
    assert parse_publisher_date("2026-01-01", today=date(2024, 12, 31)) is None
