"""Load and validate the TOML configuration into `config.settings`.

Errors name the bad key the way a user finds it in the file: `feeds[2].url: not an http(s) URL`.
Nothing here runs at import time; `load_settings` is called once at start and its result is
passed in to every stage.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from config.settings import (
    DEFAULT_CONFIG_PATH,
    ENV_CONFIG,
    ENV_CORPUS_DIR,
    ENV_DATABASE_URL,
    ENV_HTTP_TOKEN,
    DedupeSettings,
    ExtractionHealthSettings,
    FeedSettings,
    FetchSettings,
    FilterRules,
    HttpSettings,
    LimitSettings,
    Network,
    PrivateAccess,
    ScheduleSettings,
    Settings,
    StorageSettings,
)
from config.sources import ConfigError, FeedTables, included_feeds, read_toml
from ingest.records import SiteRules, SourceKind, is_http_url

_FEED_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def environment_overrides(environ: Mapping[str, str]) -> list[str]:
    """The SOURCE_INGEST_* variables set now, which win over the configuration file's keys
    (`[storage] database_url`, `corpus_dir`, `[http] token`)."""
    return [name for name in (ENV_DATABASE_URL, ENV_CORPUS_DIR, ENV_HTTP_TOKEN)
            if environ.get(name)]


def resolve_config_path(explicit: str | Path | None, environ: Mapping[str, str]) -> Path:
    if explicit:
        return Path(explicit)
    if environ.get(ENV_CONFIG):
        return Path(environ[ENV_CONFIG])
    return DEFAULT_CONFIG_PATH


def load_settings(path: Path, environ: Mapping[str, str]) -> Settings:
    """Read, validate and return the configuration; environment overrides storage and token."""
    raw = read_toml(path)
    return parse_settings(raw, environ, source=path, included=included_feeds(raw, path))


def parse_settings(
    raw: Mapping[str, Any], environ: Mapping[str, str], source: Path | None = None,
    included: Sequence[FeedTables] = (),
) -> Settings:
    """Validate a parsed configuration; `included`: the feeds of the files `include` named
    (read by `load_settings`)."""
    _reject_unknown(raw, "", {"storage", "fetch", "schedule", "filters", "dedupe", "http",
                              "limits", "feeds", "include", "extraction_health"})
    storage = _storage(_table(raw, "storage"), environ)
    fetch = _fetch(_table(raw, "fetch"))
    schedule = _schedule(_table(raw, "schedule"))
    filters = _filters(_table(raw, "filters"), "filters")
    dedupe = _dedupe(_table(raw, "dedupe"))
    http = _http(_table(raw, "http"), environ)
    limits = _limits(_table(raw, "limits"))
    feeds = _feeds([FeedTables(where="", tables=raw.get("feeds", [])), *included], schedule)
    health = _extraction_health(_table(raw, "extraction_health"))
    return Settings(feeds=feeds, storage=storage, fetch=fetch, schedule=schedule,
                    filters=filters, dedupe=dedupe, http=http, limits=limits,
                    extraction_health=health, source=source)


def _table(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: must be a table")
    return value


def _reject_unknown(table: Mapping[str, Any], where: str, known: set[str]) -> None:
    for key in table:
        if key not in known:
            name = f"{where}.{key}" if where else key
            raise ConfigError(f"{name}: unknown key (expected one of: {', '.join(sorted(known))})")


def _get(table: Mapping[str, Any], where: str, key: str, kind: type, default: Any) -> Any:
    if key not in table:
        return default
    value = table[key]
    name = f"{where}.{key}"
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name}: must be a number")
        return float(value)
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{name}: must be an integer")
    if not isinstance(value, kind):
        raise ConfigError(f"{name}: must be a {kind.__name__}")
    return value


def _positive(name: str, value: float) -> float:
    if value <= 0:
        raise ConfigError(f"{name}: must be greater than 0")
    return value


def _storage(table: Mapping[str, Any], environ: Mapping[str, str]) -> StorageSettings:
    _reject_unknown(table, "storage", {"database_url", "corpus_dir", "archive", "archive_dir",
                                       "archive_file_bytes"})
    default = StorageSettings()
    url = environ.get(ENV_DATABASE_URL) or _get(table, "storage", "database_url", str,
                                                 default.database_url)
    if "://" not in url:
        raise ConfigError("storage.database_url: not an SQLAlchemy URL (dialect://...)")
    corpus = environ.get(ENV_CORPUS_DIR) or _get(table, "storage", "corpus_dir", str,
                                                 str(default.corpus_dir))
    if not corpus.strip():
        raise ConfigError("storage.corpus_dir: must not be empty")
    archive_dir = _get(table, "storage", "archive_dir", str, None)
    if archive_dir is not None and not archive_dir.strip():
        raise ConfigError("storage.archive_dir: must not be empty")
    return StorageSettings(
        database_url=url, corpus_dir=Path(corpus),
        archive=_get(table, "storage", "archive", bool, default.archive),
        archive_dir=Path(archive_dir) if archive_dir else None,
        archive_file_bytes=int(_positive("storage.archive_file_bytes", _get(
            table, "storage", "archive_file_bytes", int, default.archive_file_bytes))))


def _fetch(table: Mapping[str, Any]) -> FetchSettings:
    d = FetchSettings()
    known = set(d.__dataclass_fields__)
    _reject_unknown(table, "fetch", known)
    values: dict[str, Any] = {}
    for name in known:
        default = getattr(d, name)
        kind = type(default)
        value = _get(table, "fetch", name, kind, default)
        if kind in (int, float) and name not in {"retries", "per_host_delay_seconds"}:
            _positive(f"fetch.{name}", value)
        if name in {"retries", "per_host_delay_seconds"} and value < 0:
            raise ConfigError(f"fetch.{name}: must be 0 or more")
        values[name] = value
    if not values["user_agent"].strip():
        raise ConfigError("fetch.user_agent: must not be empty")
    return FetchSettings(**values)


def _limits(table: Mapping[str, Any]) -> LimitSettings:
    d = LimitSettings()
    known = set(d.__dataclass_fields__)
    _reject_unknown(table, "limits", known)
    values = {name: _get(table, "limits", name, type(getattr(d, name)), getattr(d, name))
              for name in known}
    for name, value in values.items():
        if name in table:  # extraction_workers' default, 0, means "one per CPU"
            _positive(f"limits.{name}", value)
    return LimitSettings(**values)


def _schedule(table: Mapping[str, Any]) -> ScheduleSettings:
    _reject_unknown(table, "schedule", {
        "default_interval_minutes", "default_interval_seconds", "jitter_seconds",
        "max_backoff_minutes", "suspend_after_failures", "check_every_seconds",
        "lease_seconds", "max_entry_attempts"})
    d = ScheduleSettings()
    interval = d.default_interval_seconds
    if "default_interval_minutes" in table:
        interval = 60 * _get(table, "schedule", "default_interval_minutes", float, 15.0)
    interval = _get(table, "schedule", "default_interval_seconds", float, interval)
    jitter = _get(table, "schedule", "jitter_seconds", float, d.jitter_seconds)
    if jitter < 0:
        raise ConfigError("schedule.jitter_seconds: must be 0 or more")
    backoff = 60 * _get(table, "schedule", "max_backoff_minutes", float,
                        d.max_backoff_seconds / 60)
    return ScheduleSettings(
        default_interval_seconds=_positive("schedule.default_interval_minutes", interval),
        jitter_seconds=jitter,
        max_backoff_seconds=_positive("schedule.max_backoff_minutes", backoff),
        suspend_after_failures=int(_positive(
            "schedule.suspend_after_failures",
            _get(table, "schedule", "suspend_after_failures", int, d.suspend_after_failures))),
        check_every_seconds=_positive(
            "schedule.check_every_seconds",
            _get(table, "schedule", "check_every_seconds", float, d.check_every_seconds)),
        lease_seconds=_positive(
            "schedule.lease_seconds",
            _get(table, "schedule", "lease_seconds", float, d.lease_seconds)),
        max_entry_attempts=int(_positive(
            "schedule.max_entry_attempts",
            _get(table, "schedule", "max_entry_attempts", int, d.max_entry_attempts))),
    )


def _rules_list(table: Mapping[str, Any], where: str, key: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}.{key}: must be a list of non-empty strings")
    for index, rule in enumerate(value):
        if rule.startswith("re:"):
            try:
                re.compile(rule[3:])
            except re.error as exc:
                raise ConfigError(f"{where}.{key}[{index}]: invalid regular expression: {exc}")\
                    from exc
    return tuple(value)


def _filters(table: Mapping[str, Any], where: str) -> FilterRules:
    _reject_unknown(table, where, {"include", "exclude", "languages"})
    return FilterRules(include=_rules_list(table, where, "include"),
                       exclude=_rules_list(table, where, "exclude"),
                       languages=_languages(table, where))


def _languages(table: Mapping[str, Any], where: str) -> tuple[str, ...]:
    value = table.get("languages", [])
    if not isinstance(value, list) or not all(
            isinstance(code, str) and re.fullmatch(r"[a-z]{2,3}", code) for code in value):
        raise ConfigError(f"{where}.languages: must be a list of ISO 639-1 codes such as "
                          f'["en", "de"]')
    return tuple(value)


def _site_rules(table: Mapping[str, Any], where: str) -> SiteRules:
    _reject_unknown(table, where, {"keep", "drop"})
    rules = SiteRules(keep=_rules_list(table, where, "keep"),
                      drop=_rules_list(table, where, "drop"))
    _check_selectors(rules, where)
    return rules


def _check_selectors(rules: SiteRules, where: str) -> None:
    """Compile each CSS selector now: a bad one would otherwise pass, then leave every page
    of the feed without its article (`no_article_text`), the reason nowhere in sight."""
    if not rules.keep and not rules.drop:
        return
    from selectolax.lexbor import LexborHTMLParser, SelectolaxError

    probe = LexborHTMLParser("<html></html>")
    for key, selectors in (("keep", rules.keep), ("drop", rules.drop)):
        for position, selector in enumerate(selectors):
            try:
                probe.css(selector)
            except (ValueError, SelectolaxError) as exc:
                raise ConfigError(f"{where}.{key}[{position}]: invalid CSS selector "
                                  f"{selector!r}: {exc}") from exc


def _dedupe(table: Mapping[str, Any]) -> DedupeSettings:
    _reject_unknown(table, "dedupe", {"near_duplicates", "near_duplicate_threshold",
                                      "store_near_duplicates"})
    d = DedupeSettings()
    threshold = _get(table, "dedupe", "near_duplicate_threshold", float,
                     d.near_duplicate_threshold)
    if not 0 < threshold <= 1:
        raise ConfigError("dedupe.near_duplicate_threshold: must be in (0, 1]")
    return DedupeSettings(
        near_duplicates=_get(table, "dedupe", "near_duplicates", bool, d.near_duplicates),
        near_duplicate_threshold=threshold,
        store_near_duplicates=_get(table, "dedupe", "store_near_duplicates", bool,
                                   d.store_near_duplicates),
    )


def _extraction_health(table: Mapping[str, Any]) -> ExtractionHealthSettings:
    d = ExtractionHealthSettings()
    known = set(d.__dataclass_fields__)
    _reject_unknown(table, "extraction_health", known)
    values: dict[str, Any] = {}
    for name in known:
        default = getattr(d, name)
        value = _get(table, "extraction_health", name, type(default), default)
        if isinstance(default, float) and not 0 < value <= 1:
            raise ConfigError(f"extraction_health.{name}: must be in (0, 1]")
        if isinstance(default, int) and not isinstance(default, bool) and value < 1:
            raise ConfigError(f"extraction_health.{name}: must be 1 or more")
        values[name] = value
    return ExtractionHealthSettings(**values)


def _http(table: Mapping[str, Any], environ: Mapping[str, str]) -> HttpSettings:
    _reject_unknown(table, "http", {"listen", "token", "per_feed_metrics_limit"})
    listen = _get(table, "http", "listen", str, None) or None
    token = environ.get(ENV_HTTP_TOKEN) or _get(table, "http", "token", str, None) or None
    limit = _get(table, "http", "per_feed_metrics_limit", int,
                 HttpSettings.per_feed_metrics_limit)
    if limit < 0:
        raise ConfigError("http.per_feed_metrics_limit: must be 0 or more")
    return HttpSettings(listen=listen, token=token, per_feed_metrics_limit=limit)


_FEED_KEYS = frozenset({"name", "url", "interval_minutes", "interval_seconds", "filters",
                        "extraction", "enabled", "allow_private_addresses", "kind",
                        "include_urls", "exclude_urls", "respect_robots"})
_KINDS = {kind.value: kind for kind in SourceKind}
_NO_FILTERS = FilterRules()
_NO_RULES = SiteRules()


def _feeds(groups: Sequence[FeedTables], schedule: ScheduleSettings) -> tuple[FeedSettings, ...]:
    """Every file's feeds, validated; names are unique across all of them.

    Kept lean per feed (no table is built for what a feed does not set): 100,000 feeds
    validated in 2.6 s before, most of a start-up's 5 s budget (bench/scale_sources.py)."""
    feeds: list[FeedSettings] = []
    seen: set[str] = set()
    for group in groups:
        if not isinstance(group.tables, list):
            raise ConfigError(f"{group.where}feeds: must be an array of tables ([[feeds]])")
        for index, table in enumerate(group.tables):
            feeds.append(_feed(table, f"{group.where}feeds[{index}]", schedule, seen))
    return tuple(feeds)


