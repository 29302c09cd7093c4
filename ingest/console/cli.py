"""The `source-ingest` command line."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from config.loading import environment_overrides, resolve_config_path
from config.settings import Settings
from config.sources import ConfigError
from ingest.console.articles_command import articles
from ingest.console.backfill_command import backfill
from ingest.console.cli_support import (
    EXIT_CONFIG,
    EXIT_DATABASE,
    EXIT_PROBLEMS,
    check_corpus_before_writing,
    cli_index,
    cli_settings,
    fail,
    opened_index,
)
from ingest.console.export_command import export
from ingest.console.foreground_run import run_in_foreground
from ingest.console.logs import configure_logging, redact_secrets
from ingest.console.reindex_command import reindex
from ingest.console.source_commands import discover, export_opml, import_opml
from ingest.console.status import (
    FEED_PAGE_DEFAULT,
    FeedPage,
    build_status,
    parse_health_filter,
    render_status,
    status_as_json,
)
from ingest.console.verify_command import verify
from ingest.records import FeedHealth, IngestFailure, RunTrigger
from storage.database import DatabaseError, missing_driver_error, redact_database_url, utcnow
from storage.migrate import SchemaRevision, database_revision
from storage.recovery import new_writer_identity

log = logging.getLogger("source_ingest.cli")

# `status` lists every feed up to this many configured; past it, a page of them (100,000
# feeds printed 200,000 lines).
STATUS_ALL_FEEDS_UP_TO = 200

if TYPE_CHECKING:  # the pipeline (httpx, parsers) loads only for commands that fetch
    pass


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="source-ingest", prog_name="source-ingest")
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="TOML configuration (default: $SOURCE_INGEST_CONFIG or "
                   "config/source-ingest.toml).")
@click.option("--log-level", default=None,
              type=click.Choice(["debug", "info", "warning", "error"]),
              help="Default: info; warning for `fetch` on a terminal, where the progress bar "
                   "shows the rest.")
@click.pass_context
def cli(ctx: click.Context, config: str | None, log_level: str | None) -> None:
    """Watch news feeds and turn them into a clean, deduplicated text corpus."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    if log_level is None:
        quiet = ctx.invoked_subcommand == "fetch" and sys.stderr.isatty()
        log_level = "warning" if quiet else "info"
    configure_logging(level=getattr(logging, log_level.upper()))


@cli.command()
@click.option("--http", "http_listen", default=None, is_flag=False,
              flag_value="127.0.0.1:8080", metavar="HOST:PORT",
              help="Serve the status API and page (bare --http: 127.0.0.1:8080; "
                   "default: [http] listen from the config, else off).")
@click.pass_context
def run(ctx: click.Context, http_listen: str | None) -> None:
    """Run the background service until SIGTERM/SIGINT."""
    # The language model (0.1-0.2 s) loads while the service starts: a restarted service stores
    # its first articles as soon as before (tests/end_to_end/test_crash_safety.py).
    from ingest.extract.language import warm_up_language_model
    from scheduler.service import ServiceState, serve

    warm_up_language_model()
    settings = cli_settings(ctx)
    index = cli_index(settings)
    writer = new_writer_identity()
    check_corpus_before_writing(settings, index, writer.tag)
    log.info("starting", extra={"event": "starting",
                                "database": redact_database_url(settings.storage.database_url),
                                "corpus_dir": str(settings.storage.corpus_dir),
                                "config": str(settings.source),
                                # These win over the file's keys: say so, a mounted
                                # config's [storage] would otherwise seem ignored.
                                "from_environment": environment_overrides(os.environ)})

    async def main() -> None:
        state = ServiceState(settings=settings, index=index, writer=writer)
        extra = None
        listen = http_listen or settings.http.listen
        if listen:
            from ingest.console.http_api import http_server_task, parse_listen

            extra = http_server_task(parse_listen(listen))
        await serve(state, extra)

    try:
        asyncio.run(main())
    except DatabaseError as exc:
        fail(f"database error: {exc}", EXIT_DATABASE)
    except ConfigError as exc:
        fail(f"configuration error: {exc}", EXIT_CONFIG)
    finally:
        index.close()


