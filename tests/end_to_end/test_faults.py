"""Bad input, faults and hostile content: each costs one feed or one article, is logged by kind,
and loses nothing else.

One `source-ingest fetch` polls a loopback site where almost every feed or page misbehaves in
its own way, beside a healthy control feed; the tests then read what the run stored, what the
status log (`status --json`) and the JSON log lines say, and whether `verify` passes. Other
tests run the commands that need a configuration of their own (private addresses refused,
suspension and resumption).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from ingest.sources.feed import parse_feed
from storage.archive import archive_file_writer
from storage.corpus import is_corpus_file_name
from storage.schema import articles, entries
from tests.cli_runner import run_cli, write_config
from tests.conftest import TEST_DATABASE_ENV
from tests.databases import postgres_schema_url
from tests.faultserver import (
    FIXTURES,
    RSS,
    corpus_texts,
    fails_first,
    fixture_feed,
    gzip_bomb,
    gzip_bomb_body,
    hang_up,
    invented_story,
    iter_json_lines,
    needs_basic_auth,
    oversized,
    refused_port,
    serve_feed,
    serve_story,
    stall,
    trickle,
)
from tests.loopback import LoopbackSite, Route, serve_site
from tests.newsfixtures import FakeStory, news_page, rss_feed

FEED_FIXTURES = Path(__file__).parents[1] / "sources" / "fixtures"
EXTRACT_FIXTURES = Path(__file__).parents[1] / "extract" / "fixtures"
SIZE_CAP = 10_000_000  # FetchSettings.max_response_bytes default, kept for the 5 MB page
FEED_SECRET = "s3cret-feed-pw"
DATABASE_SECRET = "s3cret-db-pw"
FAULT_FETCH = {
    "connect_timeout": 2, "read_timeout": 1, "total_timeout": 3, "retries": 1,
    "backoff_seconds": 0.05, "max_retry_after_seconds": 2, "max_concurrency": 32,
    "per_host_concurrency": 32, "max_response_bytes": SIZE_CAP,
}


def _loop(site: LoopbackSite, first: str, second: str) -> str:
    site.set(first, Route(b"", status=302, headers=(("Location", second),), etag=False))
    site.set(second, Route(b"", status=302, headers=(("Location", first),), etag=False))
    return site.url(first)


def _chain(site: LoopbackSite, prefix: str, hops: int, end: Route) -> str:
    for hop in range(hops):
        site.set(f"{prefix}/{hop}", Route(b"", status=301, etag=False,
                                          headers=(("Location", f"{prefix}/{hop + 1}"),)))
    site.set(f"{prefix}/{hops}", end)
    return site.url(f"{prefix}/0")


def _served(path: str, route: Route | Callable[..., None]) -> Callable[[LoopbackSite], str]:
    def serve(site: LoopbackSite) -> str:
        site.set(path, route)
        return site.url(path)

    return serve


def _status(code: int, *headers: tuple[str, str]) -> Route:
    return Route(b"error page", status=code, content_type="text/plain", headers=headers,
                 etag=False)


@dataclass(frozen=True)
class Fault:
    """One misbehaving URL: how the site serves it, and the failure kind it must produce."""

    case: str
    kind: str
    serve: Callable[[LoopbackSite], str]
    hits: int | None = None  # requests the fetcher must make (retries), when it matters


def _faults(bomb: bytes, tag: str) -> list[Fault]:
    """The faults tried both as a feed URL and as an article page; `tag` keeps paths apart."""
    p = f"/{tag}"
    return [
        Fault("404-not-found", "http_not_found", _served(f"{p}/404", _status(404)), hits=1),
        Fault("410-gone", "http_not_found", _served(f"{p}/410", _status(410)), hits=1),
        Fault("401-unauthorized", "http_unauthorized", _served(f"{p}/401", _status(401))),
        Fault("403-forbidden", "http_unauthorized", _served(f"{p}/403", _status(403))),
        # Retried once after the server's Retry-After, then given up as rate limited.
        Fault("429-retry-after-1s", "http_too_many_requests",
              _served(f"{p}/429", _status(429, ("Retry-After", "1"))), hits=2),
        # A wait beyond fetch.max_retry_after_seconds is not waited for at all.
        Fault("429-retry-after-1h", "http_too_many_requests",
              _served(f"{p}/429-long", _status(429, ("Retry-After", "3600"))), hits=1),
        Fault("500-server-error", "http_server_error", _served(f"{p}/500", _status(500)),
              hits=2),
        Fault("503-unavailable", "http_server_error",
              _served(f"{p}/503", _status(503, ("Retry-After", "0"))), hits=2),
        Fault("connection-refused", "connection_error",
              lambda site: f"http://127.0.0.1:{refused_port()}{p}/refused"),
        Fault("connection-dropped", "connection_error", _served(f"{p}/dropped", hang_up())),
        # RFC 2606: .invalid never resolves; the lookup fails locally.
        Fault("name-does-not-resolve", "dns_error",
              lambda site: f"http://{tag}.nonexistent.invalid/feed"),
        Fault("read-timeout", "timeout", _served(f"{p}/stall", stall(5))),
        # Each byte comes well within read_timeout (1 s); only the total deadline stops it.
        Fault("one-byte-every-half-second", "timeout",
              _served(f"{p}/trickle", trickle(news_page(invented_story("t")).encode(),
                                              seconds_per_byte=0.5))),
        Fault("redirect-loop", "too_many_redirects",
              lambda site: _loop(site, f"{p}/loop-a", f"{p}/loop-b")),
        Fault("seven-redirects", "too_many_redirects",
              lambda site: _chain(site, f"{p}/hop", 7, _status(200))),
        Fault("empty-body", "empty_response",
              _served(f"{p}/empty", Route(b"", content_type="text/html", etag=False))),
        Fault("pdf", "unsupported_content_type",
              _served(f"{p}/doc.pdf", Route(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
                                            content_type="application/pdf"))),
        Fault("png-image", "unsupported_content_type",
              _served(f"{p}/photo.png", Route(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
                                              content_type="image/png"))),
        Fault("50mb-with-content-length", "response_too_large",
              _served(f"{p}/huge-declared", oversized(50_000_000, declare_length=True))),
        Fault("50mb-streamed-without-length", "response_too_large",
              _served(f"{p}/huge-streamed", oversized(50_000_000, declare_length=False))),
        Fault("gzip-bomb-100mb", "response_too_large", _served(f"{p}/bomb", gzip_bomb(bomb))),
    ]


def _feed_only_faults() -> list[Fault]:
    return [
        Fault("html-page-instead-of-feed", "not_a_feed",
              _served("/feed/html-page", Route(
                  (FEED_FIXTURES / "html-page-served-as-feed.html").read_bytes()))),
        Fault("xml-that-is-not-a-feed", "not_a_feed",
              _served("/feed/not-a-feed.xml", Route(
                  (FEED_FIXTURES / "xml-not-a-feed.xml").read_bytes(),
                  content_type="application/xml"))),
    ]


@dataclass(frozen=True)
class StoredPage:
    """A page that must be stored whatever is odd about it, with the text the corpus gets."""

    case: str
    text: str  # expected corpus text without the date header, or a substring with `partial`
    serve: Callable[[LoopbackSite], str]
    partial: tuple[str, ...] = ()


def _fixture(name: str, content_type: str) -> Route:
    return Route((FIXTURES / name).read_bytes(), content_type=content_type)


def _expected(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def _five_megabyte_page(story: FakeStory) -> bytes:
    """A real story inside 5 MB of page furniture: a framework's JSON blob and link lists."""
    page = news_page(story)
    blob = '<script id="__NEXT_DATA__" type="application/json">{"props":{"items":[' + \
        ",".join(f'{{"id":{n},"headline":"Item {n} of the day"}}' for n in range(80_000)) + \
        "]}}</script>"
    links = "<aside class='more-news'><ul>" + "".join(
        f'<li><a href="/n/{n}">More news number {n}</a></li>' for n in range(45_000)) + \
        "</ul></aside>"
    html = page.replace("</main>", f"</main>{links}{blob}")
    assert 5_000_000 <= len(html) < SIZE_CAP, len(html)
    return html.encode("utf-8")