def _feed(table: Any, where: str, schedule: ScheduleSettings, seen: set[str]) -> FeedSettings:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table")
    if not _FEED_KEYS.issuperset(table):
        _reject_unknown(table, where, set(_FEED_KEYS))
    if "name" not in table:
        raise ConfigError(f"{where}.name: missing")
    name = _get(table, where, "name", str, "")
    if not _FEED_NAME.match(name):
        raise ConfigError(f"{where}.name: use 1-64 letters, digits, '.', '_' or '-'")
    if name in seen:
        raise ConfigError(f"{where}.name: duplicate feed name {name!r}")
    seen.add(name)
    if "url" not in table:
        raise ConfigError(f"{where}.url: missing")
    url = _get(table, where, "url", str, "")
    if not is_http_url(url):
        raise ConfigError(f"{where}.url: not an http(s) URL")
    interval = schedule.default_interval_seconds
    if "interval_minutes" in table:
        interval = 60 * _get(table, where, "interval_minutes", float, 15.0)
    if "interval_seconds" in table:
        interval = _get(table, where, "interval_seconds", float, interval)
    _positive(f"{where}.interval_minutes", interval)
    return FeedSettings(
        name=name,
        url=url.strip(),
        interval_seconds=interval,
        filters=_filters(_table(table, "filters"), f"{where}.filters")
        if "filters" in table else _NO_FILTERS,
        rules=_site_rules(_table(table, "extraction"), f"{where}.extraction")
        if "extraction" in table else _NO_RULES,
        enabled=_get(table, where, "enabled", bool, True) if "enabled" in table else True,
        private_access=_private_access(table, where, url.strip())
        if "allow_private_addresses" in table else None,
        **(_source_options(table, where) if _SOURCE_OPTIONS & table.keys() else {}),
    )


