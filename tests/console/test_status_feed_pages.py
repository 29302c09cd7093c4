"""The status of many feeds: every feed counted by health, a page of them listed, the troubled
first, filtered by health or one feed by name (what `/api/status`, `status` and the page show)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from config.settings import FeedSettings, Settings
from ingest.console.status import (
    FeedPage,
    StatusReport,
    build_status,
    parse_health_filter,
    render_status,
    status_as_json,
)
from ingest.records import EntryOutcome, FailureKind, FeedHealth, RunTrigger
from storage.database import utcnow
from storage.feeds import PollSuccess
from storage.index import CorpusIndex, open_index

OWNER = "test-writer"
# name -> what happened to it; the names sort otherwise than their health does.
FEEDS = {"alpha": "ok", "beta": "fails", "delta": "never polled", "epsilon": "disabled",
         "eta": "extraction degraded", "gamma": "suspended", "omega": "ok",
         "zeta": "most articles fail"}
TROUBLED_FIRST = ["beta", "zeta", "gamma", "epsilon", "delta", "alpha", "omega", "eta"]


@pytest.fixture
def index(database_url: str) -> Iterator[CorpusIndex]:
    index = open_index(database_url)
    now = utcnow()
    configured = [FeedSettings(name=name, url=f"https://{name}.example/rss",
                               interval_seconds=900) for name in [*FEEDS, "gone"]]
    index.sync_feeds(configured, now)
    polled = [name for name, what in FEEDS.items() if what not in ("never polled", "fails",
                                                                    "suspended")]
    index.record_poll_successes([PollSuccess(name, now, now + timedelta(minutes=15), None, None)
                                 for name in [*polled, "gone"]], OWNER)
    index.record_poll_failure("beta", OWNER, now, FailureKind.TIMEOUT, "read timed out",
                              lambda failures: (now, False))
    index.record_poll_failure("gamma", OWNER, now, FailureKind.HTTP_NOT_FOUND, "HTTP 404",
                              lambda failures: (now, True))
    index.set_extraction_degraded("eta", "no article text in the last 5 articles")
    earlier = index.start_run(RunTrigger.SCHEDULE, OWNER, now - timedelta(hours=1))
    last = index.start_run(RunTrigger.SCHEDULE, OWNER, now)
    # zeta stored everything once; in its last run 2 of 3 articles failed.
    for key, status, run in (("z1", EntryOutcome.STORED, earlier),
                             ("z2", EntryOutcome.STORED, last),
                             ("z3", EntryOutcome.FAILED, last),
                             ("z4", EntryOutcome.FAILED, last)):
        index.record_entry("zeta", key, f"https://zeta.example/{key}", status, run_id=run,
                           failure_kind=FailureKind.HTTP_NOT_FOUND
                           if status is EntryOutcome.FAILED else None)
    # alpha's last run lost one article of three: not most of them.
    for key, status in (("a1", EntryOutcome.STORED), ("a2", EntryOutcome.STORED),
                        ("a3", EntryOutcome.FAILED)):
        index.record_entry("alpha", key, f"https://alpha.example/{key}", status, run_id=last,
                           failure_kind=FailureKind.TIMEOUT
                           if status is EntryOutcome.FAILED else None)
    try:
        yield index
    finally:
        index.close()


def settings() -> Settings:
    # "gone" is in the index but no longer configured: it is neither listed nor counted.
    return Settings(feeds=tuple(
        FeedSettings(name=name, url=f"https://{name}.example/rss", interval_seconds=900,
                     enabled=what != "disabled") for name, what in FEEDS.items()))


def names(report: StatusReport) -> list[str]:
    return [feed.name for feed in report.feeds]


def test_every_feed_is_counted_by_health_and_the_troubled_come_first(
        index: CorpusIndex) -> None:
    report = build_status(settings(), index, runs=5)
    assert names(report) == TROUBLED_FIRST
    served = status_as_json(report)
    assert [feed["health"] for feed in served["feeds"]] == [
        "failing", "failing", "suspended", "disabled", "new", "ok", "ok",
        "extraction_degraded"]
    assert served["feeds_by_health"] == {"failing": 2, "suspended": 1, "disabled": 1,
                                         "busy": 0, "new": 1, "ok": 2,
                                         "extraction_degraded": 1}
    assert (served["feeds_total"], served["feeds_matching"], served["feeds_offset"]) == \
        (8, 8, 0)
    assert served["feeds_summary"] == \
        "2 failing, 1 suspended, 1 disabled, 1 new, 2 ok, 1 extraction_degraded"
    zeta = next(feed for feed in served["feeds"] if feed["name"] == "zeta")
    assert zeta["health_reason"] == \
        "2 of 3 articles failed in its last run, mostly http_not_found"
    assert zeta["articles"]["last_run"] == {"stored": 1, "failed": 2,
                                            "failures_by_kind": {"http_not_found": 2}}
    assert zeta["articles"]["last_24h"]["stored"] == 2
    alpha = next(feed for feed in served["feeds"] if feed["name"] == "alpha")
    assert alpha["health"] == "ok" and alpha["articles"]["last_run"]["failed"] == 1


def test_pages_of_feeds_put_together_are_the_whole_list(index: CorpusIndex) -> None:
    pages = [build_status(settings(), index, runs=5, page=FeedPage(limit=3, offset=offset))
             for offset in (0, 3, 6)]
    assert [names(page) for page in pages] == [TROUBLED_FIRST[0:3], TROUBLED_FIRST[3:6],
                                               TROUBLED_FIRST[6:]]
    assert [(page.feeds_matching, page.feeds_offset, page.feeds_total) for page in pages] == \
        [(8, 0, 8), (8, 3, 8), (8, 6, 8)]
    # The counts are over every feed, whichever page is read; articles only for the page's.
    assert all(page.headline() == pages[0].headline() for page in pages)
    assert set(pages[0].articles) <= set(TROUBLED_FIRST[0:3])
    past_the_end = build_status(settings(), index, runs=5, page=FeedPage(offset=50))
    assert past_the_end.feeds == () and past_the_end.feeds_matching == 8


def test_feeds_zero_gives_the_counts_only(index: CorpusIndex) -> None:
    report = build_status(settings(), index, runs=5, page=FeedPage(limit=0))
    served = status_as_json(report)
    assert served["feeds"] == [] and served["feeds_total"] == 8
    assert served["feeds_by_health"]["failing"] == 2
    assert "feeds: 2 failing, 1 suspended" in render_status(report).splitlines()[0]


def test_health_filter_and_one_feed_by_name(index: CorpusIndex) -> None:
    troubled = build_status(settings(), index, runs=5, page=FeedPage(
        health=parse_health_filter("suspended,failing")))
    assert names(troubled) == ["beta", "zeta", "gamma"]
    assert (troubled.feeds_matching, troubled.feeds_total) == (3, 8)
    one = build_status(settings(), index, runs=5, page=FeedPage(name="omega"))
    assert names(one) == ["omega"] and one.feeds_matching == 1
    assert status_as_json(one)["feeds"][0]["health"] == "ok"
    neither = build_status(settings(), index, runs=5, page=FeedPage(
        name="omega", health=frozenset({FeedHealth.FAILING})))
    assert neither.feeds == () and neither.feeds_matching == 0


def test_unknown_health_names_the_choices() -> None:
    assert parse_health_filter("ok") == {FeedHealth.OK}
    with pytest.raises(ValueError, match=r"unknown health 'broken' \(one of failing, suspended, "):
        parse_health_filter("failing,broken")
    with pytest.raises(ValueError, match="unknown health ''"):
        parse_health_filter("failing,")


def test_status_text_says_which_feeds_it_shows(index: CorpusIndex) -> None:
    whole = render_status(build_status(settings(), index, runs=5, page=FeedPage(limit=None)))
    assert "showing" not in whole
    page = render_status(build_status(settings(), index, runs=5,
                                      page=FeedPage(limit=2, offset=2)), width=200)
    listed = [line.split()[0] for line in page.splitlines()
              if line.startswith("  ") and not line.startswith("      ")
              and line.split()[0] in FEEDS]
    assert listed == TROUBLED_FIRST[2:4]
    assert "  showing 3-4 of 8 feeds, the troubled first; more with --feeds N, --offset N" \
        in page
    only_ok = render_status(build_status(settings(), index, runs=5, page=FeedPage(
        limit=1, health=frozenset({FeedHealth.OK}))), width=200)
    assert "showing 1-1 of 2 feeds (8 in all)" in only_ok
    nothing = render_status(build_status(settings(), index, runs=5, page=FeedPage(
        health=frozenset({FeedHealth.BUSY}))))
    assert "no feed has that health" in nothing
