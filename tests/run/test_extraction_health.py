"""Extraction health: a feed whose articles fall well below its own history is degraded, and
the defaults stay quiet over the normal variation of real pages."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from config.loading import parse_settings
from config.settings import ExtractionHealthSettings, FeedSettings
from config.sources import ConfigError
from ingest.extract.summary_match import summary_found
from ingest.records import ExtractionMethod, FeedEntry, IngestFailure
from ingest.run.extraction_health import ArticleSignal, extraction_verdict
from ingest.run.page_work import build_article
from tests.shared_data import SHARED_ARTICLES, SHARED_ARTICLES_DEV

DEFAULTS = ExtractionHealthSettings()
FULL = ArticleSignal(text_length=4000, weak=False, summary_found=True)
TEASER = ArticleSignal(text_length=300, weak=False, summary_found=True)
NO_TEXT = ArticleSignal(text_length=0, weak=True, summary_found=None)
FALLBACK = ArticleSignal(text_length=3000, weak=True, summary_found=True)
MISSED = ArticleSignal(text_length=3500, weak=False, summary_found=False)


def _newest_first(*runs: tuple[ArticleSignal, int]) -> list[ArticleSignal]:
    """Signals in the order they were stored, given oldest first, as the index reads them."""
    signals = [signal for signal, count in runs for _ in range(count)]
    return signals[::-1]


def test_a_healthy_history_then_teasers_only_is_degraded_with_a_reason() -> None:
    assert extraction_verdict(_newest_first((FULL, 20)), DEFAULTS) is None
    # The median of the last five: two short articles are variation, three a new layout.
    assert extraction_verdict(_newest_first((FULL, 20), (TEASER, 2)), DEFAULTS) is None
    reason = extraction_verdict(_newest_first((FULL, 20), (TEASER, 3)), DEFAULTS)
    assert reason == "the last 5 articles' median text is 300 characters against 4000 before"


@pytest.mark.parametrize(("bad", "expected"), [
    (NO_TEXT, "no article text in the last 5 articles"),
    (FALLBACK, "100% of the last 5 articles had no text or only the fallback method's, "
               "against 0% before"),
    (MISSED, "the feed's summary is in none of the last 5 articles, against 100% before"),
])
def test_each_signal_of_a_broken_layout_degrades_the_feed(bad: ArticleSignal,
                                                          expected: str) -> None:
    assert extraction_verdict(_newest_first((FULL, 20), (bad, 5)), DEFAULTS) == expected


def test_a_feed_whose_articles_all_fail_is_degraded_without_any_history() -> None:
    assert extraction_verdict([NO_TEXT] * 5, DEFAULTS) == \
        "no article text in the last 5 articles"
    # Too little history for a baseline: no verdict on length.
    assert extraction_verdict(_newest_first((FULL, 3), (TEASER, 5)), DEFAULTS) is None


def test_recovery_clears_the_verdict_once_recent_articles_are_whole_again() -> None:
    assert extraction_verdict(_newest_first((FULL, 20), (TEASER, 5), (FULL, 5)),
                              DEFAULTS) is None


def test_summary_found_compares_words_not_characters() -> None:
    text = "The regional council approved the budget on Tuesday after a long debate."
    assert summary_found("Council approves budget after long debate on Tuesday", text)
    assert not summary_found("Storm closes the mountain pass for a third winter", text)
    assert summary_found("Read more", text) is None


def test_the_thresholds_come_from_the_configuration() -> None:
    settings = parse_settings({"extraction_health": {"recent": 3, "length_ratio": 0.5}}, {})
    assert settings.extraction_health.recent == 3
    assert settings.extraction_health.length_ratio == 0.5
    with pytest.raises(ConfigError, match=r"extraction_health\.length_ratio"):
        parse_settings({"extraction_health": {"length_ratio": 2.0}}, {})


def _summary(truth: str) -> str:
    """A feed summary as feeds write one: the start of the story's longest paragraph."""
    paragraphs = [paragraph for paragraph in truth.split("\n") if paragraph.strip()]
    return " ".join(max(paragraphs, key=len).split()[:30]) if paragraphs else ""


def _signals_of_real_pages(folder: Path, per_group: int) -> dict[str, list[ArticleSignal]]:
    listed = {}
    if (folder / "index.json").exists():
        listed = {item["name"]: item for item in
                  json.loads((folder / "index.json").read_text(encoding="utf-8"))}
    groups: dict[str, list[ArticleSignal]] = defaultdict(list)
    for page in sorted(folder.glob("*.html")):
        group = page.name.split("-")[0]
        if len(groups[group]) >= per_group:
            continue
        truth = page.with_suffix(".txt").read_text(encoding="utf-8", errors="replace")
        url = listed.get(page.stem, {}).get("url") or f"https://{group}.example/{page.stem}"
        title = listed.get(page.stem, {}).get("title") or ""
        summary = _summary(truth)
        entry = FeedEntry(feed_name=group, key=page.stem, url=url, title=title,
                          summary_html=summary, content_html="", published=None)
        feed = FeedSettings(name=group, url=f"https://{group}.example/feed",
                            interval_seconds=900)
        html = page.read_bytes().decode("utf-8", errors="replace")
        try:
            article = build_article(feed, entry, html, url)
        except IngestFailure:
            groups[group].append(ArticleSignal(text_length=0, weak=True, summary_found=None))
            continue
        groups[group].append(ArticleSignal(
            text_length=len(article.text), weak=article.method is ExtractionMethod.FALLBACK,
            summary_found=article.summary_found))
    return groups


@pytest.mark.timeout(300)
def test_default_thresholds_do_not_fire_on_the_normal_variation_of_real_pages() -> None:
    """Each data set's pages in a row, as if one feed had published them: many sites, so far
    more varied than one site's articles; at every point of that history the defaults see a
    healthy feed."""
    groups = _signals_of_real_pages(SHARED_ARTICLES_DEV, per_group=80)
    groups.update({f"articles-{name}": signals for name, signals in
                   _signals_of_real_pages(SHARED_ARTICLES, per_group=40).items()})
    assert sum(len(signals) for signals in groups.values()) > 300
    fired = []
    for name, signals in groups.items():
        for end in range(DEFAULTS.recent, len(signals) + 1):
            reason = extraction_verdict(signals[:end][::-1], DEFAULTS)
            if reason is not None:
                fired.append(f"{name} after {end} pages: {reason}")
    assert not fired, fired
