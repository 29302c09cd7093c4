"""The whole story: a site changes its layout, the feed turns `extraction_degraded`, the operator
adds a `keep` rule, `reextract` repairs the damaged articles from the archive under their own
sequence numbers (beside the running service), `verify` passes and the feed is healthy again.
Some of the redesigned pages give no text at all: their pages are archived all the same, and
`reextract` recovers them as new articles once the rule is there."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from storage.corpus import read_corpus_file
from tests.cli_runner import run_cli, start_cli, write_config
from tests.faultserver import invented_story, serve_feed
from tests.loopback import LoopbackSite, Route, serve_site
from tests.newsfixtures import FakeStory, news_page

GOOD, BROKEN, EMPTY = 12, 6, 3


def _story(number: int) -> FakeStory:
    parts = [invented_story(f"repair-{number}-{part}") for part in "abc"]
    first = parts[0].paragraphs[0]
    return FakeStory(slug=f"repair-{number}", title=parts[0].title,
                     paragraphs=tuple(p for part in parts for p in part.paragraphs),
                     published=parts[0].published,
                     summary="In brief: " + first.split(".")[0] + ".")


def _new_layout(story: FakeStory) -> str:
    """The redesign: a standfirst shows, the story ships hidden for a script to reveal."""
    return news_page(story).replace(
        '<div class="story-body">',
        f'<p class="standfirst">{story.summary}</p>\n'
        '      <div class="story-body d-none" data-reveal="story">')


def _empty_layout(story: FakeStory) -> str:
    """The redesign's feature pages: the story ships in a <noscript> for a script to render,
    so nothing of it is page text and extraction finds no article at all."""
    head, tail = news_page(story).split('<div class="story-body">')
    return head + '<noscript class="story-body">' + tail.replace("</div>", "</noscript>", 1)


def _serve(site: LoopbackSite, stories: list[FakeStory], broken_from: int,
           empty_from: int | None = None) -> str:
    items = []
    for number, story in enumerate(stories):
        page = _empty_layout(story) if empty_from is not None and number >= empty_from \
            else _new_layout(story) if number >= broken_from else news_page(story)
        site.set(f"/news/{number}.html", Route(page.encode("utf-8")))
        items.append((story, site.url(f"/news/{number}.html")))
    return serve_feed(site, "/rss.xml", items)


def _status(config: Path, cwd: Path) -> dict[str, object]:
    result = run_cli("--config", str(config), "status", "--json", "--runs", "20", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _feed(status: dict[str, object]) -> dict[str, object]:
    feeds = status["feeds"]
    assert isinstance(feeds, list)
    return feeds[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _by_sequence(corpus: Path) -> dict[int, tuple[str, str]]:
    found = {}
    for path in corpus.glob("*.txt"):
        document = read_corpus_file(path)
        found[document.sequence] = (path.name, document.text)
    return found


@pytest.mark.timeout(240)
def test_a_layout_change_is_noticed_and_repaired_from_the_archive(
        tmp_path: Path, database_url: str) -> None:
    corpus = tmp_path / "corpus"
    stories = [_story(number) for number in range(GOOD + BROKEN + EMPTY)]
    texts = ["\n\n".join(story.paragraphs) for story in stories]
    with serve_site() as site:
        feed_url = _serve(site, stories[:GOOD], broken_from=GOOD)
        config = write_config(tmp_path / "config.toml", database_url=database_url,
                              corpus_dir=corpus, feeds=[("daily", feed_url)])
        assert run_cli("--config", str(config), "fetch", cwd=tmp_path).returncode == 0
        assert _feed(_status(config, tmp_path))["health"] == "ok"

        # The site redesigns: its next articles come out as their standfirst alone.
        _serve(site, stories, broken_from=GOOD, empty_from=GOOD + BROKEN)
        fetched = run_cli("--config", str(config), "fetch", cwd=tmp_path)
        assert fetched.returncode == 0, fetched.stderr
        assert '"event": "extraction_degraded"' in fetched.stderr
        feed = _feed(_status(config, tmp_path))
        assert feed["health"] == "extraction_degraded"
        assert "median text" in str(feed["extraction_degraded"])
        text_status = run_cli("--config", str(config), "status", cwd=tmp_path).stdout
        assert "extraction degraded: the last 5 articles' median text" in text_status
        before = _by_sequence(corpus)
        assert len(before) == GOOD + BROKEN
        damaged = {sequence for sequence, (_, text) in before.items() if text not in texts}
        assert len(damaged) == BROKEN
        assert fetched.stderr.count('"kind": "no_article_text"') == EMPTY

        # The operator finds the story's container and adds a rule for it.
        config.write_text(config.read_text().replace(
            'interval_seconds = 1\n', 'interval_seconds = 1\n\n[feeds.extraction]\n'
                                      'keep = [".story-body"]\n', 1))
        port = _free_port()
        service = start_cli("--config", str(config), "run", "--http", f"127.0.0.1:{port}",
                            cwd=tmp_path)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the service did not answer"
                time.sleep(0.2)
            api = httpx.get(f"{base}/api/status", timeout=10).json()
            assert [f["health"] for f in api["feeds"] if f["name"] == "daily"] == \
                ["extraction_degraded"]
            assert 'source_ingest_feed_extraction_degraded{feed="daily"} 1' in \
                httpx.get(f"{base}/metrics", timeout=10).text

            dry = run_cli("--config", str(config), "reextract", "--feed", "daily",
                          "--dry-run", cwd=tmp_path)
            assert dry.returncode == 0, dry.stderr
            assert f"changed           {BROKEN} (would be rewritten)" in dry.stdout
            assert f"articles checked  {GOOD + BROKEN + EMPTY}" in dry.stdout
            assert f"recovered         {EMPTY} (failed pages that give text now)" in dry.stdout
            listed = [line.split() for line in dry.stdout.splitlines()
                      if line.strip() and line.split()[0].replace(".", "").isdigit()]
            similarities = [float(row[0]) for row in listed]
            assert len(listed) == BROKEN and similarities == sorted(similarities)
            assert {int(row[1]) for row in listed} == damaged
            assert _by_sequence(corpus) == before  # a dry run changes nothing

            repaired = run_cli("--config", str(config), "reextract", "--feed", "daily",
                               cwd=tmp_path)
            assert repaired.returncode == 0, repaired.stderr
            assert f"changed           {BROKEN} (rewritten)" in repaired.stdout
            assert f"recovered         {EMPTY} (failed pages that give text now, stored)" \
                in repaired.stdout
        finally:
            service.send_signal(signal.SIGTERM)
            service.communicate(timeout=30)

    after = _by_sequence(corpus)
    # Same sequence numbers, the full stories now, under names that follow the new hashes.
    recovered = set(after) - set(before)
    assert set(before) < set(after) and len(recovered) == EMPTY
    assert sorted(text for _, text in after.values()) == sorted(texts)
    for sequence in damaged:
        assert after[sequence][0] != before[sequence][0]
        assert after[sequence][0].startswith(before[sequence][0].split("_")[0] + "_")
    assert len(list(corpus.iterdir())) == GOOD + BROKEN + EMPTY
    verify = run_cli("--config", str(config), "verify", cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout
    status = _status(config, tmp_path)
    assert _feed(status)["health"] == "ok"
    assert _feed(status)["extraction_degraded"] is None
    runs = [run for run in status["runs"]  # type: ignore[union-attr]
            if run["trigger"] == "reextract"]
    assert len(runs) == 1 and runs[0]["articles_stored"] == BROKEN + EMPTY
    events = runs[0]["article_events"]
    assert sorted(event["sequence"] for event in events) == sorted(damaged | recovered)
    assert all(event["kind"] == ("recovered" if event["sequence"] in recovered else "rewritten")
               and event["new_file"] == after[event["sequence"]][0] for event in events)
