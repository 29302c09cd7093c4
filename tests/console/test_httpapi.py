"""The HTTP status API as an operator and a scraper meet it: the real `run --http` command.

The service runs as a subprocess against a SQLite index, polling a real loopback feed server; the
tests talk to it with httpx (and a raw socket for malformed requests).
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from config.sources import ConfigError
from ingest.console.http_api import Listen, parse_listen
from tests.cli_runner import run_cli, start_cli, write_config
from tests.end_to_end.test_end_to_end import ASSEMBLY, MISSING
from tests.loopback import LoopbackSite, Route, serve_site
from tests.newsfixtures import news_page, rss_feed

TOKEN = "s3cret-token-for-tests"
_METRIC_LINE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? '
    r"(-?[0-9.e+-]+|\+Inf|-Inf|NaN)$")


@dataclass
class ServiceProcess:
    """`source-ingest run --http 127.0.0.1:0`; the port is read from its `http_listening` log."""

    process: subprocess.Popen[str]
    config: Path
    lines: list[str] = field(default_factory=list)
    port: int | None = None
    listening: threading.Event = field(default_factory=threading.Event)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:  # read continuously: a full pipe would block it
            self.lines.append(line)
            if '"http_listening"' in line:
                self.port = json.loads(line)["port"]
                self.listening.set()

    def stop(self) -> float:
        """SIGTERM; returns how long the service took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=15)
        return time.monotonic() - started

    @property
    def stderr(self) -> str:
        return "".join(self.lines)


def serve_news(site: LoopbackSite) -> None:
    """A healthy feed with two stories; `/missing.xml` stays a 404 for the failing feed."""
    site.set("/news/1.html", Route(news_page(MISSING).encode("utf-8")))
    site.set("/news/2.html", Route(news_page(ASSEMBLY).encode("utf-8")))
    feed = rss_feed([(MISSING, site.url("/news/1.html")), (ASSEMBLY, site.url("/news/2.html"))])
    site.set("/world.xml", Route(feed.encode("utf-8"), content_type="application/rss+xml"))


def service_config(folder: Path, site: LoopbackSite) -> Path:
    return write_config(folder / "config.toml",
                        database_url=f"sqlite:///{folder / 'index.sqlite3'}",
                        corpus_dir=folder / "seeds",
                        feeds=[("world", site.url("/world.xml")),
                               ("broken", site.url("/missing.xml"))])


