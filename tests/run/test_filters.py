from __future__ import annotations

import pytest

from config.settings import FilterRules
from ingest.run.topic_filter import article_matches, article_matches_all, rejection_reason


def keeps(title: str, text: str = "", *, include: tuple[str, ...] = (),
          exclude: tuple[str, ...] = ()) -> bool:
    return article_matches(FilterRules(include=include, exclude=exclude), title, text)


# --- keywords --------------------------------------------------------------------------------


def test_no_rules_keep_every_article() -> None:
    assert keeps("Anything at all", "whatever the text says")


def test_keyword_UN_does_not_match_under() -> None:
    assert not keeps("Prices under pressure", "Markets fell under the weight of news.",
                     include=("UN",))


def test_keyword_UN_matches_the_word_in_any_case_and_next_to_punctuation() -> None:
    assert keeps("The UN's new envoy", include=("UN",))
    assert keeps("Talks at the un, again", include=("UN",))
    assert keeps("A UN-backed ceasefire", include=("un",))


def test_keyword_inside_a_longer_word_does_not_match() -> None:
    assert not keeps("UNESCO heritage list", include=("UN",))
    assert not keeps("G70 summit", include=("G7",))
    assert keeps("G7 summit", include=("G7",))


def test_keyword_matches_in_text_when_not_in_title() -> None:
    assert keeps("Morning briefing", "Leaders discussed climate policy.", include=("climate",))


def test_phrase_matches_across_whitespace_runs_and_line_breaks() -> None:
    text = "They spoke of climate\n\n   change at length."
    assert keeps("Briefing", text, include=("climate change",))
    assert keeps("Briefing", text, include=("Climate   Change",))
    assert not keeps("Briefing", "climate-related change", include=("climate change",))


def test_phrase_does_not_match_across_title_and_text() -> None:
    assert not keeps("A story about climate", "change is coming", include=("climate change",))


def test_keyword_edges_with_punctuation_still_match() -> None:
    assert keeps("Why C++ still matters", include=("C++",))
    assert keeps("Trade talks with the U.S. stall", include=("U.S.",))
    assert not keeps("Why C is simple", include=("C++",))


def test_keywords_are_unicode_aware() -> None:
    assert keeps("Élection à Zürich", include=("zürich",))
    assert keeps("Élection à Zürich", include=("ÉLECTION",))
    assert not keeps("Zürichsee im Nebel", include=("Zürich",))
    # Full case folding: ß and SS are the same letters.
    assert keeps("Neue STRASSE eröffnet", include=("Straße",))


def test_keyword_matches_decomposed_accents_and_soft_hyphens() -> None:
    decomposed = "Re\u0301sume\u0301 des de\u0301bats"  # e + combining acute accent
    assert keeps(decomposed, include=("débats",))
    assert keeps("Der Bundes\u00adtag stimmt ab", include=("Bundestag",))


def test_keyword_in_unspaced_script_matches_inside_a_sentence() -> None:
    assert keeps("在中国的经济", include=("中国",))
    assert keeps("東京都で地震", include=("東京",))
    assert not keeps("在美国的经济", include=("中国",))


# --- regular expressions ---------------------------------------------------------------------


def test_regex_rule_is_case_insensitive() -> None:
    assert keeps("COVID-19 update", include=(r"re:covid-?\d+",))
    assert not keeps("Weather update", include=(r"re:covid-?\d+",))


def test_regex_rule_sees_original_text_with_its_own_boundaries() -> None:
    assert keeps("Unrest under way", include=(r"re:\bun",))
    assert not keeps("The UN meets", include=(r"re:^un\b",))
    assert keeps("UN meets", include=(r"re:^un\b",))


def test_keyword_is_not_read_as_a_regular_expression() -> None:
    assert not keeps("abc", include=("a.c",))
    assert keeps("see a.c here", include=("a.c",))


# --- include and exclude ---------------------------------------------------------------------


def test_any_include_rule_is_enough() -> None:
    assert keeps("Election results", include=("climate", "election"))


def test_exclude_rule_drops_an_article_that_an_include_rule_keeps() -> None:
    assert not keeps("Climate and football", include=("climate",), exclude=("football",))


def test_exclude_only_rules_keep_everything_else() -> None:
    assert keeps("Parliament votes", exclude=("re:horoscope|lottery",))
    assert not keeps("Your weekly HOROSCOPE", exclude=("re:horoscope|lottery",))


# --- global and per-feed rules ---------------------------------------------------------------


def test_global_and_feed_rules_must_both_pass() -> None:
    global_rules = FilterRules(exclude=("sponsored",))
    feed_rules = FilterRules(include=("climate",))
    assert article_matches_all((global_rules, feed_rules), "Climate summit opens", "")
    assert not article_matches_all((global_rules, feed_rules), "Sponsored: climate tips", "")
    assert not article_matches_all((global_rules, feed_rules), "Election night", "")


def test_include_rules_of_both_sets_must_each_match() -> None:
    global_rules = FilterRules(include=("europe",))
    feed_rules = FilterRules(include=("energy",))
    assert not article_matches_all((global_rules, feed_rules), "Energy prices", "in Asia")
    assert article_matches_all((global_rules, feed_rules), "Energy prices", "in Europe")


def test_rejection_reason_names_the_rule_for_the_log() -> None:
    rules = (FilterRules(include=("climate",), exclude=("re:sponsor(ed)?",)),)
    assert rejection_reason(rules, "Climate news", "") is None
    assert rejection_reason(rules, "Sports", "") == "no include rule matched ('climate')"
    assert rejection_reason(rules, "Climate, sponsored", "") == (
        "exclude rule 're:sponsor(ed)?' matched")


def test_blank_keyword_built_outside_the_config_loader_is_rejected() -> None:
    with pytest.raises(ValueError, match="blank"):
        keeps("Anything", include=("   ",))