def _private_access(table: Mapping[str, Any], where: str, url: str) -> PrivateAccess | None:
    """`allow_private_addresses = true` (the feed's own host) or a list of networks."""
    key = f"{where}.allow_private_addresses"
    value = table["allow_private_addresses"]
    if value is False:
        return None
    if value is True:
        from urllib.parse import urlsplit

        host = (urlsplit(url).hostname or "").rstrip(".").lower()
        return PrivateAccess(hosts=frozenset({host}))
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: true, false or a list of networks such as "
                          '["10.0.0.0/8", "fd00::/8"]')
    networks: list[Network] = []
    for text in value:
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ConfigError(f"{key}: {text!r} is not a network (CIDR)") from None
    return PrivateAccess(networks=tuple(networks))


_SOURCE_OPTIONS = frozenset({"kind", "include_urls", "exclude_urls", "respect_robots"})


def _source_options(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    kind = _get(table, where, "kind", str, SourceKind.FEED.value)
    if kind not in _KINDS:
        raise ConfigError(f"{where}.kind: must be one of {', '.join(_KINDS)}")
    options: dict[str, Any] = {"kind": _KINDS[kind]}
    for key in ("include_urls", "exclude_urls"):
        rules = _rules_list(table, where, key)
        for index, rule in enumerate(rules):
            try:
                re.compile(rule)
            except re.error as exc:
                raise ConfigError(f"{where}.{key}[{index}]: invalid regular expression: "
                                  f"{exc}") from exc
        options[key] = rules
    if "respect_robots" in table:
        options["respect_robots"] = _get(table, where, "respect_robots", bool, True)
    return options