def _stored_pages() -> list[StoredPage]:
    big = invented_story("five-megabytes")
    twice = invented_story("429-then-ok")
    moved = invented_story("redirected-once")
    ru, fr = _expected("expected-ru.txt"), _expected("expected-fr.txt")
    html = "text/html"
    return [
        StoredPage("windows-1251-with-charset-header", ru, _served(
            "/page/cp1251-header", _fixture("page-windows-1251-without-meta.html",
                                            "text/html; charset=windows-1251"))),
        StoredPage("windows-1251-meta-only", ru, _served(
            "/page/cp1251-meta", _fixture("page-windows-1251-meta-only.html", html))),
        StoredPage("windows-1251-no-declaration", ru, _served(
            "/page/cp1251-none", _fixture("page-windows-1251-without-meta.html", html))),
        StoredPage("iso-8859-1-with-charset-header", fr, _served(
            "/page/latin1-header", _fixture("page-iso-8859-1-without-meta.html",
                                            "text/html; charset=ISO-8859-1"))),
        StoredPage("iso-8859-1-no-declaration", fr, _served(
            "/page/latin1-none", _fixture("page-iso-8859-1-without-meta.html", html))),
        # Bad bytes become U+FFFD, as in a browser; the rest of the text is intact.
        StoredPage("invalid-utf-8", "", _served(
            "/page/bad-utf8", _fixture("page-invalid-utf-8.html", "text/html; charset=utf-8")),
            partial=("NANTES, 12 juin. Le festival de la Loire a ouvert ses portes",
                     "programme \ufffdlargi cette année, avec des concerts sur les quais\ufffd, "
                     "des \ufffdrégates à l'aube",
                     "qui espère accueillir plus de cent mille visiteurs d'ici dimanche.")),
        StoredPage("5mb-page", "\n\n".join(big.paragraphs), _served(
            "/page/five-mb", Route(_five_megabyte_page(big)))),
        StoredPage("429-then-ok-after-retry-after", "\n\n".join(twice.paragraphs), _served(
            "/page/429-once", fails_first(1, _status(429, ("Retry-After", "1")),
                                          Route(news_page(twice).encode())))),
        StoredPage("301-then-page", "\n\n".join(moved.paragraphs),
                   lambda site: _chain(site, "/page/moved", 1,
                                       Route(news_page(moved).encode()))),
    ]


