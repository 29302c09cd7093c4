"""The job status log as users read it: recent runs and per-feed health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from config.settings import Settings
from ingest.console.feed_health import FeedVerdict, decide_health, feed_verdict
from ingest.console.logs import redact_secrets
from ingest.records import FeedHealth, RunState, RunTrigger
from storage.database import utcnow
from storage.entry_fates import ArticleCounts, FeedArticleHealth
from storage.feeds import FeedState
from storage.index import CorpusIndex
from storage.rewrite import ArticleEvent
from storage.runs import RunRow

# How the headline lists the healths, and the order of the feeds a status read returns: what
# needs attention first.
_FIRST = (FeedHealth.FAILING, FeedHealth.SUSPENDED, FeedHealth.DISABLED, FeedHealth.BUSY,
          FeedHealth.NEW, FeedHealth.OK)
HEALTH_ORDER = (*_FIRST, *(health for health in FeedHealth if health not in _FIRST))
FEED_PAGE_DEFAULT = 100
FEED_PAGE_MAX = 1000


@dataclass(frozen=True)
class FeedPage:
    """Which feeds' rows a status read returns: `limit` of them (None: all) from `offset`, in
    HEALTH_ORDER then by name, only those of `health` (empty: any) or the feed `name`."""

    limit: int | None = FEED_PAGE_DEFAULT
    offset: int = 0
    health: frozenset[FeedHealth] = frozenset()
    name: str | None = None

    def wants(self, health: FeedHealth) -> bool:
        return not self.health or health in self.health


def parse_health_filter(text: str) -> frozenset[FeedHealth]:
    """`failing,suspended` as healths; ValueError naming the unknown one."""
    healths = set()
    for part in text.split(","):
        try:
            healths.add(FeedHealth(part.strip()))
        except ValueError:
            raise ValueError(f"unknown health {part.strip()!r} (one of "
                             f"{', '.join(HEALTH_ORDER)}, comma-separated)") from None
    return frozenset(healths)


@dataclass(frozen=True)
class StatusReport:
    generated_at: datetime
    articles_stored: int
    runs: tuple[RunRow, ...]
    feeds: tuple[FeedState, ...]  # the page asked for (FeedPage), in its order
    configured: frozenset[str]
    articles: dict[str, FeedArticleHealth]  # per feed of the page: last run and 24 h
    feeds_by_health: dict[FeedHealth, int]  # every configured feed the index knows
    feeds_matching: int  # of those, how many the page's filter (health, name) keeps
    feeds_offset: int = 0
    disabled: frozenset[str] = frozenset()
    # What `reextract` runs did to stored articles (rewrites, new duplicates), by run.
    article_events: tuple[ArticleEvent, ...] = ()

    @property
    def feeds_total(self) -> int:
        return sum(self.feeds_by_health.values())

    def verdict(self, feed: FeedState) -> FeedVerdict:
        return feed_verdict(feed, self.articles.get(feed.name),
                            enabled=feed.name not in self.disabled)

    def headline(self) -> str:
        """How the feeds are, in one line: what the page's header badge says too."""
        counts = self.feeds_by_health
        if not self.feeds_total:
            return "no feeds polled yet"
        return ", ".join(f"{counts[health]} {health}" for health in HEALTH_ORDER
                         if counts.get(health))


def feeds_by_health(settings: Settings, index: CorpusIndex) -> dict[FeedHealth, list[str]]:
    """The configured feeds' names by health, each list by name: from one read of the few
    columns health is decided from and one pass over the feeds' last runs."""
    configured = frozenset(feed.name for feed in settings.feeds)
    disabled = frozenset(feed.name for feed in settings.feeds if not feed.enabled)
    failures = index.last_run_failures()
    by_health: dict[FeedHealth, list[str]] = {health: [] for health in HEALTH_ORDER}
    for facts in sorted(index.feed_health_facts(), key=lambda facts: facts.name):
        if facts.name in configured:
            by_health[decide_health(facts, failures.get(facts.name),
                                    enabled=facts.name not in disabled)].append(facts.name)
    return by_health