@cli.command()
@click.option("--feed", "feed_names", multiple=True, metavar="NAME",
              help="Fetch only this feed (repeatable). Default: every configured feed.")
@click.pass_context
def fetch(ctx: click.Context, feed_names: tuple[str, ...]) -> None:
    """Run one fetch now, in the foreground, and print a summary."""
    from ingest.run.pipeline import RunRequest

    settings = cli_settings(ctx)
    known = {feed.name for feed in settings.feeds}
    unknown = [name for name in feed_names if name not in known]
    if unknown:
        fail(f"unknown feed {', '.join(unknown)} (configured: {', '.join(sorted(known))})",
              EXIT_CONFIG)
    index = cli_index(settings)
    writer = new_writer_identity()
    check_corpus_before_writing(settings, index, writer.tag)
    request = RunRequest(trigger=RunTrigger.MANUAL, feed_names=feed_names or None,
                         due_only=False)
    summary = run_in_foreground(settings, index, request, writer)
    if summary is not None and feed_names and any(
            why is not FeedHealth.BUSY for why in summary.not_polled.values()):
        sys.exit(EXIT_PROBLEMS)  # a feed asked for by name was suspended or disabled


def _health_option(ctx: click.Context, param: click.Parameter,
                   value: str | None) -> frozenset[FeedHealth]:
    try:
        return parse_health_filter(value) if value is not None else frozenset()
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--runs", "run_count", default=10, show_default=True,
              type=click.IntRange(1, 1000), help="How many recent runs to show.")
@click.option("--feeds", "feed_count", default=None, type=click.IntRange(0),
              help=f"How many feeds to show, the troubled first (default: every feed when "
                   f"at most {STATUS_ALL_FEEDS_UP_TO} are configured, else "
                   f"{FEED_PAGE_DEFAULT}; 0: only their counts by health).")
@click.option("--offset", "feed_offset", default=0, type=click.IntRange(0),
              help="Skip this many feeds first (with --feeds: the next page).")
@click.option("--health", "health", default=None, callback=_health_option,
              help="Only feeds of these healths, comma-separated (e.g. failing,suspended).")
@click.pass_context
def status(ctx: click.Context, as_json: bool, run_count: int, feed_count: int | None,
           feed_offset: int, health: frozenset[FeedHealth]) -> None:
    """Show the job status log: recent runs and per-feed health."""
    settings = cli_settings(ctx)
    if feed_count is None and len(settings.feeds) > STATUS_ALL_FEEDS_UP_TO:
        feed_count = FEED_PAGE_DEFAULT
    with opened_index(settings) as index:
        report = build_status(settings, index, run_count,
                              FeedPage(limit=feed_count, offset=feed_offset, health=health))
    if as_json:
        click.echo(json.dumps(status_as_json(report), indent=2, ensure_ascii=False))
    else:
        import shutil

        # COLUMNS, else the terminal's width; 80 when neither is known (a pipe).
        click.echo(render_status(report, width=max(80, shutil.get_terminal_size().columns)))


@cli.command()
@click.argument("source", metavar="PATH_OR_URL", required=False)
@click.option("--url", "page_url", default=None, help="The page's address when PATH is a file.")
@click.option("--feed", "feed_name", default=None,
              help="Apply this configured feed's extraction rules.")
