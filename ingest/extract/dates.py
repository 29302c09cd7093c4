"""Publication dates as the publisher states them, read from feeds and page metadata.

The corpus is headed by the publisher's own calendar date, so a timestamp keeps the day it
was written in: "2024-09-03T23:30:00-04:00" is 2024-09-03, never shifted into UTC (which
would make it the 4th). Ambiguous forms ("03/04/2024": March or April?) give no date: a
missing date is shown as unknown, a wrong one is silently misleading.
"""

from __future__ import annotations

import re
from datetime import date
from email.utils import parsedate_tz

_EARLIEST_YEAR = 1990

# Full month names in the languages of the feeds we read. A written month is accepted when it is
# one of these or an abbreviation of one (3+ letters, "Sept.", "févr."), and nothing looser:
# "Maybe 5 2024" must not read as May.
_MONTH_NAMES: dict[str, int] = {
    name: number
    for number, names in enumerate(
        (
            "january janvier januar enero gennaio janeiro",
            "february février februar febrero febbraio fevereiro",
            "march mars märz marzo março",
            "april avril abril aprile",
            "may mai mayo maggio maio",
            "june juin juni junio giugno junho",
            "july juillet juli julio luglio julho",
            "august août agosto",
            "september septembre septiembre settembre setembro",
            "october octobre oktober octubre ottobre outubro",
            "november novembre noviembre novembro",
            "december décembre dezember diciembre dicembre dezembro",
        ),
        start=1,
    )
    for name in names.split()
}

# ISO 8601 calendar date at the start: "2024-09-03", "2024-09-03T23:30:00-04:00",
# "2024-09-03 04:03:19+00:00", "2024/09/03", "20240903T120000Z".
_ISO_DATE = re.compile(r"^(\d{4})([-/.]?)(\d{2})\2(\d{2})(?![\d])")
_ISO_DATE_LOOSE = re.compile(r"^(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?!\d)")
# "3 September 2024", "03. September 2024", "3 sept. 2024", "le 3 septembre 2024"
_DAY_MONTH_YEAR = re.compile(
    r"\b(\d{1,2})(?:st|nd|rd|th|er)?\.?\s+(?:de\s+)?([^\W\d_]{3,})\.?,?\s+(?:de\s+)?(\d{4})\b"
)
# "September 3, 2024", "Sep. 3 2024"
_MONTH_DAY_YEAR = re.compile(r"\b([^\W\d_]{3,})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b")
# "03.09.2024" with dots is day.month.year wherever it is written that way.
_DOTTED_DMY = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})\b")
# "25.04.24", "Do 25.04.24" (German bylines: weekday, day, month, two-digit year). Dots
# make it day.month.year as above; two digits are this century.
DOTTED_SHORT_DMY = re.compile(r"^(?:[^\W\d_]{2,3}\.?,?\s+)?(\d{1,2})\.(\d{1,2})\.(\d{2})(?![\d.])")
# "3/9/2024", "03-09-2024": day and month order is ambiguous unless one is > 12.
_NUMERIC_DMY = re.compile(r"^(\d{1,2})[/-](\d{1,2})[/-](\d{4})\b")
# "2024年9月3日" (Chinese, Japanese), "2024년 9월 3일" (Korean)
_CJK_DATE = re.compile(r"(\d{4})\s*[年년]\s*(\d{1,2})\s*[月월]\s*(\d{1,2})\s*[日일]")


def parse_publisher_date(value: str, *, today: date | None = None) -> date | None:
    """The calendar date written in `value`, or None when there is none or it is ambiguous.

    Handles ISO 8601 (with or without time and offset), RFC 822/1123 as used by RSS, written
    dates in common languages ("3 September 2024", "September 3, 2024", "2024年9月3日") and
    unambiguous numeric day-month-year. Years outside 1990..next year are rejected as noise.
    """
    text = value.strip()
    if not text:
        return None
    found = _parse(text)
    if found is None:
        return None
    latest_year = (today or date.today()).year + 1
    if not _EARLIEST_YEAR <= found.year <= latest_year:
        return None
    return found


def _parse(text: str) -> date | None:
    for pattern in (_ISO_DATE, _ISO_DATE_LOOSE):
        match = pattern.match(text)
        if match:
            return _make_date(match.group(1), match.group(3), match.group(4))
    rfc822 = _parse_rfc822(text)
    if rfc822 is not None:
        return rfc822
    match = _CJK_DATE.search(text)
    if match:
        return _make_date(match.group(1), match.group(2), match.group(3))
    match = _DAY_MONTH_YEAR.search(text)
    if match:
        month = _month_number(match.group(2))
        if month:
            return _make_date(match.group(3), str(month), match.group(1))
    match = _MONTH_DAY_YEAR.search(text)
    if match:
        month = _month_number(match.group(1))
        if month:
            return _make_date(match.group(3), str(month), match.group(2))
    match = _DOTTED_DMY.match(text)
    if match:
        return _make_date(match.group(3), match.group(2), match.group(1))
    match = DOTTED_SHORT_DMY.match(text)
    if match:
        return _make_date("20" + match.group(3), match.group(2), match.group(1))
    match = _NUMERIC_DMY.match(text)
    if match:
        return _parse_numeric_day_month(match.group(1), match.group(2), match.group(3))
    return None


def _parse_rfc822(text: str) -> date | None:
    # parsedate_tz returns the fields as written, before any offset is applied: exactly the
    # publisher's calendar date. It also accepts a missing weekday and two-digit years.
    if not re.match(r"^(?:[A-Za-z]{3},?\s*)?\d{1,2}\s+[A-Za-z]{3}", text):
        return None
    fields = parsedate_tz(text)
    if fields is None:
        return None
    year, month, day = fields[0], fields[1], fields[2]
    return _make_date(str(year), str(month), str(day))


def _parse_numeric_day_month(first: str, second: str, year: str) -> date | None:
    a, b = int(first), int(second)
    if a > 12 >= b:
        return _make_date(year, second, first)
    if b > 12 >= a:
        return _make_date(year, first, second)
    if a == b:
        return _make_date(year, first, second)
    return None


def _month_number(word: str) -> int | None:
    word = word.lower().rstrip(".")
    if len(word) < 3:
        return None
    found = {number for name, number in _MONTH_NAMES.items() if name.startswith(word)}
    return found.pop() if len(found) == 1 else None


def _make_date(year: str, month: str, day: str) -> date | None:
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None
