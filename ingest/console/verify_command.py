"""`source-ingest verify [--repair]`: the corpus folder and the index agree, or what to do."""

from __future__ import annotations

import sys

import click

from ingest.console.cli_support import EXIT_PROBLEMS, cli_settings, opened_index
from storage.database import utcnow

# What to do about each kind of problem; `--repair` does the safe ones itself.
ADVICE = {
    "temporary_file": "left by an interrupted write (the article is fetched again): "
                      "`verify --repair` removes it",
    "unfinished_write": "an interrupted write: the next fetch or service start removes it, "
                        "or `verify --repair` (once its writer is gone)",
    "orphan_file": "a corpus file the index does not know: `verify --repair` (or "
                   "`source-ingest reindex`) adds it from the file",
    "missing_file": "the file is gone: restore it from a backup (its number stays taken)",
    "hash_mismatch": "the file was changed after it was stored: restore it from a backup",
    "date_mismatch": "the date header was changed after it was stored: restore the file "
                     "from a backup",
    "bad_format": "not a readable corpus file (not UTF-8?): restore it from a backup",
    "name_mismatch": "rename the file to the name the index has for it",
}
REPAIRED_BY_REPAIR = frozenset({"temporary_file", "unfinished_write", "orphan_file"})


@click.command()
@click.option("--repair", is_flag=True,
              help="Do the safe repairs: remove temporary files and unfinished writes of "
                   "writers that are gone, and add index rows for intact files the index "
                   "does not know.")
@click.pass_context
def verify(ctx: click.Context, repair: bool) -> None:
    """Check that the corpus folder and the index agree; say what to do about each
    problem."""
    from storage.recovery import new_writer_identity, recover_interrupted_writes
    from storage.verify import verify_corpus

    settings = cli_settings(ctx)
    corpus_dir = settings.storage.corpus_dir
    with opened_index(settings) as index:
        if repair:
            from ingest.run.reindex import reindex_corpus

            recovered = recover_interrupted_writes(index, corpus_dir, new_writer_identity(),
                                                   utcnow(), settings.schedule.lease_seconds)
            added = reindex_corpus(index, corpus_dir, archive_dir=settings.storage.archive_path
                                   if settings.storage.archive else None)
            click.echo(f"repaired: {recovered.rows_removed} unfinished write(s) and "
                       f"{recovered.files_removed} temporary file(s) removed, {added.added} "
                       f"file(s) added to the index")
        report = verify_corpus(index, corpus_dir, settings.storage.archive_path)
    for problem in report.problems:
        click.echo(f"{problem.kind}: {problem.file_name}: {problem.detail}")
        advice = ADVICE.get(problem.kind)
        if advice:
            click.echo(f"    what to do: {advice}")
    verdict = "OK" if report.ok else f"{len(report.problems)} problem(s)"
    click.echo(f"checked {report.articles_checked} index rows and {report.files_seen} files "
               f"in {corpus_dir}: {verdict}")
    if not repair and any(problem.kind in REPAIRED_BY_REPAIR for problem in report.problems):
        click.echo("`source-ingest verify --repair` fixes the ones it can safely")
    sys.exit(0 if report.ok else EXIT_PROBLEMS)
