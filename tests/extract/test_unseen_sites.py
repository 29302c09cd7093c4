"""Extraction on templates it was not tuned on: class words are evidence that the text
outweighs, boilerplate is dropped when markup and text agree, the right block wins, the
second method answers when the first is weak, and the cost stays linear."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

from ingest.extract.article import extract_article
from ingest.extract.density import candidate, choose, densest_paragraph, densest_run, is_weak
from ingest.extract.paragraphs import paragraphs_of
from ingest.extract.scoring import paragraph_weight, score_blocks
from ingest.records import ExtractedArticle, ExtractionHints, ExtractionMethod

FIXTURES = Path(__file__).parent / "fixtures"
URL = "https://news.example.org/story"
FIRST = "ending a closure that has lasted almost four years"
LAST = "the school and the surgery"


def extract(name: str, **kwargs: object) -> ExtractedArticle:
    html = (FIXTURES / f"{name}.html").read_text(encoding="utf-8")
    return extract_article(html, URL, **kwargs)  # type: ignore[arg-type]


def text_of(article: ExtractedArticle) -> str:
    return "\n\n".join(article.paragraphs)


def assert_whole_story(article: ExtractedArticle) -> None:
    text = text_of(article)
    assert FIRST in text and LAST in text, text
    assert "iron deck, built in 1887" in text and "ten weeks" in text, text


def test_blog_post_inside_a_widget_wrapper_written_as_br_lines_is_kept() -> None:
    article = extract("post-in-widget-wrapper-written-as-br-lines")
    assert_whole_story(article)
    assert "Notes from the valley" not in text_of(article)


def test_post_whose_category_classes_read_like_furniture_is_kept() -> None:
    assert_whole_story(extract("post-classed-by-its-categories"))


def test_text_field_with_a_hidden_label_is_kept() -> None:
    article = extract("text-field-with-hidden-label")
    assert_whole_story(article)
    assert "Transport" not in article.paragraphs


def test_text_in_embed_blocks_between_the_story_paragraphs_is_kept() -> None:
    article = extract("text-in-embed-blocks")
    assert_whole_story(article)
    assert "Watch the video" not in text_of(article)


def test_article_inside_a_grid_named_sidebar_is_kept_its_aside_is_not() -> None:
    article = extract("article-in-a-sidebar-grid")
    assert_whole_story(article)
    assert "Most read today" not in text_of(article)


def test_paragraphs_classed_paywalled_are_the_story() -> None:
    article = extract("paywalled-paragraphs")
    assert_whole_story(article)
    assert "Another story you may like" not in text_of(article)


def test_story_inside_an_element_named_byline_is_kept() -> None:
    assert_whole_story(extract("story-inside-a-byline-box"))


def test_comment_thread_longer_than_the_post_is_left_out() -> None:
    article = extract("comments-longer-than-the-post")
    assert_whole_story(article)
    assert "Comment number" not in text_of(article)
    assert article.method is ExtractionMethod.MAIN


def test_cookie_panel_holding_more_text_than_the_story_is_left_out() -> None:
    article = extract("cookie-panel-with-more-text-than-the-story")
    assert_whole_story(article)
    assert "unique identifiers" not in text_of(article)


def test_table_of_short_cells_in_the_story_outweighs_a_longer_side_note() -> None:
    article = extract("table-of-short-cells-in-the-story")
    text = text_of(article)
    assert "standings after twelve races" in text
    assert "Rider C" in article.paragraphs and "Points" in article.paragraphs
    assert "moderators" not in text


def test_page_whose_title_is_never_closed_still_gives_its_article() -> None:
    article = extract("title-never-closed")
    assert_whole_story(article)


def test_article_records_the_method_that_found_it() -> None:
    assert extract("share-bar-and-related-list").method is ExtractionMethod.MAIN
    assert extract("page-without-article").method is ExtractionMethod.NONE
    feed = ExtractionHints(content_html="<p>" + "The feed carried the whole story. " * 10 + "</p>")
    assert extract("page-without-article", hints=feed).method is ExtractionMethod.FEED_CONTENT


def _page(html: str):  # type: ignore[no-untyped-def]
    body = LexborHTMLParser(html).body
    assert body is not None
    page = paragraphs_of(body)
    weights = [paragraph_weight(p) for p in page.paragraphs]
    factors = score_blocks(page, weights).paragraph_factors(page)
    return page, weights, factors


def test_second_method_reads_the_densest_run_of_prose_across_elements() -> None:
    story = [
        "The harbour ferry will run again from Monday, after three weeks of repairs to the pier.",
        "Engineers replaced two mooring posts last week, and inspectors signed off on Friday.",
        "Commuters who bought passes during the closure will be refunded in full, it said.",
    ]
    html = (
        "<div><a href='/'>Home</a></div><div><a href='/n'>News</a></div>"
        f"<section><p>{story[0]}</p></section><div class='x'><p>{story[1]}</p></div>"
        f"<span><a href='/s'>Share</a></span><div><p>{story[2]}</p></div>"
        "<ul><li><a href='/1'>One</a></li><li><a href='/2'>Two</a></li>"
        "<li><a href='/3'>Three</a></li><li><a href='/4'>Four</a></li></ul>"
    )
    page, weights, factors = _page(html)
    run = densest_run(page, weights, factors)
    assert [page.paragraphs[i].text for i in run.indexes] == story


def test_weak_main_result_is_decided_by_the_second_method() -> None:
    page, weights, factors = _page(
        "<div><p>" + "A long paragraph of the story, with a clause, and a full stop. " * 6
        + "</p></div><div><a href='/'>Home</a></div>"
    )
    empty = candidate(page, [])
    densest = densest_paragraph(weights, factors)
    assert is_weak(page, empty, densest, title="")
    second = densest_run(page, weights, factors)
    assert second.indexes and choose(page, empty, second, densest, title="")
    assert not choose(page, second, empty, densest, title="")


def test_the_titles_words_count_as_whole_words_in_any_case_and_any_paragraph() -> None:
    title = "Council budget vote delayed | The Daily Example"
    filler = "The meeting went on into the evening, with questions from the floor. " * 4

    def weak(first: str, second: str) -> bool:
        page, weights, factors = _page(f"<div><p>{filler}{first}</p><p>{second}</p></div>")
        everything = candidate(page, list(range(len(page.paragraphs))))
        return is_weak(page, everything, densest_paragraph(weights, factors), title)

    assert not weak("The COUNCIL met on the budget.", "Its vote was delayed.")
    # The same letters inside longer words are not the headline's words.
    assert weak("The councillors met on budgetary matters.", "Voters were undelayed.")


def test_json_ld_in_cdata_gives_the_published_date_not_the_modified_one() -> None:
    article = extract("json-ld-in-cdata-with-modified-date")
    # The publisher's calendar date, in its own offset: the 30th in New York, not the
    # 31st in UTC, and never the 2 June modification.
    assert article.published == date(2024, 5, 30)
    assert article.date_source == "json-ld"


def test_a_modified_date_alone_never_stands_in_for_the_published_one() -> None:
    assert extract("only-a-modified-date").published is None


def test_two_digit_year_of_a_german_byline_dates_the_article() -> None:
    assert extract("german-byline-two-digit-year").published == date(2024, 4, 25)


def test_date_that_ends_the_page_title_dates_the_article() -> None:
    article = extract("date-at-the-end-of-the-title")
    assert article.published == date(2023, 4, 28)
    assert article.date_source == "title"


def _nested_page(sections: int) -> str:
    section = (
        "<div class='section'><div class='inner'><div class='box'>"
        "<p>A paragraph of the story, long enough to be prose, with a clause and an end.</p>"
        "<ul><li><a href='/a'>A link</a></li><li><a href='/b'>Another</a></li></ul>"
        "</div></div></div>"
    )
    return "<html><body><div id='page'>" + section * sections + "</div></body></html>"


def test_time_grows_linearly_with_the_page_not_with_its_nesting() -> None:
    small_page, large_page = _nested_page(250), _nested_page(2000)
    small_times, large_times = [], []
    # CPU time, not wall time, and the two sizes interleaved: a busy CI machine slows
    # both alike instead of whichever ran while it was busy.
    for _ in range(5):
        for page, times in ((small_page, small_times), (large_page, large_times)):
            started = time.process_time()
            extract_article(page, URL)
            times.append(time.process_time() - started)
    small, large = min(small_times), min(large_times)
    # Eight times the elements: linear work is ~8-10 times, a re-scan of each
    # candidate's subtree would be ~64 times.
    assert large < 24 * small, (small, large)


def test_caption_inside_a_kept_embed_or_widget_wrapper_is_left_out() -> None:
    article = extract("caption-inside-an-embed-wrapper")
    assert_whole_story(article)
    assert "scaffolding" not in text_of(article)
    assert "drawing of the new ramp" not in text_of(article)


def test_caption_in_an_inline_span_is_left_out_and_the_story_around_it_kept() -> None:
    article = extract("caption-in-an-inline-span")
    assert_whole_story(article)
    assert "scaffolding" not in text_of(article)


def test_standfirst_below_headline_byline_dates_and_photo_is_the_first_paragraph() -> None:
    article = extract("standfirst-below-a-crowded-header")
    assert article.paragraphs[0].startswith("Cyclists and walkers will cross the river")
    assert_whole_story(article)


def test_sign_up_box_marked_only_by_utility_classes_is_left_out() -> None:
    article = extract("sign-up-box-with-utility-classes")
    assert_whole_story(article)
    text = text_of(article)
    assert "in one email" not in text and "you agree to receive" not in text, text


def test_short_post_sharing_its_element_with_a_comment_form_is_kept() -> None:
    article = extract("short-post-with-its-comment-form")
    text = text_of(article)
    assert FIRST in text and "cyclists on the iron deck again" in text, text
    assert "Leave a reply" not in text and "Name" not in article.paragraphs


def test_captions_of_a_photo_carousel_above_the_story_are_left_out() -> None:
    article = extract("photo-carousel-above-the-story")
    assert_whole_story(article)
    assert "Photo/Jo Field" not in text_of(article)


def test_author_box_after_the_story_is_left_out() -> None:
    article = extract("author-box-after-the-story")
    assert_whole_story(article)
    assert "covered transport and local politics" not in text_of(article)


def test_story_split_over_sibling_elements_is_read_whole() -> None:
    article = extract("story-split-over-sibling-elements")
    assert_whole_story(article)
    assert article.method is ExtractionMethod.MAIN
    assert "Ferry timetable" not in text_of(article)
    assert "weekly market" not in text_of(article)


def test_infobox_of_the_site_between_the_paragraphs_is_left_out() -> None:
    article = extract("infobox-between-the-paragraphs")
    assert_whole_story(article)
    assert "live coverage" not in text_of(article) and "Tell us" not in text_of(article)


def test_block_hidden_by_a_utility_class_is_left_out_a_hidden_label_class_is_not() -> None:
    article = extract("subscription-wall-hidden-by-a-utility-class")
    assert_whole_story(article)
    assert "reserved for members" not in text_of(article)
    assert "unlimited reading" not in text_of(article)
    assert_whole_story(extract("text-field-with-hidden-label"))


def test_label_of_a_list_that_was_left_out_goes_with_it() -> None:
    article = extract("label-of-a-list-left-out")
    assert_whole_story(article)
    assert "More:" not in article.paragraphs
    assert "The plan has three parts:" in article.paragraphs


def test_teasers_after_the_story_are_left_out() -> None:
    article = extract("teasers-after-the-story")
    assert_whole_story(article)
    text = text_of(article)
    assert "Read the engineers' report" in text
    assert "summer timetable" not in text and "Other news from the valley" not in text, text


def test_marked_prompt_lines_between_paragraphs_go_a_short_quoted_post_stays() -> None:
    article = extract("prompt-lines-and-a-quoted-post-between-paragraphs")
    assert_whole_story(article)
    text = text_of(article)
    assert "read this story later" not in text and "Not a member" not in text, text
    assert "Great news for the valley" in text


def test_headings_left_alone_after_the_story_are_left_out() -> None:
    article = extract("headings-left-alone-after-the-story")
    assert_whole_story(article)
    assert article.paragraphs[-1].endswith("the school and the surgery."), article.paragraphs


def test_authors_sentence_before_a_picture_stays_a_video_label_goes() -> None:
    article = extract("author-sentence-before-a-picture")
    assert_whole_story(article)
    assert "Here is how the new ramp on the eastern bank will look:" in article.paragraphs
    assert "seen from the air" not in text_of(article)


def test_passage_the_page_prints_twice_is_read_twice_a_lone_repeat_once() -> None:
    article = extract("passage-printed-twice")
    opening = article.paragraphs[0]
    assert opening.startswith("The harbour bridge will close")
    assert len(article.paragraphs) == 6
    assert article.paragraphs[:3] == article.paragraphs[3:]
    pull_quote = extract("pull-quote-repeats-body")  # one sentence again: a pull quote
    assert sum("Divers found the bicycles" in p for p in pull_quote.paragraphs) == 1


def test_photo_caption_longer_than_any_story_paragraph_does_not_win_the_second_opinion() -> None:
    # The <title> ends with the site's long name, words the story never uses: they must not
    # make the main result look weak, and a caption longer than each short wire paragraph
    # is not the story the main method left out.
    article = extract("long-photo-caption-and-site-name-in-title")
    text = text_of(article)
    assert article.method is ExtractionMethod.MAIN
    assert text.startswith("Astronauts bound for distant planets")
    assert "conference in Paris" in text
    assert "file photo" not in text


def test_story_body_split_in_two_parts_around_a_headlines_box_is_read_whole() -> None:
    article = extract("body-in-two-parts-around-a-headlines-box")
    text = text_of(article)
    assert article.paragraphs[0].startswith("The row of keepers' cottages")
    assert text.endswith("before the rooms are finished.")
    assert "Ferry fares" not in text
    assert "A second story" not in text  # the same kind of block under another heading


def test_notes_after_the_story_that_name_the_site_by_its_address_are_left_out() -> None:
    # URL is on example.org: the site's own notes name it; the story may name it too.
    text = text_of(extract("site-notes-naming-its-address"))
    assert "Readers first told Example.org about it" in text
    assert text.endswith("planning for the clock's reopening.")  # an e-mail address there
    assert "news alerts" not in text and "readers' own" not in text


def test_wordpress_post_metadata_line_after_the_post_is_left_out() -> None:
    text = text_of(extract("wordpress-post-metadata-after-the-post"))
    assert text.startswith("I took the old bicycle out of the shed")
    assert text.endswith("until the weather turns in October.")
    assert "This entry was posted" not in text


def test_dated_meta_lines_above_the_story_are_left_out_dated_heading_and_sentence_stay() -> None:
    article = extract("dated-meta-lines-above-the-story")
    text = text_of(article)
    assert "Stand:" not in text and "Hafenpresse" not in text
    assert article.paragraphs[0] == "Die Entscheidung vom 13.03.2024"  # a subheading
    assert article.paragraphs[1].startswith("Am 13.03.2024 hat der Stadtrat beschlossen")
    assert text.endswith("wie ein Sprecher des Rathauses am Mittwoch sagte.")


def test_whitespace_in_markup_counts_as_one_space_in_text_link_and_emphasis_shares() -> None:
    # Indented source: newlines, tabs and no-break spaces inside inline elements. The
    # scorer's link and emphasis shares must see the text as the reader does.
    body = LexborHTMLParser(
        "<p>See\u00a0<a href='/x'>the\n      full\tstory</a>,\n and "
        "<em>read\n\n   it  now</em>.</p>"
        "<p><a href='/y'>\n  Another\n  story  </a> follows here</p>"
    ).body
    assert body is not None
    first, second = paragraphs_of(body).paragraphs
    assert first.text == "See the full story, and read it now."
    assert first.link_chars == len("the full story")
    assert first.leading_link_chars == 0
    visible = len(first.text) - first.text.count(" ")
    assert first.emphasis_share == len("readitnow") / visible
    assert second.text == "Another story follows here"
    assert second.link_chars == second.leading_link_chars == len("Another story")


def test_class_words_read_camel_case_underscores_and_ids_but_not_post_topics() -> None:
    from ingest.extract.boilerplate import LOUD_WORD, NO_EVIDENCE, WORD, furniture_factor

    assert furniture_factor("div", {"class": "bottomByline"}) == WORD
    assert furniture_factor("div", {"class": "adCaption"}) == LOUD_WORD
    assert furniture_factor("div", {"class": "author_info"}) == WORD
    assert furniture_factor("div", {"class": "wrapper", "id": "socialShare"}) == LOUD_WORD
    assert furniture_factor("div", {"class": "BYLINE"}) == WORD  # all capitals: no hump
    assert furniture_factor("div", {"class": "post category-promo tag-sidebar"}) == NO_EVIDENCE
    assert furniture_factor("div", {"class": "entry", "id": "post-1234"}) == NO_EVIDENCE
