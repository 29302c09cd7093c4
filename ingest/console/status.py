"""The job status log as users read it: recent runs and per-feed health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from config.settings import Settings
from ingest.console.feed_health import FeedVerdict, feed_verdict
from ingest.console.logs import redact_secrets
from ingest.records import FeedHealth, RunState, RunTrigger
from storage.database import utcnow
from storage.entry_fates import ArticleCounts, FeedArticleHealth
from storage.feeds import FeedState
from storage.index import CorpusIndex
from storage.rewrite import ArticleEvent
from storage.runs import RunRow


@dataclass(frozen=True)
class StatusReport:
    generated_at: datetime
    articles_stored: int
    runs: tuple[RunRow, ...]
    feeds: tuple[FeedState, ...]
    configured: frozenset[str]
    articles: dict[str, FeedArticleHealth]  # per feed: stored and failed, last run and 24 h
    disabled: frozenset[str] = frozenset()

    def verdict(self, feed: FeedState) -> FeedVerdict:
        return feed_verdict(feed, self.articles.get(feed.name),
                            enabled=feed.name not in self.disabled)

    def headline(self) -> str:
        """How the feeds are, in one line: what the page's header badge says too."""
        counts: dict[FeedHealth, int] = {}
        for feed in self.feeds:
            health = self.verdict(feed).health
            counts[health] = counts.get(health, 0) + 1
        if not counts:
            return "no feeds polled yet"
        order = [FeedHealth.FAILING, FeedHealth.SUSPENDED, FeedHealth.DISABLED,
                 FeedHealth.BUSY, FeedHealth.NEW, FeedHealth.OK]
        order += [health for health in FeedHealth if health not in order]
        return ", ".join(f"{counts[health]} {health}" for health in order if health in counts)
    # What `reextract` runs did to stored articles (rewrites, new duplicates), by run.
    article_events: tuple[ArticleEvent, ...] = ()


def build_status(settings: Settings, index: CorpusIndex, runs: int) -> StatusReport:
    configured = frozenset(feed.name for feed in settings.feeds)
    states = tuple(state for state in index.feed_states() if state.name in configured)
    recent = tuple(index.recent_runs(runs))
    events = index.article_events([run.id for run in recent
                                   if run.trigger == RunTrigger.REEXTRACT])
    return StatusReport(generated_at=utcnow(), articles_stored=index.article_count(),
                        runs=recent, feeds=states, configured=configured,
                        article_events=tuple(events), articles=index.feed_article_health(),
                        disabled=frozenset(feed.name for feed in settings.feeds
                                           if not feed.enabled))


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
        "feeds": [{
            "name": feed.name, "url": redact_secrets(feed.url),
            "health": report.verdict(feed).health, "health_reason": report.verdict(feed).reason,
            "hint": report.verdict(feed).hint or None, "articles": _articles_json(report, feed),
            "last_poll_at": _iso(feed.last_poll_at),
            "last_success_at": _iso(feed.last_success_at),
            "consecutive_failures": feed.consecutive_failures,
            "next_poll_at": None if feed.suspended else _iso(feed.next_poll_at),
            "suspended": feed.suspended, "last_error_kind": feed.last_error_kind,
            "last_error": feed.last_error, "articles_stored": feed.articles_stored,
            "extraction_degraded": feed.extraction_degraded,
        } for feed in report.feeds],
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
    if not report.feeds:
        lines.append("  no feeds polled yet")
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
    return "\n".join(lines)
