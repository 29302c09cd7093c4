"""`source-ingest reindex`: rebuild the index from the corpus files."""

from __future__ import annotations

import click

from ingest.console.cli_support import EXIT_PROBLEMS, cli_settings, opened_index


@click.command()
@click.pass_context
def reindex(ctx: click.Context) -> None:
    """Rebuild the index from the corpus files (sequence from the name, hash from the text,
    date from the header; URL, feed and title from the page archive when it has the
    article). Safe to run again or to interrupt: files already indexed are left
    alone. Run it while nothing else writes to this corpus."""
    from ingest.run.reindex import reindex_corpus

    settings = cli_settings(ctx)
    corpus_dir = settings.storage.corpus_dir
    with opened_index(settings) as index:
        archive = settings.storage.archive_path if settings.storage.archive else None
        report = reindex_corpus(index, corpus_dir, archive_dir=archive)
    for problem in report.problems:
        click.echo(f"left out: {problem}")
    click.echo(f"{corpus_dir}: {report.files_seen} files, {report.added} added to the index, "
               f"{report.already_indexed} already in it, {report.made_searchable} made "
               f"searchable, {report.from_archive} with URL and feed from the archive")
    if report.problems:
        raise SystemExit(EXIT_PROBLEMS)
