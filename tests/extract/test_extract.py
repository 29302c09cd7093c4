"""The article text, title and date a reader would recognise, from pages with all the furniture."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

from ingest.extract.article import extract_article
from ingest.records import ExtractedArticle, ExtractionHints, SiteRules

FIXTURES = Path(__file__).parent / "fixtures"
URL = "https://news.example.org/story"


def extract(name: str, url: str = URL, **kwargs: object) -> ExtractedArticle:
    html = (FIXTURES / f"{name}.html").read_text(encoding="utf-8")
    return extract_article(html, url, **kwargs)  # type: ignore[arg-type]


def text_of(article: ExtractedArticle) -> str:
    return "\n\n".join(article.paragraphs)


def test_share_bar_and_related_list_are_not_in_the_text() -> None:
    text = text_of(extract("share-bar-and-related-list"))
    assert "2,400 passengers a day" in text
    assert "refunded in full" in text
    for furniture in (
        "Share on Facebook",  # share bar
        "Storm leaves thousands",  # related articles
        "About time too",  # comments
        "We use cookies",  # cookie notice
        "morning briefing",  # newsletter prompt
        "Photograph: Port Authority",  # image caption
        "All rights reserved",  # footer
        "Sport",  # navigation
        "Mara Lindqvist",  # byline
    ):
        assert furniture not in text, furniture


def test_article_paragraphs_come_in_reading_order_with_subheadings() -> None:
    article = extract("share-bar-and-related-list")
    assert article.paragraphs == (
        "The cross-harbour ferry will run again from Monday after three weeks of repairs to the "
        "storm-damaged pier.",
        "The cross-harbour ferry, which carries about 2,400 passengers a day, has been suspended "
        "since the February storm tore loose two of the pier's mooring posts.",
        "Engineers from the port authority replaced the posts last week and inspectors signed off "
        "the work on Friday, a spokesperson said, adding that the first crossing would leave at "
        "6.40am.",
        "Timetable changes",
        "For the first fortnight the service will run every 30 minutes instead of every 20, while "
        "crews check the new posts under load, according to the operator.",
        "Commuters who bought monthly passes during the closure will be refunded in full, the "
        "operator confirmed, and a replacement bus will keep running until Wednesday.",
    )


def test_headline_is_the_title_not_a_paragraph() -> None:
    article = extract("share-bar-and-related-list")
    assert article.title == "Harbour ferry service to resume after storm repairs"
    assert article.title not in article.paragraphs


def test_feed_title_is_preferred_as_title() -> None:
    article = extract("share-bar-and-related-list", hints=ExtractionHints(title="Ferries back"))
    assert article.title == "Ferries back"


def test_list_items_quotes_and_headings_are_paragraphs_of_their_own() -> None:
    article = extract("lists-quotes-and-headings")
    assert "What goes where" in article.paragraphs
    assert "Glass bottles and jars, rinsed, go in the green box." in article.paragraphs
    assert any(p.startswith("We know change is a nuisance") for p in article.paragraphs)
    assert len(article.paragraphs) == 7


def test_double_line_break_splits_paragraphs_and_menu_cell_is_left_out() -> None:
    article = extract("br-separated-paragraphs")
    assert len(article.paragraphs) == 3
    assert article.paragraphs[1].startswith("More than 800 people attended")
    assert "Contact" not in text_of(article)


def test_date_keeps_publisher_offset_not_utc() -> None:
    # JSON-LD (in an @graph) says 23:30 at -04:00, which is already the next day in UTC.
    article = extract("date-with-publisher-offset")
    assert article.published == date(2024, 9, 3)
    assert article.date_source == "json-ld"


def test_feed_date_wins_over_the_page() -> None:
    hints = ExtractionHints(published=date(2024, 9, 4))
    article = extract("date-with-publisher-offset", hints=hints)
    assert (article.published, article.date_source) == (date(2024, 9, 4), "feed")


def test_date_from_well_known_meta_tag() -> None:
    article = extract("lists-quotes-and-headings")
    assert (article.published, article.date_source) == (date(2023, 6, 14), "meta")


def test_time_element_in_article_header_dates_the_article() -> None:
    article = extract("time-in-byline")
    assert (article.published, article.date_source) == (date(2023, 5, 2), "time")
    assert "Bookshop closes" not in text_of(article)


def test_no_date_when_only_related_articles_have_dates() -> None:
    article = extract("dates-only-in-related-articles")
    assert article.published is None
    assert article.date_source == ""
    assert "Museum opens new maritime wing" not in text_of(article)


def test_agency_dateline_dates_the_article_and_byline_line_is_dropped() -> None:
    article = extract("agency-dateline")
    assert (article.published, article.date_source) == (date(2024, 3, 14), "dateline")
    assert article.paragraphs[0].startswith("KHULNA, Mar 14, 2024 (NNA) - Farmers")


def test_page_without_article_gives_no_paragraphs() -> None:
    article = extract("page-without-article")
    assert article.paragraphs == ()


def test_feed_content_used_when_page_has_no_article() -> None:
    content = (
        "<p>The bridge will close for resurfacing from 9pm on Friday until 6am on Monday, "
        "the highways agency said.</p><p>Diversions will be signposted via the ring road, "
        "adding about ten minutes to most journeys across the river.</p><ul><li>Buses keep "
        "running on the old bridge, with extra services in the morning and the evening rush "
        "hour.</li></ul>"
    )
    article = extract("page-without-article", hints=ExtractionHints(content_html=content))
    assert article.paragraphs == (
        "The bridge will close for resurfacing from 9pm on Friday until 6am on Monday, the "
        "highways agency said.",
        "Diversions will be signposted via the ring road, adding about ten minutes to most "
        "journeys across the river.",
        "Buses keep running on the old bridge, with extra services in the morning and the "
        "evening rush hour.",
    )
    assert any("feed" in note for note in article.notes)


def test_site_prompts_and_notices_linking_to_its_own_service_pages_are_left_out() -> None:
    text = text_of(extract("site-prompts-and-notices", url="https://www.news.example.org/a"))
    assert "200 passengers a night" in text
    assert "Sign up for our weekly briefing" not in text  # newsletter on a subdomain
    assert "community guidelines" not in text  # comment rules, relative links
    assert "views in the comments below" not in text  # the rest of the comment rules' box
    # Another site's privacy policy, or the site's own story about privacy, is reporting.
    assert "bus operator's privacy policy" in text
    assert "fined in May over a privacy breach" in text


def test_italic_label_introducing_a_video_is_left_out() -> None:
    text = text_of(extract("site-prompts-and-notices"))
    assert "riders describe the journey home" not in text


def test_emphasised_notes_after_the_story_are_left_out_italic_quotes_inside_it_stay() -> None:
    article = extract("emphasised-notes-after-story")
    assert article.paragraphs[-1].startswith("Libraries that lend tools")
    assert "Ruth Okafor is a librarian" not in text_of(article)  # italic bio
    assert "Creative Commons" not in text_of(article)  # italic republication note
    assert "free articles" not in text_of(article)  # bold metering notice
    assert '"It is the busiest shelf we have' in text_of(article)


def test_emphasised_label_before_a_list_and_closing_italic_quote_stay() -> None:
    article = extract("emphasised-lines-that-are-story")
    assert "Ce qui change :" in article.paragraphs
    assert article.paragraphs[-1].startswith("« On s’y fera")


def test_date_line_and_headline_above_the_text_are_not_paragraphs() -> None:
    article = extract("date-line-and-headline-inside-story")
    assert article.paragraphs[0].startswith("Owners of flats will be able")
    assert len(article.paragraphs) == 3


def test_sentence_repeated_as_subhead_or_pull_quote_is_kept_once_short_lines_repeat() -> None:
    article = extract("pull-quote-repeats-body")
    repeated = (
        "Divers found the bicycles in a stretch of the canal barely two kilometres long, "
        "along with shopping trolleys and a piano."
    )
    assert article.paragraphs.count(repeated) == 1
    assert article.paragraphs.count("Q:") == 2


def test_sentence_mostly_made_of_a_link_stays_while_read_more_link_goes() -> None:
    text = text_of(extract("linked-sentence-and-read-more"))
    assert "Ministers say a new law will make bosses personally liable" in text
    assert "Swimmers warned" not in text


def test_drop_selector_from_config_removes_block() -> None:
    sponsor_note = "part of our regional farming series"
    assert sponsor_note in text_of(extract("editors-note-inside-body"))
    article = extract("editors-note-inside-body", rules=SiteRules(drop=(".house-note",)))
    assert sponsor_note not in text_of(article)
    assert len(article.paragraphs) == 3


def test_keep_selectors_from_config_make_the_article_their_union_in_page_order() -> None:
    rules = SiteRules(keep=(".story p:last-of-type", ".story h1 + p"))
    article = extract("dates-only-in-related-articles", rules=rules)
    assert [p[:20] for p in article.paragraphs] == ["A group of retired e", "It will go on displa"]


def test_invalid_selector_in_config_is_noted_and_the_rest_still_applies() -> None:
    rules = SiteRules(drop=("div[[", ".house-note"))
    article = extract("editors-note-inside-body", rules=rules)
    assert "regional farming series" not in text_of(article)
    assert any("div[[" in note for note in article.notes)


def test_extractor_does_not_load_trafilatura_or_bs4_for_pages() -> None:
    # Both are far slower than the parser used here; trafilatura is a benchmark-only extra.
    code = (
        "import sys; from pathlib import Path; from ingest.extract.article import extract_article; "
        f"extract_article(Path({str(FIXTURES / 'share-bar-and-related-list.html')!r})"
        ".read_text(), 'https://x.example/'); "
        "print(sorted(m for m in ('trafilatura', 'bs4') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).parent.parent,
    )
    assert result.stdout.strip() == "[]"