@contextmanager
def running_service(folder: Path, site: LoopbackSite, token: str | None = None,
                    wait_for_articles: int = 2) -> Iterator[ServiceProcess]:
    config = service_config(folder, site)
    env = {"SOURCE_INGEST_HTTP_TOKEN": token} if token else None
    process = start_cli("--config", str(config), "run", "--http", "127.0.0.1:0", cwd=folder,
                        env=env)
    service = ServiceProcess(process, config)
    reader = threading.Thread(target=service._read_stderr, daemon=True)
    reader.start()
    try:
        if not service.listening.wait(30):
            raise AssertionError(f"the service did not start listening:\n{service.stderr}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = httpx.get(f"{service.base}/api/status").json()
            if status["articles_stored"] >= wait_for_articles and len(status["feeds"]) == 2:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the first run did not store the stories:\n{service.stderr}")
        yield service
    finally:
        if process.poll() is None:
            service.stop()
        reader.join(timeout=5)


@pytest.fixture(scope="module")
def open_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One service without a token for the read-only tests (starting one takes a second)."""
    with serve_site() as site:
        serve_news(site)
        with running_service(tmp_path_factory.mktemp("open"), site) as service:
            yield service


# ---- listening address ----------------------------------------------------------------------

def test_listen_address_is_host_and_port() -> None:
    assert parse_listen("127.0.0.1:8080") == Listen("127.0.0.1", 8080)
    assert parse_listen("0.0.0.0:80") == Listen("0.0.0.0", 80)
    assert parse_listen("[::1]:9000") == Listen("::1", 9000)
    assert parse_listen("[::1]:9000").is_loopback
    assert parse_listen("localhost:1").is_loopback
    assert not parse_listen("0.0.0.0:8080").is_loopback
    for bad in ("8080", "127.0.0.1", "127.0.0.1:99999", "::1:80", "host:port", ""):
        with pytest.raises(ConfigError):
            parse_listen(bad)


@pytest.mark.timeout(60)
def test_serving_all_interfaces_without_token_is_refused(tmp_path: Path) -> None:
    with serve_site() as site:
        config = service_config(tmp_path, site)
        result = run_cli("--config", str(config), "run", "--http", "0.0.0.0:0", cwd=tmp_path,
                         timeout=30)
    assert result.returncode == 2
    assert "refusing to serve HTTP on 0.0.0.0:0 without a token" in result.stderr
    assert "SOURCE_INGEST_HTTP_TOKEN" in result.stderr and "[http] token" in result.stderr
    assert "Traceback" not in result.stderr
    # Nothing ran: the refusal comes before the scheduler starts.
    assert site.hit_count("/world.xml") == 0


# ---- probes, status, articles ---------------------------------------------------------------

@pytest.mark.timeout(60)
def test_probes_report_a_live_and_ready_service(open_service: ServiceProcess) -> None:
    health = httpx.get(f"{open_service.base}/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["scheduler_alive"] is True
    ready = httpx.get(f"{open_service.base}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready"}
    assert health.headers["x-content-type-options"] == "nosniff"
    assert health.headers["cache-control"] == "no-store"


@pytest.mark.timeout(60)
def test_api_status_is_what_status_json_prints(open_service: ServiceProcess) -> None:
    config = open_service.config
    printed = run_cli("--config", str(config), "status", "--json", "--runs", "3",
                      cwd=config.parent)
    assert printed.returncode == 0, printed.stderr
    expected = json.loads(printed.stdout)
    served = httpx.get(f"{open_service.base}/api/status", params={"runs": "3"}).json()
    # The service keeps polling between the two reads: compare the shape and stable values.
    assert served.keys() == expected.keys()
    assert served["articles_stored"] == expected["articles_stored"] == 2
    assert 1 <= len(expected["runs"]) <= len(served["runs"]) <= 3
    assert all(run.keys() == expected["runs"][0].keys() for run in served["runs"])
    assert [(feed["name"], feed.keys()) for feed in served["feeds"]] == \
        [(feed["name"], feed.keys()) for feed in expected["feeds"]]
    health = {feed["name"]: feed["health"] for feed in served["feeds"]}
    assert health == {"world": "ok", "broken": "failing"}
    bad = httpx.get(f"{open_service.base}/api/status", params={"runs": "0"})
    assert bad.status_code == 400 and "runs" in bad.json()["error"]


@pytest.mark.timeout(60)
def test_api_status_pages_and_filters_the_feeds_and_counts_them_all(
        open_service: ServiceProcess) -> None:
    url = f"{open_service.base}/api/status"
    whole = httpx.get(url).json()
    # The failing feed first, however the names sort.
    assert [feed["name"] for feed in whole["feeds"]] == ["broken", "world"]
    assert (whole["feeds_total"], whole["feeds_matching"], whole["feeds_offset"]) == (2, 2, 0)
    assert {health: n for health, n in whole["feeds_by_health"].items() if n} == \
        {"failing": 1, "ok": 1}
    assert whole["feeds_summary"] == "1 failing, 1 ok"
    second = httpx.get(url, params={"feeds": "1", "offset": "1"}).json()
    assert [feed["name"] for feed in second["feeds"]] == ["world"]
    assert (second["feeds_total"], second["feeds_offset"]) == (2, 1)
    summary = httpx.get(url, params={"feeds": "0"}).json()
    assert summary["feeds"] == [] and summary["feeds_by_health"] == whole["feeds_by_health"]
    ok = httpx.get(url, params={"health": "ok,new"}).json()
    assert [feed["name"] for feed in ok["feeds"]] == ["world"] and ok["feeds_matching"] == 1
    one = httpx.get(url, params={"feed": "broken"}).json()
    assert [feed["name"] for feed in one["feeds"]] == ["broken"]
    assert one["feeds"][0]["last_error_kind"] == "http_not_found"
    for params, message in (({"feeds": "1001"}, "feeds: must be 0 to 1000"),
                            ({"feeds": "-1"}, "feeds: must be 0 to 1000"),
                            ({"feeds": "ten"}, "feeds: not a whole number"),
                            ({"offset": "-5"}, "offset: must be 0 to"),
                            ({"health": "failing,sick"}, "health: unknown health 'sick'"),
                            ({"feed": "nope"}, "feed: no configured feed 'nope'"),
                            ({"feed": ["world", "broken"]}, "feed: one feed name at most")):
        answer = httpx.get(url, params=params)
        assert answer.status_code == 400, params
        assert message in answer.json()["error"], answer.json()


@pytest.mark.timeout(60)
def test_stored_articles_are_listed_counted_per_day_and_served_as_text(
        open_service: ServiceProcess) -> None:
    base = open_service.base
    articles = httpx.get(f"{base}/api/articles").json()["articles"]
    assert {article["title"] for article in articles} == {MISSING.title, ASSEMBLY.title}
    config = open_service.config
    for article in articles:
        text = httpx.get(base + article["text_url"])
        assert text.status_code == 200
        assert text.headers["content-type"] == "text/plain; charset=utf-8"
        assert text.content == (config.parent / "seeds" / article["file_name"]).read_bytes()
    assert MISSING.corpus_text() in {httpx.get(base + a["text_url"]).text for a in articles}
    for unknown in ("/articles/999", "/articles/-1", "/articles/..%2Fconfig.toml",
                    "/articles/0/../../config.toml"):
        assert httpx.get(base + unknown).status_code == 404, unknown

    days = httpx.get(f"{base}/api/articles-per-day", params={"days": "7"}).json()["days"]
    assert len(days) == 7
    assert days[-1]["articles"] == 2 and sum(day["articles"] for day in days) == 2

    failures = httpx.get(f"{base}/api/failures").json()["failures_by_kind"]
    assert failures[0]["kind"] == "http_not_found" and failures[0]["count"] >= 1
    assert "404" in failures[0]["explanation"]


@pytest.mark.timeout(60)
def test_metrics_are_prometheus_text(open_service: ServiceProcess) -> None:
    response = httpx.get(f"{open_service.base}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, float] = {}
    for line in response.text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$", line), line
            continue
        match = _METRIC_LINE.match(line)
        assert match, f"not a sample line: {line!r}"
        samples[line.rsplit(" ", 1)[0]] = float(match.group(4))
    assert samples['source_ingest_runs_total{trigger="schedule",state="finished"}'] >= 1
    assert samples["source_ingest_articles_stored_total"] == 2
    assert samples["source_ingest_corpus_articles"] == 2
    assert samples['source_ingest_failures_total{kind="http_not_found"}'] >= 1
    assert samples['source_ingest_feed_consecutive_failures{feed="broken"}'] >= 1
    assert samples['source_ingest_feed_consecutive_failures{feed="world"}'] == 0
    last_success = samples['source_ingest_feed_last_success_timestamp_seconds{feed="world"}']
    assert abs(time.time() - last_success) < 120
    assert 'source_ingest_feed_last_success_timestamp_seconds{feed="broken"}' not in samples
    buckets = [value for name, value in samples.items()
               if name.startswith("source_ingest_fetch_duration_seconds_bucket")]
    assert buckets == sorted(buckets) and buckets[-1] >= 3  # two pages and the feeds
    assert samples["source_ingest_fetch_duration_seconds_count"] == buckets[-1]
    for name in ("source_ingest_duplicates_total", "source_ingest_near_duplicates_total"):
        assert name in samples


# ---- malformed requests ---------------------------------------------------------------------

def _raw_exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes; the answer's status line and headers (the server may keep the
    connection open after them)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received and (chunk := conn.recv(65536)):
            received += chunk
    return received


@pytest.mark.timeout(60)
def test_malformed_and_oversized_requests_get_an_error_status(
        open_service: ServiceProcess) -> None:
    port = open_service.port
    assert port is not None
    assert _raw_exchange(port, b"NONSENSE\r\n\r\n").split(b" ")[1] == b"400"
    assert _raw_exchange(port, b"GET /healthz HTTP/1.1\r\nbad header\r\n\r\n") \
        .split(b" ")[1] == b"400"
    huge = b"GET /healthz HTTP/1.1\r\nX-Filler: " + b"a" * 20000 + b"\r\n\r\n"
    assert _raw_exchange(port, huge).split(b" ")[1] == b"400"  # aiohttp: header too long
    too_long = (b"POST /api/fetch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{}")
    assert _raw_exchange(port, too_long).split(b" ")[1] == b"413"
    chunked = (b"POST /api/fetch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert _raw_exchange(port, chunked).split(b" ")[1] == b"411"
    wrong_method = httpx.delete(f"{open_service.base}/api/status")
    assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["allow"]
    assert httpx.get(f"{open_service.base}/no/such/thing").status_code == 404


# ---- manual fetch ---------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_manual_fetch_without_token_is_accepted_from_localhost_only(
        open_service: ServiceProcess) -> None:
    base = open_service.base
    accepted = httpx.post(f"{base}/api/fetch")
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    assert isinstance(run_id, int)
    runs = httpx.get(f"{base}/api/status", params={"runs": "20"}).json()["runs"]
    assert {"id": run_id, "trigger": "manual"}.items() <= \
        next(run for run in runs if run["id"] == run_id).items()
    # DNS rebinding: a page served under another name that resolves to 127.0.0.1.
    rebound = httpx.post(f"{base}/api/fetch", headers={"Host": "attacker.example:80"})
    assert rebound.status_code == 403
    cross_site = httpx.post(f"{base}/api/fetch", headers={"Origin": "https://attacker.example"})
    assert cross_site.status_code == 403


@pytest.mark.timeout(90)
def test_manual_fetch_needs_the_token_and_validates_feed_names(tmp_path: Path) -> None:
    with serve_site() as site:
        serve_news(site)
        with running_service(tmp_path, site, token=TOKEN) as service:
            url = f"{service.base}/api/fetch"
            missing = httpx.post(url, json={"feeds": ["world"]})
            assert missing.status_code == 401
            assert missing.headers["www-authenticate"].startswith("Bearer")
            wrong = httpx.post(url, json={"feeds": ["world"]},
                               headers={"Authorization": f"Bearer {TOKEN}x"})
            assert wrong.status_code == 401
            auth = {"Authorization": f"Bearer {TOKEN}"}
            unknown = httpx.post(url, json={"feeds": ["world", "nope"]}, headers=auth)
            assert unknown.status_code == 400
            assert unknown.json()["error"] == "unknown feed: nope"
            assert sorted(unknown.json()["feeds"]) == ["broken", "world"]
            assert httpx.post(url, content=b"feeds=world", headers={
                **auth, "Content-Type": "application/x-www-form-urlencoded"}).status_code == 415
            assert httpx.post(url, json={"feeds": []}, headers=auth).status_code == 400
            hits_before = site.hit_count("/world.xml")
            for _ in range(10):  # the scheduler polls "world" every second: it may hold it
                accepted = httpx.post(url, json={"feeds": ["world"]}, headers=auth)
                assert accepted.status_code == 202, accepted.text
                body = accepted.json()
                if not body["busy"]:
                    break
                time.sleep(0.3)
            assert body["accepted"] is True and body["feeds"] == ["world"]
            assert body["busy"] == []
            deadline = time.monotonic() + 20
            run: dict[str, object] = {}
            while time.monotonic() < deadline and run.get("state") != "finished":
                runs = httpx.get(f"{service.base}/api/status", params={"runs": "50"}).json()
                run = next(item for item in runs["runs"] if item["id"] == body["run_id"])
                time.sleep(0.1)
            assert run["trigger"] == "manual" and run["state"] == "finished"
            assert run["feeds_polled"] == 1
            assert site.hit_count("/world.xml") > hits_before
            # Reading needs no token.
            assert httpx.get(f"{service.base}/api/status").status_code == 200
            took = service.stop()
        assert took < 10
        assert service.process.returncode == 0, service.stderr
        assert TOKEN not in service.stderr


def test_entries_are_listed_with_their_fate_and_paged(open_service: ServiceProcess) -> None:
    base = open_service.base
    first = httpx.get(f"{base}/api/entries", params={"limit": 1}).json()
    second = httpx.get(f"{base}/api/entries",
                       params={"limit": 1, "offset": first["next_offset"]}).json()
    stored = httpx.get(f"{base}/api/entries", params={"state": "stored"}).json()
    assert len(first["entries"]) == 1 and len(second["entries"]) == 1
    assert first["entries"][0]["url"] != second["entries"][0]["url"]
    assert {entry["feed"] for entry in stored["entries"]} == {"world"}
    assert all(entry["file_name"] and entry["title"] for entry in stored["entries"])
    assert stored["next_offset"] is None
    found = httpx.get(f"{base}/api/entries", params={"search": "Red Cross forensic"}).json()
    assert [entry["title"] for entry in found["entries"]] == [ASSEMBLY.title]
    bad = httpx.get(f"{base}/api/entries", params={"state": "lost"})
    assert bad.status_code == 400 and "state" in bad.json()["error"]


def test_metrics_count_each_feeds_articles_and_health(open_service: ServiceProcess) -> None:
    text = httpx.get(f"{open_service.base}/metrics").text
    assert 'source_ingest_feed_articles{feed="world",window="24h",outcome="stored"} 2' in text
    assert 'source_ingest_feed_health{feed="world",health="ok"} 1' in text
    assert 'source_ingest_feed_health{feed="broken",health="failing"} 1' in text
