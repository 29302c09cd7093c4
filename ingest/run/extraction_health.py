"""Extraction health: whether a feed's recent articles fall well below its own baseline.

Pure functions over the signals the index keeps per article (text length, method, whether the
feed's summary was found in the text) and the entries that gave no text at all. A site that
changes its layout shows up as much shorter texts, the fallback method or `no_article_text`
where the feed's history had full stories, or summaries no longer found in the text.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from config.settings import ExtractionHealthSettings
from ingest.records import EntryOutcome, ExtractionMethod
from storage.health_rows import SignalRow
from storage.index import CorpusIndex

log = logging.getLogger("source_ingest.extraction_health")

@dataclass(frozen=True)
class ArticleSignal:
    """One settled entry of a feed, newest first: its text's signals, or no text at all."""

    text_length: int  # 0 for no text
    weak: bool  # the fallback method, or no article text
    summary_found: bool | None


def extraction_verdict(signals: Sequence[ArticleSignal],
                       settings: ExtractionHealthSettings) -> str | None:
    """The one-line reason the feed's extraction is degraded, or None when it is not.

    `signals` newest first. A feed whose recent articles all gave no text is degraded
    whatever its history: it must never show as "ok"."""
    if not settings.enabled or len(signals) < settings.recent:
        return None
    recent = signals[:settings.recent]
    history = signals[settings.recent:settings.recent + settings.baseline]
    if all(signal.text_length == 0 for signal in recent):
        return f"no article text in the last {len(recent)} articles"
    weak_recent = sum(signal.weak for signal in recent) / len(recent)
    if len(history) < settings.min_baseline:
        return None
    baseline_length = statistics.median(signal.text_length for signal in history)
    recent_length = statistics.median(signal.text_length for signal in recent)
    if baseline_length and recent_length < settings.length_ratio * baseline_length:
        return (f"the last {len(recent)} articles' median text is {recent_length:.0f} "
                f"characters against {baseline_length:.0f} before")
    weak_history = sum(signal.weak for signal in history) / len(history)
    if weak_recent >= settings.weak_share and weak_history < settings.weak_share / 2:
        return (f"{weak_recent:.0%} of the last {len(recent)} articles had no text or only "
                f"the fallback method's, against {weak_history:.0%} before")
    with_summary = [signal.summary_found for signal in history
                    if signal.summary_found is not None]
    recent_summary = [signal.summary_found for signal in recent
                      if signal.summary_found is not None]
    if len(with_summary) >= settings.min_baseline and len(recent_summary) >= 3 \
            and sum(with_summary) / len(with_summary) >= settings.summary_share \
            and not any(recent_summary):
        return (f"the feed's summary is in none of the last {len(recent)} articles, against "
                f"{sum(with_summary) / len(with_summary):.0%} before")
    return None


def _signal(row: SignalRow) -> ArticleSignal:
    if not row.stored:  # no article text
        return ArticleSignal(text_length=0, weak=True, summary_found=None)
    return ArticleSignal(text_length=row.text_length or 0,
                         weak=row.method == ExtractionMethod.FALLBACK,
                         summary_found=row.summary_found)


def health_may_change(outcomes: Sequence[EntryOutcome]) -> bool:
    """Whether a poll with these outcomes calls for judging the feed again: it stored
    articles or got no text from a page."""
    return EntryOutcome.STORED in outcomes or EntryOutcome.FAILED in outcomes


def refresh_extraction_health(index: CorpusIndex, feed: str,
                              settings: ExtractionHealthSettings) -> str | None:
    """Judge the feed's recent articles and record the verdict; logged once when the feed
    turns degraded and once when it recovers. Returns the reason, None when healthy."""
    rows = index.recent_signals(feed, settings.recent + settings.baseline)
    # Articles stored before the signals were kept have none: they make no baseline.
    known = [row for row in rows if not row.stored or row.text_length is not None]
    reason = extraction_verdict([_signal(row) for row in known], settings)
    before = index.set_extraction_degraded(feed, reason)
    if before is None and reason is not None:
        log.warning("extraction degraded", extra={
            "event": "extraction_degraded", "feed": feed, "reason": reason})
    elif before is not None and reason is None:
        log.info("extraction recovered", extra={"event": "extraction_recovered", "feed": feed})
    return reason
