"""Topic filters: keep an article when its title or text matches the configured rules.

A rule is a keyword or phrase matched case-insensitively on word boundaries ("UN" does not
match "under"), or a regular expression written `re:PATTERN` (case-insensitive). The global
rules and the feed's rules both apply: an article is kept only when it passes every set.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from config.settings import FilterRules
from ingest.dedupe.normalize import normalize_paragraph

_REGEX_PREFIX = "re:"
# Scripts written without spaces between words: a keyword edge in one of them cannot require a
# word boundary ("中国" must match inside "在中国的"). Hangul is spaced, but particles attach
# to the noun ("서울에서"), so it is treated the same way.
# Compiled on first use: compiling it at import cost 7 ms of every process start, rules or not.
@functools.cache
def _unspaced_script() -> re.Pattern[str]:
    return re.compile(
        "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
        "\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]"
    )


@dataclass(frozen=True)
class _Rule:
    source: str  # the rule as written in the configuration, for log lines
    pattern: re.Pattern[str]
    on_folded: bool  # keywords search the case-folded text, regular expressions the original


@dataclass(frozen=True)
class _CompiledRules:
    include: tuple[_Rule, ...]
    exclude: tuple[_Rule, ...]


@dataclass(frozen=True)
class _Views:
    """Title and text as every rule sees them, computed once per article."""

    title: str
    text: str
    folded_title: str
    folded_text: str

    @classmethod
    def of(cls, title: str, text: str) -> _Views:
        # NFC, invisible characters (soft hyphens) dropped and whitespace runs collapsed, so a
        # phrase matches across line breaks and "Bundes\u00adtag" still reads "Bundestag".
        title, text = normalize_paragraph(title), normalize_paragraph(text)
        return cls(title, text, title.casefold(), text.casefold())


def article_matches(rules: FilterRules, title: str, text: str) -> bool:
    """Whether the article passes one rule set (an empty rule set keeps everything)."""
    return rejection_reason((rules,), title, text) is None


def article_matches_all(rule_sets: Iterable[FilterRules], title: str, text: str) -> bool:
    """Whether the article passes every rule set, e.g. `(settings.filters, feed.filters)`."""
    return rejection_reason(rule_sets, title, text) is None


def rejection_reason(rule_sets: Iterable[FilterRules], title: str, text: str,
                     language: str | None = None) -> str | None:
    """None when the article passes every rule set, else one line saying which rule dropped it.
    `language` is the detected one: a rule set's `languages` keeps only those (not unknown)."""
    views: _Views | None = None
    for rules in rule_sets:
        if rules.is_empty:
            continue
        if rules.languages and language not in rules.languages:
            return (f"language {language or 'unknown'} is not one of "
                    f"{', '.join(rules.languages)}")
        if not rules.include and not rules.exclude:
            continue
        compiled = _compiled(rules)
        if views is None:
            views = _Views.of(title, text)
        if compiled.include and not any(_matches(rule, views) for rule in compiled.include):
            shown = ", ".join(repr(rule.source) for rule in compiled.include)
            return f"no include rule matched ({shown})"
        for rule in compiled.exclude:
            if _matches(rule, views):
                return f"exclude rule {rule.source!r} matched"
    return None


def _matches(rule: _Rule, views: _Views) -> bool:
    if rule.on_folded:
        return bool(rule.pattern.search(views.folded_title)
                    or rule.pattern.search(views.folded_text))
    return bool(rule.pattern.search(views.title) or rule.pattern.search(views.text))


# FilterRules is frozen and hashable: each configured rule set is compiled once. Bounded so a
# long-running process that reloads its configuration many times cannot grow it without end.
@functools.lru_cache(maxsize=1024)
def _compiled(rules: FilterRules) -> _CompiledRules:
    return _CompiledRules(
        include=tuple(_compile_rule(rule) for rule in rules.include),
        exclude=tuple(_compile_rule(rule) for rule in rules.exclude),
    )


def _compile_rule(rule: str) -> _Rule:
    if rule.startswith(_REGEX_PREFIX):
        return _Rule(rule, re.compile(rule[len(_REGEX_PREFIX):], re.IGNORECASE), on_folded=False)
    return _Rule(rule, _keyword_pattern(rule), on_folded=True)


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    # Case-folding (not IGNORECASE) so "Straße" also matches "STRASSE". Lookarounds rather than
    # \b so keywords that start or end with punctuation ("C++", "U.S.") still match.
    words = normalize_paragraph(keyword).casefold().split()
    if not words:
        raise ValueError(f"filter keyword {keyword!r} is blank")
    body = r"\s+".join(re.escape(word) for word in words)
    before = "" if _unspaced_script().match(words[0][0]) else r"(?<!\w)"
    after = "" if _unspaced_script().match(words[-1][-1]) else r"(?!\w)"
    return re.compile(before + body + after)
