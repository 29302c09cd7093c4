"""The summary a manual run prints when it ends (`fetch`, `backfill`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest.console.feed_health import not_polled_lines
from ingest.records import FailureKind

if TYPE_CHECKING:
    from ingest.run.pipeline import RunSummary


def render_summary(summary: RunSummary) -> str:
    c = summary.counts
    lines = [
        f"run {summary.run_id} {summary.state} in {summary.duration_seconds:.1f}s",
        f"  feeds polled        {c.feeds_polled}",
        f"  entries seen        {c.entries_seen}",
        f"  articles stored     {c.articles_stored}",
        f"  duplicates skipped  {c.duplicates} (+{c.near_duplicates} near duplicates)",
        f"  filtered out        {c.filtered}",
        f"  failures            {c.failures}",
    ]
    for kind, count in sorted(summary.failures_by_kind.items()):
        explanation = FailureKind(kind).explanation if kind in FailureKind._value2member_map_ \
            else ""
        lines.append(f"    {kind:26} {count:4d}  {explanation}")
    lines += not_polled_lines(summary.not_polled)
    return "\n".join(lines)
