"""What `source-ingest reextract` shows: a progress bar, then a summary (worst first)."""

from __future__ import annotations

import time
from collections import Counter
from typing import TextIO

from ingest.run.reextract import ArticleResult, Outcome, ReextractSummary


class ReextractProgress:
    """One redrawn line on a terminal: articles done of the total, and what became of them."""

    def __init__(self, stream: TextIO, *, interactive: bool) -> None:
        self._stream = stream
        self._interactive = interactive
        self._total = 0
        self._outcomes: Counter[Outcome] = Counter()
        self._last_draw = 0.0

    def started(self, total: int) -> None:
        self._total = total
        self._draw(force=True)

    def article_done(self, result: ArticleResult) -> None:
        self._outcomes[result.outcome] += 1
        self._draw(force=sum(self._outcomes.values()) == self._total)

    def close(self) -> None:
        if self._interactive and self._total:
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self, force: bool = False) -> None:
        if not self._interactive:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        done = sum(self._outcomes.values())
        width = 24
        filled = int(width * done / self._total) if self._total else width
        counts = ", ".join(f"{outcome.value} {self._outcomes[outcome]}"
                           for outcome in Outcome if self._outcomes[outcome])
        self._stream.write(f"\r[{'#' * filled}{'-' * (width - filled)}] {done}/{self._total} "
                           f"{counts}"[:100].ljust(60))
        self._stream.flush()


def render_reextract_summary(summary: ReextractSummary, *, dry_run: bool,
                             limit: int = 50) -> str:
    verb = "would be rewritten" if dry_run else "rewritten"
    lines = [
        f"re-extraction {'(dry run) ' if dry_run else ''}"
        f"{'' if summary.run_id is None else f'run {summary.run_id} '}"
        f"in {summary.seconds:.1f}s",
        f"  articles checked  {len(summary.results)}",
        f"  unchanged         {summary.count(Outcome.UNCHANGED)}",
        f"  changed           {summary.count(Outcome.CHANGED)} ({verb})",
        f"  now empty         {summary.count(Outcome.NOW_EMPTY)} (old text kept)",
        f"  now duplicates    {summary.count(Outcome.DUPLICATE)} (reported, not merged)",
    ]
    if summary.count(Outcome.RECOVERED) or summary.count(Outcome.STILL_EMPTY):
        lines.append(f"  recovered         {summary.count(Outcome.RECOVERED)} (failed pages that "
                     f"give text now{'' if summary.run_id is None else ', stored'})")
        lines.append(f"  still empty       {summary.count(Outcome.STILL_EMPTY)} (failed pages)")
    if summary.count(Outcome.FILTERED):
        lines.append(f"  filtered          {summary.count(Outcome.FILTERED)} (recovered text the "
                     "topic filters reject)")
    if summary.count(Outcome.UNREADABLE):
        lines.append(f"  unreadable        {summary.count(Outcome.UNREADABLE)}")
    worst = summary.worst_first()
    if worst:
        lines.append("")
        lines.append("  similarity  sequence  feed                  file")
        for result in worst[:limit]:
            target = result.new_file or result.old_file
            note = f" (duplicate of {result.duplicate_of})" if result.duplicate_of is not None \
                else ""
            lines.append(f"  {result.similarity or 0.0:10.3f}  {result.sequence:8d}  "
                         f"{result.feed:20.20}  {target}{note}")
        if len(worst) > limit:
            lines.append(f"  ... and {len(worst) - limit} more")
    for result in summary.results:
        if result.outcome is Outcome.RECOVERED:
            lines.append(f"  recovered: {result.old_file} -> {result.new_file or '(dry run)'}")
        if result.outcome in (Outcome.NOW_EMPTY, Outcome.UNREADABLE):
            lines.append(f"  {result.outcome.value}: {result.old_file}: {result.detail}")
    return "\n".join(lines)
