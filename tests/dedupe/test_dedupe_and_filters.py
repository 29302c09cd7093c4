"""Duplicates, near duplicates and topic filters, through the real command."""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from datetime import date
from pathlib import Path

from ingest.dedupe.near_duplicates import estimated_similarity, text_signature
from ingest.dedupe.normalize import normalize_paragraph, normalize_text
from ingest.records import content_hash
from tests.cli_runner import run_cli, write_config
from tests.loopback import Route, serve_site
from tests.newsfixtures import FakeStory, news_page, rss_feed

WIRE = (
    "The government approved a new programme on Tuesday to support the families of people "
    "who went missing during the conflict, the ministry of labour said in a statement.",
    "Under the programme, each family will receive a monthly allowance and free access to "
    "psychological counselling, legal advice and vocational training for young relatives.",
    "The ministry said more than three thousand families would be eligible and that "
    "applications could be filed online or at regional social service centres from March.",
    "Officials added that the programme would be reviewed after two years together with "
    "representatives of the families and international humanitarian organisations.",
)
ORIGINAL = FakeStory(slug="wire-1", title="Families of the missing to get support",
                     paragraphs=("BAKU, February 4. " + WIRE[0], *WIRE[1:]),
                     published=date(2025, 2, 4))
REPUBLISHED = FakeStory(
    slug="wire-2", title="Support programme approved for families of missing persons",
    paragraphs=("GANJA, February 4. " + WIRE[0], *WIRE[1:],
                "The announcement was welcomed by the local council."),
    published=date(2025, 2, 4))
SAME_TOPIC = FakeStory(
    slug="other-1", title="Search teams resume work for the missing",
    paragraphs=(
        "Search teams resumed excavation work near the village on Wednesday after a pause "
        "caused by heavy snow, the state commission on missing persons said.",
        "Forensic experts from two countries are taking part in the work, which is expected to "
        "last until the end of the month if the weather allows.",
        "Relatives of the missing gathered near the site, some of them holding photographs of "
        "family members they have not seen for three decades.",
    ),
    published=date(2025, 2, 5))
SPORT = FakeStory(
    slug="sport-1", title="Local club wins the cup final",
    paragraphs=("The local football club won the national cup final on Sunday with a late "
                "goal in extra time, sending thousands of fans into the streets.",),
    published=date(2025, 2, 6))


def test_text_is_normalised_before_hashing() -> None:
    decomposed = "Cafe\u0301   au\tlait"
    assert normalize_text([decomposed, "  ", "Second\n line "]) == "Café au lait\n\nSecond line"
    assert content_hash(normalize_text(["Café au lait"])) == content_hash(
        normalize_text([decomposed]))


def test_every_unicode_whitespace_collapses_as_before_so_stored_hashes_still_match() -> None:
    # The normal form is an article's identity: the collapse must treat exactly what the
    # regular expression `\s+` did as whitespace (hashes stored before must still match).
    every_character = "".join(
        chr(point) + "x" for point in range(sys.maxunicode + 1)
        if not 0xD800 <= point <= 0xDFFF)
    before = re.sub(r"\s+", " ", unicodedata.normalize("NFC", every_character)
                    .translate(dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad")))
                    ).strip()
    assert normalize_paragraph(every_character) == before
    assert normalize_paragraph(" \u00a0a\u3000\u2028 b\t\n") == "a b"


def test_republished_wire_story_is_similar_and_other_story_is_not() -> None:
    original = text_signature("\n\n".join(ORIGINAL.paragraphs))
    republished = text_signature("\n\n".join(REPUBLISHED.paragraphs))
    other = text_signature("\n\n".join(SAME_TOPIC.paragraphs))
    assert original and republished and other
    assert estimated_similarity(original.values, republished.values) >= 0.8
    assert estimated_similarity(original.values, other.values) < 0.3


def _run(tmp_path: Path, sqlite_url: str, batches: list[list[FakeStory]],
         extra: str = "") -> list[dict]:
    """Fetch once per batch (the feed grows by each batch); return the runs, oldest first."""
    with serve_site() as site:
        items: list[tuple[FakeStory, str]] = []
        config = write_config(tmp_path / "c.toml", database_url=sqlite_url,
                              corpus_dir=tmp_path / "seeds",
                              feeds=[("wire", site.url("/feed.xml"))], extra=extra)
        for batch in batches:
            for story in batch:
                path = f"/news/{story.slug}.html"
                site.set(path, Route(news_page(story).encode()))
                items.append((story, site.url(path)))
            site.set("/feed.xml", Route(rss_feed(items).encode(),
                                        content_type="application/rss+xml"))
            result = run_cli("--config", str(config), "fetch", cwd=tmp_path)
            assert result.returncode == 0, result.stderr
        status = run_cli("--config", str(config), "status", "--json", cwd=tmp_path)
    return list(reversed(json.loads(status.stdout)["runs"]))


def test_near_duplicate_is_recorded_not_stored_and_same_topic_story_is_kept(
        tmp_path: Path, sqlite_url: str) -> None:
    first, second = _run(tmp_path, sqlite_url, [[ORIGINAL, SAME_TOPIC], [REPUBLISHED]])
    assert (first["articles_stored"], first["near_duplicates"]) == (2, 0)
    assert (second["articles_stored"], second["near_duplicates"]) == (0, 1)
    stored = {p.read_text(encoding="utf-8") for p in (tmp_path / "seeds").glob("*.txt")}
    assert stored == {ORIGINAL.corpus_text(), SAME_TOPIC.corpus_text()}


def test_topic_filter_keeps_matching_articles_only(tmp_path: Path, sqlite_url: str) -> None:
    [run] = _run(tmp_path, sqlite_url, [[SAME_TOPIC, SPORT]],
               extra='[filters]\ninclude = ["missing persons", "re:\\\\bmissing\\\\b"]\n')
    assert (run["articles_stored"], run["filtered"]) == (1, 1)
    stored = {p.read_text(encoding="utf-8") for p in (tmp_path / "seeds").glob("*.txt")}
    assert stored == {SAME_TOPIC.corpus_text()}
