"""The validated configuration: the frozen settings every stage is handed.

`config/loading.py` reads and validates the TOML file into these (`load_settings`), once at
start; nothing here reads a file or the environment.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ingest.records import SiteRules, SourceKind

DEFAULT_CONFIG_PATH = Path("config/source-ingest.toml")
ENV_CONFIG = "SOURCE_INGEST_CONFIG"
ENV_DATABASE_URL = "SOURCE_INGEST_DATABASE_URL"
ENV_CORPUS_DIR = "SOURCE_INGEST_CORPUS_DIR"
ENV_HTTP_TOKEN = "SOURCE_INGEST_HTTP_TOKEN"

@dataclass(frozen=True)
class FilterRules:
    """Keep an article when it matches any include rule (if there are any) and no exclude rule.

    A rule is a case-insensitive keyword, or a regular expression written `re:PATTERN`.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()  # when set, keep only articles detected in these

    @property
    def is_empty(self) -> bool:
        return not self.include and not self.exclude and not self.languages


@dataclass(frozen=True)
class FetchSettings:
    user_agent: str = "source-ingest/0.1 (+https://github.com/source-ingest)"
    max_concurrency: int = 16
    per_host_concurrency: int = 2
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_response_bytes: int = 10_000_000
    max_redirects: int = 5
    retries: int = 2
    backoff_seconds: float = 1.0
    max_retry_after_seconds: float = 30.0
    allow_private_addresses: bool = False
    # Between two requests for article pages or sitemaps to one host (robots.txt's
    # Crawl-delay, when longer, wins); 0 turns pacing off.
    per_host_delay_seconds: float = 1.0
    respect_robots: bool = True  # per source too: `respect_robots = false`
    robots_cache_seconds: float = 86400.0


@dataclass(frozen=True)
class ScheduleSettings:
    default_interval_seconds: float = 900.0
    jitter_seconds: float = 60.0
    max_backoff_seconds: float = 6 * 3600.0
    suspend_after_failures: int = 10
    check_every_seconds: float = 10.0
    lease_seconds: float = 300.0
    max_entry_attempts: int = 3


@dataclass(frozen=True)
class StorageSettings:
    database_url: str = "sqlite:///seeds/index.sqlite3"
    corpus_dir: Path = Path("seeds")
    # Every stored article's page as WARC records (storage/archive.py), for re-extraction.
    archive: bool = True
    archive_dir: Path | None = None  # None: `archive` beside the corpus folder
    archive_file_bytes: int = 1_000_000_000  # a writer's file rotates past this size

    @property
    def archive_path(self) -> Path:
        return self.archive_dir or self.corpus_dir.parent / "archive"


@dataclass(frozen=True)
class LimitSettings:
    """What one untrusted page or feed may cost an extraction worker (bench/hostile.py)."""

    extraction_seconds: float = 20.0  # one page; past it the worker is replaced
    feed_parse_seconds: float = 20.0  # one feed's parse, likewise
    worker_memory_mb: int = 1024  # address space a worker may add to what it starts with
    max_page_tags: int = 250_000  # "<" in a page's bytes: more is page_too_complex
    # Extraction worker processes (50-60 MB each); 0: one per CPU this process may use, its
    # cgroup's CPU quota included (ingest/run/cpus.py).
    extraction_workers: int = 0


@dataclass(frozen=True)
class DedupeSettings:
    near_duplicates: bool = True
    near_duplicate_threshold: float = 0.8
    store_near_duplicates: bool = False


@dataclass(frozen=True)
class ExtractionHealthSettings:
    """`[extraction_health]`: when a feed's recent articles count as degraded."""

    enabled: bool = True
    recent: int = 5  # the last articles judged
    baseline: int = 30  # at most this many articles before them make the baseline
    min_baseline: int = 10  # no verdict on length or summaries with fewer
    # Degraded when the recent median text length is under this share of the baseline's
    # (the real pages of ../shared read as feeds, many sites each, go down to 0.29; a teaser
    # for a story is under 0.1) ...
    length_ratio: float = 0.2
    # ... or when this share of recent articles came from the fallback method or had no text,
    # while the baseline had less than half that share ...
    weak_share: float = 0.8
    # ... or when summaries were found in this share of the baseline and in none of the
    # recent articles that had one.
    summary_share: float = 0.7