# --- the fault run --------------------------------------------------------------------------


CONTROL = invented_story("control")
RECOVERED_FEEDS = {  # feed -> (fixture, content type, paths of the stories stored)
    "malformed-unclosed-tags": ("rss-unclosed-tags.rss", RSS, [
        "/unclosed/1.html", "/unclosed/2.html", "/unclosed/3.html"]),
    "malformed-bad-entities": ("rss-undefined-entities.rss", RSS, [
        "/entities/1.html", "/entities/2.html"]),
    "declared-utf-8-sent-as-windows-1251": ("rss-declared-utf-8-sent-as-windows-1251.rss",
                                            "application/rss+xml; charset=utf-8",
                                            ["/cp1251/1.html", "/cp1251/2.html"]),
    "duplicate-guids": ("rss-duplicate-guids.rss", RSS, ["/dupguid/1.html", "/dupguid/3.html"]),
    "entry-without-link": ("rss-entry-without-link.rss", RSS, ["/nolink/1.html"]),
    # `../` and `/etc/passwd` in titles and links, a NUL, a 6,000-character title and a
    # 3,000-character path: file names never come from any of them.
    "hostile-titles-and-links": ("rss-hostile-titles-and-links.rss", RSS, [
        "/etc/passwd", "/hostile/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/hostile/nul%00byte.html",
        "/hostile/" + "a" * 3000 + ".html"]),
}


