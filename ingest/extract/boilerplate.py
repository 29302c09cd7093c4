"""What the markup says about an element being page furniture rather than article: menus,
share bars, related lists, comments, cookie and newsletter prompts, ads.

Markup is evidence, never a verdict. A class word is a guess of the template's author about
the element's purpose, and templates reuse words loosely: Blogger wraps every post in
`widget Blog`, TypePad classes a post by its category (`entry-category-advertising`), Drupal
marks a text field `field--label-hidden` (its label is hidden, not the text). So each element
gets a factor that scales how much its text counts as article text (`scoring`), and whether
a marked element inside the article is dropped is decided by its text (`pruning`).

General rules only (tags, ARIA roles, hidden elements, class/id words); a site whose markup
defeats them gets `SiteRules.drop` selectors in its configuration, never a rule here.
"""

from __future__ import annotations

import functools
import re

# Factors by strength of the evidence: the share of its text's weight an element keeps.
NO_EVIDENCE = 1.0
# A class or id word: weak, the text decides.
WORD = 0.45
# Words of the site talking about itself or others: comments, consent panels, sharing,
# related stories, sign-up prompts, ads, captions. They hold prose that reads like an
# article, often more of it than the article itself, so they weigh less than other words,
# and inside the article they are dropped wherever they stand.
LOUD_WORD = 0.25
# HTML and ARIA say "not the main content" (<aside>, <footer>, role=complementary).
STRUCTURAL = 0.3
# Not shown to a reader at all, or navigation by declaration (<nav>, role=navigation).
STRONG = 0.1

_STRONG_TAGS = frozenset({"nav", "menu", "dialog"})
_STRUCTURAL_TAGS = frozenset({"aside", "footer", "figcaption"})
_STRONG_ROLES = frozenset(
    {"navigation", "dialog", "alertdialog", "menu", "menubar", "toolbar", "tablist", "search"}
)
_STRUCTURAL_ROLES = frozenset({"banner", "contentinfo", "complementary"})
# Words that name page furniture in class and id attributes. Matched at the start of a word
# so camelCase and BEM spellings count ("socialShare", "article__related"), and whole for
# the short ones that are also parts of ordinary words ("ad" in "header", "tags" in "stags").
_LOUD = re.compile(
    r"(?<![a-z])(?:"
    r"comment|disqus|discussion|respond|replies|cookie|consent|gdpr|onetrust|"
    r"share|sharing|social|related|recommend|outbrain|taboola|recirc|"
    r"more-from|more-stories|most-popular|mostpopular|most-read|trending|"
    r"newsletter|promo|advert|sponsor|subscribe|subscription|signup|sign-up|upsell|pricing|"
    r"also-read|see-also|further-reading|caption|credit|carousel|slideshow|infobox|"
    r"(?:ad|ads)(?![a-z])"
    r")"
)
# "postmeta" is one word in WordPress's default theme ("postmetadata": the "This entry was
# posted on ... and is filed under ..." line after every post).
_BOILERPLATE = re.compile(
    r"(?<![a-z])(?:"
    r"breadcrumb|paywall|sidebar|side-bar|footer|masthead|navbar|nav-|navigation|menu|popup|"
    r"modal|overlay|authorbio|byline|skip-link|skiplink|toolbar|pagination|pager|print-only|"
    r"hidden|jump-link|tooltip|rating|disclaimer|author-info|about-the-author|author-bio|"
    r"bio-|restricted|piano|regwall|read-more|readmore|postmeta|"
    r"(?:tags|tag-list|nav|meta|widget|teaser|teasers|banner|embed|toc|author)(?![a-z])"
    r")"
)
# A class or id that says "this is the article" outweighs a furniture word beside it
# ("article-body has-sidebar").
_ARTICLE_WORDS = re.compile(
    r"(?<![a-z])(?:(?:article|story|post|entry)-{0,2}(?:body|text|content)|main-content)(?![a-z])"
)
# Text that is never on screen: for screen readers only, or hidden by the page itself.
# Classes that CSS frameworks define as display:none (Bootstrap, Tailwind, Bulma) count as
# whole class names only: "field--label-hidden" hides a label, not the element.
_UNSEEN = re.compile(
    r"(?<![a-z])(?:sr-only|screen-reader|visually-hidden|visuallyhidden)"
    r"|(?<!\S)(?:hidden|d-none|is-hidden|invisible)(?!\S)"
)
_TOPIC_CLASS = re.compile(r"(?<!\S)(?:entry-)?(?:category|tag)-\S+")
_CAMEL_HUMP = re.compile(r"([a-z])([A-Z])")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden")


