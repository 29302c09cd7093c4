"""`source-ingest articles`: what became of each article, without SQL."""

from __future__ import annotations

import json
import shutil

import click

from ingest.console.cli_support import EXIT_CONFIG, cli_settings, fail, opened_index
from ingest.console.entry_listing import (
    ListingError,
    check_state,
    fate_as_json,
    parse_since,
    render_fate,
)
from storage.entry_fates import LISTED_STATES, EntryQuery


@click.command()
@click.option("--feed", "feed_names", multiple=True, metavar="NAME",
              help="Only this feed's entries (repeatable).")
@click.option("--state", type=click.Choice(LISTED_STATES), default=None,
              help="Only entries in this state (failed includes retrying and gave_up).")
@click.option("--since", default=None, metavar="DATE",
              help="Only entries settled since DATE (YYYY-MM-DD, UTC) or an ISO time.")
@click.option("--search", "words", default=None, metavar="WORDS",
              help="Only stored articles whose text matches WORDS (full-text search).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def articles(ctx: click.Context, feed_names: tuple[str, ...], state: str | None,
             since: str | None, words: str | None, limit: int, offset: int,
             as_json: bool) -> None:
    """List feed entries with their fate: stored, duplicate, filtered, failed (with the
    kind and reason), given up; the most recent first."""
    settings = cli_settings(ctx)
    try:
        query = EntryQuery(feeds=feed_names, state=check_state(state),
                           since=parse_since(since), offset=offset, limit=limit)
    except ListingError as exc:
        fail(str(exc), EXIT_CONFIG)
        return
    with opened_index(settings) as index:
        if words:
            query = EntryQuery(feeds=query.feeds, state=query.state, since=query.since,
                               sequences=tuple(index.search_articles(words)),
                               offset=offset, limit=limit)
        fates = index.entry_fates(query, settings.schedule.max_entry_attempts)
    if as_json:
        for fate in fates:
            click.echo(json.dumps(fate_as_json(fate), ensure_ascii=False))
        return
    width = max(80, shutil.get_terminal_size().columns)
    for fate in fates:
        for line in render_fate(fate, width):
            click.echo(line)
    more = " (more with --offset)" if len(fates) == limit else ""
    click.echo(f"{len(fates)} entries{more}")