@dataclass(frozen=True)
class HttpSettings:
    listen: str | None = None  # "HOST:PORT" to serve the status API and page
    token: str | None = None
    # /metrics has series per feed (health, failures, articles ...) up to this many feeds;
    # past it only the counts by health: 100,000 feeds made 700,000 series a scrape.
    per_feed_metrics_limit: int = 1000


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class PrivateAccess:
    """The non-public addresses one feed's fetches may reach (its `allow_private_addresses`):
    those its own host resolves to (`true`), or those in listed networks. Every other feed's
    fetches are still refused them: the global `[fetch]` switch opened them to all."""

    hosts: frozenset[str] = frozenset()  # lower-case host names whose addresses may be private
    networks: tuple[Network, ...] = ()

    def allows(self, host: str, address: Address | None) -> bool:
        if host.strip("[]").rstrip(".").lower() in self.hosts:
            return True
        return address is not None and any(
            address.version == network.version and address in network
            for network in self.networks)


@dataclass(frozen=True)
class FeedSettings:
    name: str
    url: str
    interval_seconds: float
    filters: FilterRules = field(default_factory=FilterRules)
    rules: SiteRules = field(default_factory=SiteRules)
    enabled: bool = True
    private_access: PrivateAccess | None = None  # None: public addresses only
    kind: SourceKind = SourceKind.FEED
    # Regular expressions on an entry's URL (searched, not matched): sitemaps list section
    # pages, tags and videos beside the articles.
    include_urls: tuple[str, ...] = ()
    exclude_urls: tuple[str, ...] = ()
    respect_robots: bool | None = None  # None: [fetch] respect_robots

    @property
    def config_fingerprint(self) -> str:
        """Changes whenever the feed's configuration does (a suspended feed then resumes)."""
        fields: list[object] = [self.url, self.interval_seconds, list(self.filters.include),
                                list(self.filters.exclude), list(self.rules.keep),
                                list(self.rules.drop)]
        # Only when set: every feed's fingerprint stays as it was before the key existed (an
        # upgrade must not change, and so resume, every existing feed).
        if self.filters.languages:
            fields.append(list(self.filters.languages))
        if self.kind is not SourceKind.FEED or self.include_urls or self.exclude_urls:
            fields += [self.kind.value, list(self.include_urls), list(self.exclude_urls)]
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16]

    def obeys_robots(self, fetch: FetchSettings) -> bool:
        return fetch.respect_robots if self.respect_robots is None else self.respect_robots

    def wants_url(self, url: str) -> bool:
        """Whether `url` passes this source's include_urls / exclude_urls rules."""
        if self.include_urls and not any(re.search(rule, url) for rule in self.include_urls):
            return False
        return not any(re.search(rule, url) for rule in self.exclude_urls)


@dataclass(frozen=True)
class Settings:
    feeds: tuple[FeedSettings, ...]
    storage: StorageSettings = field(default_factory=StorageSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    filters: FilterRules = field(default_factory=FilterRules)
    dedupe: DedupeSettings = field(default_factory=DedupeSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    extraction_health: ExtractionHealthSettings = field(
        default_factory=ExtractionHealthSettings)
    source: Path | None = None

    def feed(self, name: str) -> FeedSettings:
        return self._feeds_by_name[name]

    @functools.cached_property
    def _feeds_by_name(self) -> dict[str, FeedSettings]:
        # A run looks up every feed it polls: a scan each time was quadratic in the feeds.
        return {feed.name: feed for feed in self.feeds}