@click.option("--input-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="Extract every NAME.html of this folder (with --output-dir).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write NAME.txt here for each page of --input-dir.")
@click.pass_context
def extract(ctx: click.Context, source: str | None, page_url: str | None,
            feed_name: str | None, input_dir: Path | None, output_dir: Path | None) -> None:
    """Print the corpus-file text the pipeline would store for one page, or write it for
    every page of a folder (--input-dir, --output-dir)."""
    from config.loading import parse_settings
    from config.settings import FeedSettings
    from ingest.fetch.client import PageFetcher
    from ingest.fetch.decode import decode_html
    from ingest.records import FeedEntry
    from ingest.run.page_work import build_article
    from ingest.run.pipeline import PAGE_TYPES
    from storage.corpus import format_corpus_text

    path = resolve_config_path(ctx.obj["config"], os.environ)
    settings = cli_settings(ctx) if path.exists() or ctx.obj["config"] else \
        parse_settings({}, os.environ)
    feed = FeedSettings(name="extract", url="https://example.invalid/",
                        interval_seconds=900.0)
    if feed_name:
        try:
            feed = settings.feed(feed_name)
        except KeyError:
            fail(f"unknown feed {feed_name}", EXIT_CONFIG)
    if input_dir is not None or output_dir is not None:
        if input_dir is None or output_dir is None or source is not None:
            fail("--input-dir and --output-dir go together, without PATH_OR_URL", EXIT_CONFIG)
            return
        from ingest.run.batch_extract import extract_directory

        summary = extract_directory(input_dir, output_dir, feed)
        for line in summary.lines():
            click.echo(line)
        if summary.without_text:
            sys.exit(EXIT_PROBLEMS)
        return
    if source is None:
        fail("PATH_OR_URL, or --input-dir with --output-dir, is required", EXIT_CONFIG)
        return
    if Path(source).exists():
        body = Path(source).read_bytes()
        charset = None
        url = page_url or Path(source).resolve().as_uri()
    elif source.startswith(("http://", "https://")):
        async def download() -> tuple[bytes, str | None, str]:
            async with PageFetcher(settings.fetch) as fetcher:
                response = await fetcher.fetch(source, allowed_types=PAGE_TYPES)
                return response.body, response.charset, response.url

        try:
            body, charset, url = asyncio.run(download())
        except IngestFailure as failure:
            fail(f"{failure.kind.value}: {failure.detail}", EXIT_PROBLEMS)
            return
    else:
        fail(f"{source}: no such file, and not an http(s) URL", EXIT_CONFIG)
        return
    decoded = decode_html(body, charset)
    entry = FeedEntry(feed_name=feed.name, key=url, url=url, title="", summary_html="",
                      content_html="", published=None)
    try:
        article = build_article(feed, entry, decoded.text, url)
    except IngestFailure as failure:
        fail(f"{failure.kind.value}: {failure.detail}", EXIT_PROBLEMS)
        return
    click.echo(format_corpus_text(article.published, article.text), nl=False)
    if sys.stdout.isatty():
        click.echo()


@cli.command()
@click.option("--feed", "feed_names", multiple=True, metavar="NAME",
              help="Only this feed's articles (repeatable). Default: every feed.")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Only articles fetched on or after this day (YYYY-MM-DD).")
@click.option("--dry-run", is_flag=True,
              help="Change nothing: list the articles that would change, worst first.")
@click.pass_context
def reextract(ctx: click.Context, feed_names: tuple[str, ...], since: object,
              dry_run: bool) -> None:
    """Extract archived pages again with the current extractor and site rules, and rewrite
    the articles whose text changed (same sequence numbers)."""
    from datetime import datetime

    from ingest.console.reextract_report import ReextractProgress, render_reextract_summary
    from ingest.run.reextract import ReextractRequest
    from ingest.run.reextract import reextract as run_reextract

    settings = cli_settings(ctx)
    known = {feed.name for feed in settings.feeds}
    unknown = [name for name in feed_names if name not in known]
    if unknown:
        fail(f"unknown feed {', '.join(unknown)}", EXIT_CONFIG)
    request = ReextractRequest(feeds=feed_names,
                               since=since.date() if isinstance(since, datetime) else None,
                               dry_run=dry_run)
    with opened_index(settings) as index:
        progress = ReextractProgress(sys.stderr, interactive=sys.stderr.isatty())
        try:
            summary = asyncio.run(run_reextract(settings, index, request,
                                                new_writer_identity(), observer=progress))
        finally:
            progress.close()
    click.echo(render_reextract_summary(summary, dry_run=dry_run))


@cli.group()
def db() -> None:
    """Show or upgrade the index database's schema (Alembic migrations)."""


def _schema_revision(settings: Settings) -> SchemaRevision:
    from sqlalchemy.exc import SQLAlchemyError

    url = settings.storage.database_url
    try:
        return database_revision(url)
    except ModuleNotFoundError as exc:
        fail(f"database error: {missing_driver_error(url, exc)}", EXIT_DATABASE)
        raise AssertionError from exc
    except SQLAlchemyError as exc:
        fail(f"database error: cannot read {redact_database_url(url)}: "
              f"{str(getattr(exc, 'orig', None) or exc).strip().splitlines()[0]}",
              EXIT_DATABASE)
        raise AssertionError from exc


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply pending migrations now (`run` also does it at start, under a lock)."""
    settings = cli_settings(ctx)
    before = _schema_revision(settings)
    cli_index(settings).close()
    after = _schema_revision(settings)
    change = "already current" if before.current == after.current else \
        f"upgraded from {before.current or 'an empty database'}"
    click.echo(f"{redact_database_url(settings.storage.database_url)}: schema at revision "
               f"{after.current} ({change})")


@db.command("current")
@click.pass_context
def db_current(ctx: click.Context) -> None:
    """Show the schema revision; exit 1 when migrations are pending."""
    settings = cli_settings(ctx)
    revision = _schema_revision(settings)
    if revision.is_current:
        verdict = "up to date"
    else:
        verdict = f"migrations pending (latest {revision.head}): run `source-ingest db upgrade`"
    click.echo(f"{redact_database_url(settings.storage.database_url)}: schema at revision "
               f"{revision.current or 'none (empty database)'}, {verdict}")
    sys.exit(0 if revision.is_current else EXIT_PROBLEMS)


@cli.group()
def feeds() -> None:
    """List, resume, discover, import (OPML) or export (OPML) feeds."""


@feeds.command("list")
@click.pass_context
def feeds_list(ctx: click.Context) -> None:
    """List configured feeds with their health."""
    from ingest.console.feed_health import feed_health
    from ingest.records import FeedHealth

    settings = cli_settings(ctx)
    with opened_index(settings) as index:
        index.sync_feeds(settings.feeds, utcnow())
        states = {state.name: state for state in index.feed_states()}
    for feed in settings.feeds:
        state = states.get(feed.name)
        if not feed.enabled:
            health = FeedHealth.DISABLED
        else:
            health = feed_health(state) if state else FeedHealth.NEW
        # A password in a feed URL (http://user:pw@host/) is for the server, not the screen.
        click.echo(f"{feed.name:24} {health:9} {redact_secrets(feed.url)}")


@feeds.command("resume")
@click.argument("name")
@click.pass_context
def feeds_resume(ctx: click.Context, name: str) -> None:
    """Resume a suspended feed: it is polled at the next check."""
    settings = cli_settings(ctx)
    if name not in {feed.name for feed in settings.feeds}:
        fail(f"unknown feed {name}", EXIT_CONFIG)
    with opened_index(settings) as index:
        index.sync_feeds(settings.feeds, utcnow())
        index.resume_feed(name, utcnow())
    click.echo(f"{name}: resumed; it will be polled at the next check")


# Commands in their own modules (ingest/console/*_command.py).
cli.add_command(articles)
cli.add_command(reindex)
cli.add_command(export)
cli.add_command(verify)
cli.add_command(backfill)
feeds.add_command(discover)
feeds.add_command(import_opml)
feeds.add_command(export_opml)


def main() -> None:
    cli(obj={})
