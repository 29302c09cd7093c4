"""`feeds discover`, `feeds import` and `feeds export`: sources found or read elsewhere, as
`[[feeds]]` blocks to paste into the configuration, and the configured feeds as OPML.

Imports of the fetch and parse stages are inside the commands: `source-ingest` starts for
every command, and these are rare.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click

from config.loading import load_settings, parse_settings, resolve_config_path
from config.settings import Settings
from config.sources import ConfigError
from ingest.records import SourceKind

_EXIT_CONFIG = 2
_EXIT_PROBLEMS = 1


def _settings_or_defaults(ctx: click.Context) -> Settings:
    """The configuration when there is one (its [fetch] settings apply), else the defaults."""
    config = (ctx.find_root().obj or {}).get("config")
    path = resolve_config_path(config, os.environ)
    try:
        if config or path.exists():
            return load_settings(path, os.environ)
        return parse_settings({}, os.environ)
    except ConfigError as exc:
        click.echo(f"source-ingest: configuration error: {exc}", err=True)
        sys.exit(_EXIT_CONFIG)


@click.command("discover")
@click.argument("url")
@click.pass_context
def discover(ctx: click.Context, url: str) -> None:
    """Find a site's feeds and sitemaps from its home page URL, check each, and print
    ready-to-paste [[feeds]] blocks with what each holds."""
    from ingest.records import is_http_url
    from ingest.run.discovery import discover_sources
    from ingest.sources.feed_blocks import feed_block, feed_name

    if not is_http_url(url):
        click.echo(f"source-ingest: {url}: not an http(s) URL", err=True)
        sys.exit(_EXIT_CONFIG)
    settings = _settings_or_defaults(ctx)
    found = asyncio.run(discover_sources(url, settings.fetch))
    if not found:
        click.echo(f"source-ingest: no feed or sitemap found at {url}", err=True)
        sys.exit(_EXIT_PROBLEMS)
    taken = {feed.name for feed in settings.feeds}
    for source in found:
        held = (f"{source.entries} child sitemaps" if source.is_index
                else f"{source.entries} entries")
        newest = f", newest {source.newest.isoformat()}" if source.newest else ""
        what = {SourceKind.FEED: "feed", SourceKind.SITEMAP: "sitemap",
                SourceKind.NEWS_SITEMAP: "news sitemap"}[source.kind]
        label = source.title or f"{_host(source.url)} {what}"
        click.echo(feed_block(
            feed_name(label if source.title else f"{_host(source.url)}-{source.kind.value}",
                      source.url, taken),
            source.url, source.kind,
            comment=f"{label}: {what} ({source.how}), {held}{newest}"))


@click.command("import")
@click.argument("opml_file", metavar="FILE.opml",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_opml(ctx: click.Context, opml_file: Path) -> None:
    """Print the [[feeds]] blocks for an OPML export of another reader (Miniflux, FreshRSS,
    Feedly, ...)."""
    from ingest.sources.feed_blocks import feed_block, feed_name
    from ingest.sources.opml import OpmlError, parse_opml

    try:
        feeds = parse_opml(opml_file.read_bytes())
    except OpmlError as exc:
        click.echo(f"source-ingest: {opml_file}: {exc}", err=True)
        sys.exit(_EXIT_CONFIG)
    settings = _settings_or_defaults(ctx)
    taken = {feed.name for feed in settings.feeds}
    configured = {feed.url for feed in settings.feeds}
    for feed in feeds:
        if feed.url in configured:
            continue
        comment = " / ".join(part for part in (feed.category, feed.title) if part)
        click.echo(feed_block(feed_name(feed.title, feed.url, taken), feed.url,
                              comment=comment))


@click.command("export")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the OPML here (default: standard output).")
@click.pass_context
def export_opml(ctx: click.Context, output: Path | None) -> None:
    """Write the configured feeds as OPML (sitemap sources are no feeds: left out)."""
    from ingest.sources.opml import OpmlFeed, render_opml

    settings = _settings_or_defaults(ctx)
    text = render_opml([OpmlFeed(title=feed.name, url=feed.url) for feed in settings.feeds
                        if feed.kind is SourceKind.FEED])
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or "site"