def furniture_factor(tag: str, attributes: dict[str, str | None]) -> float:
    """How much of its text's weight an element keeps: 1.0 when nothing marks it furniture."""
    if tag in _STRONG_TAGS or is_unseen(attributes):
        return STRONG
    role = (attributes.get("role") or "").lower()
    if role in _STRONG_ROLES:
        return STRONG
    if tag in _STRUCTURAL_TAGS or role in _STRUCTURAL_ROLES:
        return STRUCTURAL
    return _named_factor(attributes.get("class"), attributes.get("id"))


def names_site_words(attributes: dict[str, str | None]) -> bool:
    """Whether the element's class or id names the site's own words (caption, credit,
    share, comment ...): for inline elements, which have no factor of their own."""
    if not (attributes.get("class") or attributes.get("id")):
        return False
    return _named_site_words(attributes.get("class"), attributes.get("id"))


# A template repeats its class names on every element of a kind and every page of a site:
# the verdicts on the words are memoised by (class, id), a quarter of the walk's time
# before (bench/extraction.py, profiled).
@functools.lru_cache(maxsize=8192)
def _named_factor(class_names: str | None, element_id: str | None) -> float:
    names = _names(class_names, element_id)
    if not names or _ARTICLE_WORDS.search(names):
        return NO_EVIDENCE
    if _LOUD.search(names):
        return LOUD_WORD
    if _BOILERPLATE.search(names):
        return WORD
    return NO_EVIDENCE


@functools.lru_cache(maxsize=8192)
def _named_site_words(class_names: str | None, element_id: str | None) -> bool:
    names = _names(class_names, element_id)
    return _LOUD.search(names) is not None and _ARTICLE_WORDS.search(names) is None


def is_unseen(attributes: dict[str, str | None]) -> bool:
    """Whether the page hides the element from a sighted reader (hidden, display:none,
    aria-hidden, a screen-reader-only class)."""
    if not attributes:
        return False
    if "hidden" in attributes or attributes.get("aria-hidden") == "true":
        return True
    style = attributes.get("style")
    if style and _HIDDEN_STYLE.search(style.lower()):
        return True
    names = attributes.get("class")
    if not names:
        return False
    return _unseen_class(names)


@functools.lru_cache(maxsize=8192)
def _unseen_class(class_names: str) -> bool:
    return _UNSEEN.search(class_names.lower()) is not None


def is_declared_article(tag: str, attributes: dict[str, str | None]) -> bool:
    """The markup calls the element the article (<article>, itemprop=articleBody)."""
    return tag == "article" or attributes.get("itemprop") == "articleBody"


def _names(class_names: str | None, element_id: str | None) -> str:
    if class_names and element_id:
        names = f"{class_names} {element_id}"
    else:
        names = class_names or element_id or ""
    if "category-" in names or "tag-" in names:
        # A post's categories and tags in its classes (WordPress `category-promo`, TypePad
        # `entry-category-advertising`) are the author's topics, not the template's words.
        names = _TOPIC_CLASS.sub(" ", names)
    # camelCase words are words too: "bottomByline" is a byline, "adCaption" an ad; and
    # "author_info" is "author-info".
    lowered = names.lower()
    if lowered != names:  # only a capital can end a hump (most class names have none)
        lowered = _CAMEL_HUMP.sub(r"\1-\2", names).lower()
    return lowered.replace("_", "-")