@dataclass
class FaultRun:
    database_url: str
    site_port: int
    tmp: Path
    config: Path
    corpus_dir: Path
    fetch: subprocess.CompletedProcess[str]
    status: dict[str, object]
    outputs: list[str]  # every stdout and stderr of every command of the run
    verify: subprocess.CompletedProcess[str]
    feed_faults: dict[str, Fault]
    page_faults: dict[str, tuple[Fault, str]]  # case -> (fault, page URL)
    stored_pages: dict[str, StoredPage]
    hits: dict[str, int]
    logs: list[dict[str, object]] = field(default_factory=list)

    def feed(self, name: str) -> dict[str, object]:
        feeds = self.status["feeds"]
        assert isinstance(feeds, list)
        return next(feed for feed in feeds if feed["name"] == name)

    def events(self, event: str) -> list[dict[str, object]]:
        return [line for line in self.logs if line.get("event") == event]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fault_database(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One fault run per database: PostgreSQL refuses what SQLite lets through (NUL in text)."""
    tmp = tmp_path_factory.mktemp(f"faults-{request.param}")
    if request.param == "sqlite":
        yield f"sqlite:///{tmp / 'i.sqlite3'}", tmp
        return
    base = os.environ.get(TEST_DATABASE_ENV)
    if not base:
        pytest.skip(f"{TEST_DATABASE_ENV} not set: PostgreSQL variant skipped")
    for url in postgres_schema_url(base):
        # A password in the database URL must not show either; a server that trusts the
        # connection ignores it, one that checks it has one in the URL already.
        with_password = make_url(url)
        if with_password.password is None:
            with_password = with_password.set(password=DATABASE_SECRET)
        yield with_password.render_as_string(hide_password=False), tmp


@pytest.fixture(scope="module")
def fault_run(fault_database: tuple[str, Path]) -> Iterator[FaultRun]:
    database_url, tmp = fault_database
    bomb = gzip_bomb_body(100 << 20)
    with serve_site() as site:
        feeds: list[tuple[str, str]] = []
        feeds.append(("control", serve_feed(site, "/control.xml", [
            (CONTROL, serve_story(site, "/control/1.html", CONTROL))])))
        feed_faults = {f"feed-{fault.case}": fault
                       for fault in _faults(bomb, "feed") + _feed_only_faults()}
        feeds += [(name, fault.serve(site)) for name, fault in feed_faults.items()]

        page_faults = {fault.case: (fault, fault.serve(site)) for fault in _faults(bomb, "page")}
        no_text = Fault("no-article-text", "no_article_text", _served(
            "/page/no-text", Route((EXTRACT_FIXTURES / "page-without-article.html").read_bytes())))
        page_faults[no_text.case] = (no_text, no_text.serve(site))
        stored_pages = {page.case: page for page in _stored_pages()}
        items = [(invented_story(f"p-{case}"), url) for case, (_, url) in page_faults.items()]
        # No feed summary: a page without text must not be "saved" by the feed's description.
        items += [(FakeStory(slug=f"p-{case}", title=case, paragraphs=("",), published=None),
                   page.serve(site)) for case, page in stored_pages.items()]
        feeds.append(("pages", serve_feed(site, "/pages.xml", items)))

        for name, (fixture, content_type, paths) in RECOVERED_FEEDS.items():
            site.set(f"/{name}.xml", Route(fixture_feed(fixture, site),
                                           content_type=content_type))
            feeds.append((name, site.url(f"/{name}.xml")))
            for path in paths:
                serve_story(site, path, invented_story(path))

        # Credentials in the feed URL go to the server as Basic auth, never to logs or status.
        token = base64.b64encode(f"reader:{FEED_SECRET}".encode()).decode()
        private = invented_story("private")
        private_feed = rss_feed([(private, serve_story(site, "/private/1.html", private))])
        site.set("/private.xml", needs_basic_auth(token, Route(private_feed.encode(),
                                                               content_type=RSS)))
        with_userinfo = site.url("/private.xml").replace("://", f"://reader:{FEED_SECRET}@")
        feeds.append(("with-credentials", with_userinfo))
        feeds.append(("with-credentials-404", with_userinfo.replace("private.xml", "gone.xml")))

        corpus_dir = tmp / "corpus"
        config = write_config(tmp / "config.toml", database_url=database_url,
                              corpus_dir=corpus_dir, feeds=feeds, fetch=FAULT_FETCH)
        fetch = run_cli("--config", str(config), "fetch", cwd=tmp, timeout=120)
        hits = dict(site.hits)
        site_port = site.port
    status = run_cli("--config", str(config), "status", "--json", cwd=tmp)
    status_text = run_cli("--config", str(config), "status", cwd=tmp)
    listing = run_cli("--config", str(config), "feeds", "list", cwd=tmp)
    verify = run_cli("--config", str(config), "verify", cwd=tmp)
    outputs = [out for result in (fetch, status, status_text, listing, verify)
               for out in (result.stdout, result.stderr)]
    yield FaultRun(database_url=database_url, site_port=site_port, tmp=tmp, config=config,
                   corpus_dir=corpus_dir,
                   fetch=fetch, status=json.loads(status.stdout), outputs=outputs,
                   verify=verify, feed_faults=feed_faults, page_faults=page_faults,
                   stored_pages=stored_pages, hits=hits,
                   logs=list(iter_json_lines(fetch.stderr)))


def _path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"


def test_fault_run_finishes_and_logs_no_traceback(fault_run: FaultRun) -> None:
    assert fault_run.fetch.returncode == 0, fault_run.fetch.stderr[-3000:]
    runs = fault_run.status["runs"]
    assert isinstance(runs, list) and runs[0]["state"] == "finished"
    assert "Traceback" not in fault_run.fetch.stderr
    assert not [line for line in fault_run.logs if "exception" in line]
    assert "internal_error" not in runs[0]["failures_by_kind"]
    # Every failure of the run is counted under a named kind, and the counts agree.
    assert sum(runs[0]["failures_by_kind"].values()) == runs[0]["failures"]


def test_control_feed_stores_its_article_in_the_same_run(fault_run: FaultRun) -> None:
    control = fault_run.feed("control")
    assert control["health"] == "ok" and control["articles_stored"] == 1
    assert CONTROL.corpus_text() in corpus_texts(fault_run.corpus_dir)


@pytest.mark.parametrize("name", [f"feed-{fault.case}" for fault in
                                  _faults(b"", "feed") + _feed_only_faults()])
def test_failing_feed_is_recorded_by_kind_and_others_continue(fault_run: FaultRun,
                                                              name: str) -> None:
    fault = fault_run.feed_faults[name]
    feed = fault_run.feed(name)
    assert feed["last_error_kind"] == fault.kind, feed
    assert feed["health"] == "failing" and feed["consecutive_failures"] == 1
    assert "\n" not in str(feed["last_error"]) and "Traceback" not in str(feed["last_error"])
    assert fault.kind in fault_run.status["runs"][0]["failures_by_kind"]  # type: ignore[index]
    logged = [line for line in fault_run.events("feed_failed") if line["feed"] == name]
    assert [line["kind"] for line in logged] == [fault.kind]
    if fault.hits is not None:
        url = dict(_feed_urls(fault_run))[name]
        assert fault_run.hits.get(_path_of(url), 0) == fault.hits


def _feed_urls(run: FaultRun) -> list[tuple[str, str]]:
    feeds = run.status["feeds"]
    assert isinstance(feeds, list)
    return [(feed["name"], feed["url"]) for feed in feeds]


@pytest.mark.parametrize("case", [fault.case for fault in _faults(b"", "page")]
                         + ["no-article-text"])
def test_failing_page_costs_only_its_article(fault_run: FaultRun, case: str) -> None:
    fault, url = fault_run.page_faults[case]
    failed = [line for line in fault_run.events("article_failed") if line["url"] == url]
    assert [line["kind"] for line in failed] == [fault.kind]
    assert not [line for line in fault_run.events("article_stored") if line["url"] == url]
    assert invented_story(f"p-{case}").corpus_text() not in corpus_texts(fault_run.corpus_dir)
    if fault.hits is not None:
        assert fault_run.hits.get(_path_of(url), 0) == fault.hits
    pages = fault_run.feed("pages")
    # An article's failure is not its feed's poll failing; the feed is failing only when
    # most of its articles are (status counts them).
    assert pages["consecutive_failures"] == 0
    last_run = pages["articles"]["last_run"]
    assert last_run["failures_by_kind"].get(fault.kind, 0) >= 1
    assert pages["health"] == ("failing" if last_run["failed"] > last_run["stored"] else "ok")


def _text_stored_for(run: FaultRun, feed: str, entry_key: str) -> str:
    """The corpus text the entry was stored as (or found a duplicate of)."""
    engine = create_engine(run.database_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(entries.c.status, articles.c.file_name).join_from(
                entries, articles, entries.c.article_sequence == articles.c.sequence).where(
                entries.c.feed == feed, entries.c.entry_key == entry_key)).one()
    finally:
        engine.dispose()
    assert row.status in {"stored", "duplicate"}, row
    return (run.corpus_dir / row.file_name).read_text(encoding="utf-8")


@pytest.mark.parametrize("case", [page.case for page in _stored_pages()])
def test_odd_but_readable_page_is_stored(fault_run: FaultRun, case: str) -> None:
    page = fault_run.stored_pages[case]
    # The same text in several encodings is one article: the later copies are duplicates of it.
    text = _text_stored_for(fault_run, "pages", f"p-{case}")
    if page.partial:
        assert all(part in text for part in page.partial), text
    else:
        assert text.endswith(page.text), text


@pytest.mark.parametrize("name", list(RECOVERED_FEEDS))
def test_feed_entries_that_can_be_recovered_are_stored(fault_run: FaultRun, name: str) -> None:
    _, _, paths = RECOVERED_FEEDS[name]
    feed = fault_run.feed(name)
    assert feed["last_error_kind"] is None and feed["health"] == "ok"
    assert feed["articles_stored"] == len(paths)
    texts = set(corpus_texts(fault_run.corpus_dir))
    assert {invented_story(path).corpus_text() for path in paths} <= texts


def test_malformed_feeds_are_logged_as_recovered(fault_run: FaultRun) -> None:
    warned = {line["feed"] for line in fault_run.events("feed_warning")}
    assert {"malformed-unclosed-tags", "malformed-bad-entities",
            "declared-utf-8-sent-as-windows-1251"} <= warned


def test_duplicate_guid_is_fetched_once(fault_run: FaultRun) -> None:
    assert fault_run.hits["/dupguid/1.html"] == 1
    # The guid repeated with another link is the same entry (an update): not fetched again.
    assert fault_run.hits.get("/dupguid/2.html", 0) == 0


def test_entry_without_link_is_recorded_and_its_neighbour_stored(fault_run: FaultRun) -> None:
    failed = [line for line in fault_run.events("article_failed")
              if line["feed"] == "entry-without-link"]
    assert [line["kind"] for line in failed] == ["entry_without_link"]


def test_corpus_writer_stays_inside_the_corpus_folder(fault_run: FaultRun) -> None:
    names = sorted(path.name for path in fault_run.corpus_dir.iterdir())
    assert names and all(is_corpus_file_name(name) for name in names), names
    outside = {str(path.relative_to(fault_run.tmp)) for path in fault_run.tmp.rglob("*")
               if path.parent != fault_run.corpus_dir and path != fault_run.corpus_dir}
    # The page archive beside the corpus folder holds the writers' WARC files alone.
    archived = {name for name in outside if name.startswith("archive/")}
    assert archived and all(archive_file_writer(name.removeprefix("archive/"))
                            for name in archived), archived
    assert outside - archived <= {"config.toml", "i.sqlite3", "i.sqlite3-shm",
                                  "i.sqlite3-wal", "archive"}, outside


def test_credentials_never_reach_logs_or_status(fault_run: FaultRun) -> None:
    assert fault_run.feed("with-credentials")["articles_stored"] == 1
    assert fault_run.feed("with-credentials-404")["last_error_kind"] == "http_not_found"
    secrets = [FEED_SECRET]
    database_password = make_url(fault_run.database_url).password
    if database_password:
        secrets.append(str(database_password))
    for secret in secrets:
        leaks = [output for output in fault_run.outputs if secret in output]
        assert not leaks, [output[output.index(secret) - 200:][:400] for output in leaks]


def test_control_characters_in_feed_titles_links_and_guids_are_dropped() -> None:
    body = (FIXTURES / "rss-hostile-titles-and-links.rss").read_bytes().replace(
        b"{base}", b"http://127.0.0.1:9").replace(b"hostile-nul", b"hostile-\x00nul")
    parsed = parse_feed(body, feed_name="hostile", feed_url="http://127.0.0.1:9/feed.xml")
    fields = [text for entry in parsed.entries for text in (entry.title, entry.key, entry.url)]
    assert "NUL  in the title" not in fields and "NUL in the title" in fields
    assert "hostile-nul" in fields
    assert not [text for text in fields if text and any(ord(c) < 32 for c in text)]


def test_verify_passes_after_the_fault_run(fault_run: FaultRun) -> None:
    assert fault_run.verify.returncode == 0, fault_run.verify.stdout
    assert not [path for path in fault_run.corpus_dir.iterdir()
                if path.name.startswith(".")]


def test_status_counts_every_failure_kind_the_run_met(fault_run: FaultRun) -> None:
    by_kind = fault_run.status["runs"][0]["failures_by_kind"]  # type: ignore[index]
    logged = Counter(str(line["kind"]) for line in
                     fault_run.events("feed_failed") + fault_run.events("article_failed"))
    assert by_kind == dict(logged)


# --- runs with a configuration of their own -------------------------------------------------


def test_loopback_feed_is_refused_as_blocked_address_unless_allowed(tmp_path: Path) -> None:
    with serve_site() as site:
        story = invented_story("blocked")
        feed_url = serve_feed(site, "/feed.xml", [(story, serve_story(site, "/a.html", story))])
        names = {"ipv4-loopback": feed_url,
                 "localhost-name": feed_url.replace("127.0.0.1", "localhost"),
                 "ipv6-loopback": feed_url.replace("127.0.0.1", "[::1]"),
                 "metadata-address": "http://169.254.169.254/latest/meta-data/"}
        config = write_config(tmp_path / "config.toml",
                              database_url=f"sqlite:///{tmp_path / 'i.sqlite3'}",
                              corpus_dir=tmp_path / "corpus", feeds=list(names.items()),
                              fetch={"allow_private_addresses": False})
        fetch = run_cli("--config", str(config), "fetch", cwd=tmp_path)
        hits = dict(site.hits)
    assert fetch.returncode == 0, fetch.stderr
    assert hits == {}, "a request reached the loopback server"
    status = json.loads(run_cli("--config", str(config), "status", "--json",
                                cwd=tmp_path).stdout)
    assert {feed["name"]: feed["last_error_kind"] for feed in status["feeds"]} == \
        dict.fromkeys(names, "blocked_address")
    assert status["runs"][0]["failures_by_kind"] == {"blocked_address": len(names)}


def test_feed_failing_n_times_is_suspended_then_resumed(tmp_path: Path) -> None:
    with serve_site() as site:
        good = invented_story("suspend-control")
        back = [invented_story("comes-back-a"), invented_story("comes-back-b")]
        feeds = [("control", serve_feed(site, "/control.xml",
                                        [(good, serve_story(site, "/c.html", good))])),
                 ("flaky-a", site.url("/a.xml")), ("flaky-b", site.url("/b.xml"))]
        site.set("/a.xml", _status(500))
        site.set("/b.xml", _status(404))
        config_path = tmp_path / "config.toml"

        def configure(interval_b: float) -> Path:
            path = write_config(config_path, database_url=f"sqlite:///{tmp_path / 'i.sqlite3'}",
                                corpus_dir=tmp_path / "corpus", feeds=feeds,
                                schedule={"suspend_after_failures": 2})
            text = path.read_text(encoding="utf-8")
            # The configuration of flaky-b alone changes: its interval.
            marker = f'name = "flaky-b"\nurl = "{site.url("/b.xml")}"\ninterval_seconds = 1'
            path.write_text(text.replace(marker, marker[:-1] + f"{interval_b:g}"),
                            encoding="utf-8")
            return path

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            result = run_cli("--config", str(config_path), *args, cwd=tmp_path)
            assert result.returncode == 0, result.stderr
            return result

        configure(1)
        cli("fetch")
        cli("fetch")
        text = cli("status").stdout
        assert "resume with: source-ingest feeds resume flaky-a" in text
        assert "resume with: source-ingest feeds resume flaky-b" in text
        report = json.loads(cli("status", "--json").stdout)
        states = {feed["name"]: feed for feed in report["feeds"]}
        for name, kind in (("flaky-a", "http_server_error"), ("flaky-b", "http_not_found")):
            assert states[name]["health"] == "suspended"
            assert states[name]["consecutive_failures"] == 2
            assert states[name]["last_error_kind"] == kind
            assert states[name]["next_poll_at"] is None
        assert states["control"]["health"] == "ok"

        hits_before = (site.hit_count("/a.xml"), site.hit_count("/b.xml"))
        cli("fetch")  # suspended feeds are not polled
        assert (site.hit_count("/a.xml"), site.hit_count("/b.xml")) == hits_before

        serve_feed(site, "/a.xml", [(back[0], serve_story(site, "/back-a.html", back[0]))])
        serve_feed(site, "/b.xml", [(back[1], serve_story(site, "/back-b.html", back[1]))])
        assert "flaky-a: resumed" in cli("feeds", "resume", "flaky-a").stdout
        configure(2)  # flaky-b comes back because its configuration changed
        cli("fetch")
    report = json.loads(cli("status", "--json").stdout)
    states = {feed["name"]: feed for feed in report["feeds"]}
    assert states["flaky-a"]["health"] == "ok" and states["flaky-a"]["articles_stored"] == 1
    assert states["flaky-b"]["health"] == "ok" and states["flaky-b"]["articles_stored"] == 1
    assert {story.corpus_text() for story in [good, *back]} == set(
        corpus_texts(tmp_path / "corpus"))
    assert run_cli("--config", str(config_path), "verify", cwd=tmp_path).returncode == 0