def build_status(settings: Settings, index: CorpusIndex, runs: int,
                 page: FeedPage = FeedPage()) -> StatusReport:
    """The status with every feed counted by health and one page of feed rows.

    Every feed's health comes from one read of the few columns it is decided from and one
    pass over the feeds' last runs; the full rows and the article counts are read for the
    page only, so the work for the page does not grow with the feeds configured.
    """
    configured = frozenset(feed.name for feed in settings.feeds)
    disabled = frozenset(feed.name for feed in settings.feeds if not feed.enabled)
    by_health = feeds_by_health(settings, index)
    matching = [name for health in HEALTH_ORDER if page.wants(health)
                for name in by_health[health] if page.name in (None, name)]
    shown = matching[page.offset:None if page.limit is None else page.offset + page.limit]
    states = index.feed_states_named(shown) if shown else {}
    recent = tuple(index.recent_runs(runs))
    events = index.article_events([run.id for run in recent
                                   if run.trigger == RunTrigger.REEXTRACT])
    return StatusReport(
        generated_at=utcnow(), articles_stored=index.article_count(), runs=recent,
        feeds=tuple(states[name] for name in shown if name in states), configured=configured,
        articles=index.feed_article_health(feeds=shown) if shown else {},
        feeds_by_health={health: len(names) for health, names in by_health.items()},
        feeds_matching=len(matching), feeds_offset=page.offset, disabled=disabled,
        article_events=tuple(events))


def _counts_json(counts: ArticleCounts) -> dict[str, Any]:
    return {"stored": counts.stored, "failed": counts.failed,
            "failures_by_kind": dict(sorted(counts.failures_by_kind.items()))}


def _articles_json(report: StatusReport, feed: FeedState) -> dict[str, Any]:
    health = report.articles.get(feed.name) or FeedArticleHealth(ArticleCounts(),
                                                                  ArticleCounts())
    return {"last_run": _counts_json(health.last_run), "last_24h": _counts_json(health.last_day)}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def status_as_json(report: StatusReport) -> dict[str, Any]:
    return {
        "generated_at": _iso(report.generated_at),
        "articles_stored": report.articles_stored,
        "feeds_summary": report.headline(),
        "feeds_total": report.feeds_total,
        "feeds_matching": report.feeds_matching,
        "feeds_offset": report.feeds_offset,
        "feeds_by_health": {str(health): count
                            for health, count in report.feeds_by_health.items()},
        "runs": [{
            "id": run.id, "trigger": run.trigger, "state": run.state,
            "started_at": _iso(run.started_at), "finished_at": _iso(run.finished_at),
            "duration_seconds": None if run.duration_seconds is None
            else round(run.duration_seconds, 3),
            **run.counts.__dict__,
            "failures_by_kind": run.failures_by_kind,
            **({"article_events": [{
                "sequence": event.sequence, "feed": event.feed, "kind": event.kind,
                "old_file": event.old_file, "new_file": event.new_file,
                "similarity": event.similarity, "duplicate_of": event.duplicate_of,
                "at": _iso(event.at)} for event in report.article_events
                if event.run_id == run.id]} if run.trigger == RunTrigger.REEXTRACT else {}),
        } for run in report.runs],
        "feeds": [_feed_json(report, feed) for feed in report.feeds],
    }


def _feed_json(report: StatusReport, feed: FeedState) -> dict[str, Any]:
    verdict = report.verdict(feed)
    return {
        "name": feed.name, "url": redact_secrets(feed.url),
        "health": verdict.health, "health_reason": verdict.reason,
        "hint": verdict.hint or None, "articles": _articles_json(report, feed),
        "last_poll_at": _iso(feed.last_poll_at),
        "last_success_at": _iso(feed.last_success_at),
        "consecutive_failures": feed.consecutive_failures,
        "next_poll_at": None if feed.suspended else _iso(feed.next_poll_at),
        "suspended": feed.suspended, "last_error_kind": feed.last_error_kind,
        "last_error": feed.last_error, "articles_stored": feed.articles_stored,
        "extraction_degraded": feed.extraction_degraded,
    }


def _ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    seconds = (now - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 90:
        text = f"{seconds:.0f}s"
    elif seconds < 5400:
        text = f"{seconds / 60:.0f}m"
    elif seconds < 172800:
        text = f"{seconds / 3600:.0f}h"
    else:
        text = f"{seconds / 86400:.0f}d"
    return f"in {text}" if future else f"{text} ago"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render_status(report: StatusReport, width: int = 80) -> str:
    """The status as plain text that fits in `width` columns."""
    now = report.generated_at
    lines = [f"source-ingest status: {report.articles_stored} articles stored; feeds: "
             f"{report.headline()}", ""]
    lines.append("Recent runs")
    if not report.runs:
        lines.append("  no runs yet")
    else:
        lines.append("   id trigger  started           secs  feeds entries stored dup  fail")
    for run in report.runs:
        started = run.started_at.astimezone().strftime("%Y-%m-%d %H:%M")
        secs = "-" if run.duration_seconds is None else f"{run.duration_seconds:.1f}"
        c = run.counts
        lines.append(_clip(
            f"{run.id:5d} {run.trigger:8} {started} {secs:>6} {c.feeds_polled:6d} "
            f"{c.entries_seen:7d} {c.articles_stored:6d} {c.duplicates + c.near_duplicates:4d} "
            f"{c.failures:5d}", width))
        extra = []
        if run.state != RunState.FINISHED:
            extra.append(run.state)
        if c.filtered:
            extra.append(f"filtered {c.filtered}")
        if run.failures_by_kind:
            extra.append(", ".join(f"{kind} {count}"
                                   for kind, count in sorted(run.failures_by_kind.items())))
        if extra:
            lines.append(_clip("        " + "; ".join(extra), width))
    lines += ["", "Feeds"]
    if not report.feeds_total:
        lines.append("  no feeds polled yet")
    elif not report.feeds_matching:
        lines.append("  no feed has that health")
    for feed in report.feeds:
        verdict = report.verdict(feed)
        next_poll = "suspended" if feed.suspended else _ago(feed.next_poll_at, now)
        lines.append(_clip(
            f"  {feed.name:20} {verdict.health:9} polled {_ago(feed.last_poll_at, now):9} "
            f"ok {_ago(feed.last_success_at, now):9} next {next_poll}", width))
        articles = report.articles.get(feed.name)
        details = [f"{feed.articles_stored} stored"]
        if articles is not None:
            last, day = articles.last_run, articles.last_day
            details.append(f"last run {last.stored} stored, {last.failed} failed")
            details.append(f"24 h {day.stored} stored, {day.failed} failed")
        if feed.consecutive_failures:
            details.append(f"{feed.consecutive_failures} failures in a row")
        if feed.last_error_kind:
            details.append(f"{feed.last_error_kind}: {feed.last_error or ''}")
        lines.append(_clip("      " + "; ".join(details), width))
        if feed.extraction_degraded:
            lines.append(_clip(f"      extraction degraded: {feed.extraction_degraded}", width))
        if verdict.health is FeedHealth.FAILING and not feed.consecutive_failures:
            lines.append(_clip(f"      {verdict.reason}", width))
        if verdict.hint:
            lines.append(_clip(f"      {verdict.hint}", width))
    paging = _paging_line(report)
    if paging:
        lines.append(_clip(paging, width))
    return "\n".join(lines)


def _paging_line(report: StatusReport) -> str | None:
    """Which of the feeds are shown, when not all of them are."""
    shown, offset, matching = len(report.feeds), report.feeds_offset, report.feeds_matching
    if offset == 0 and shown == matching:
        return None
    which = f"{offset + 1:,}-{offset + shown:,}" if shown else "none"
    of = f"{matching:,} feeds" + (f" ({report.feeds_total:,} in all)"
                                   if matching != report.feeds_total else "")
    return (f"  showing {which} of {of}, the troubled first; "
            f"more with --feeds N, --offset N, --health failing,suspended")
