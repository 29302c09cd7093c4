"""Remove what is on every page of a site rather than in its article: menus, share bars, related
lists, comments, cookie and newsletter prompts, ads.

General rules only (tags, ARIA roles, hidden elements, class/id words); a site whose markup
defeats them gets `SiteRules.drop` selectors in its configuration, never a rule here.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

_REMOVED_TAGS = (
    "nav", "aside", "footer", "script", "style", "noscript", "template", "svg", "iframe",
    "button", "select", "textarea", "input", "dialog", "menu", "form[role=search]", "figcaption",
)  # fmt: skip
_REMOVED_ROLES = frozenset(
    {
        "navigation", "banner", "contentinfo", "complementary", "search", "dialog",
        "alertdialog", "menu", "menubar", "toolbar", "tablist",
    }
)  # fmt: skip
# Words that name page furniture in class and id attributes. Matched at the start of a word
# so camelCase and BEM spellings count ("socialShare", "article__related"), and whole for
# the short ones that are also parts of ordinary words ("ad" in "header", "tags" in "stags").
_BOILERPLATE = re.compile(
    r"(?<![a-z])(?:"
    r"share|sharing|social|related|recommend|newsletter|cookie|consent|gdpr|comment|disqus|"
    r"promo|advert|sponsor|breadcrumb|subscribe|subscription|signup|sign-up|paywall|"
    r"sidebar|side-bar|footer|masthead|navbar|nav-|navigation|menu|popup|modal|overlay|"
    r"outbrain|taboola|recirc|more-from|more-stories|most-popular|mostpopular|most-read|"
    r"trending|read-more|readmore|also-read|see-also|further-reading|authorbio|"
    r"byline|skip-link|skiplink|toolbar|pagination|pager|print-only|sr-only|screen-reader|"
    r"visually-hidden|visuallyhidden|hidden|jump-link|tooltip|rating|caption|credit|"
    r"disclaimer|author-info|about-the-author|author-bio|bio-|restricted|piano|regwall|upsell|"
    r"pricing|infobox|"
    r"(?:ad|ads|tags|tag-list|nav|meta|widget|teaser|teasers|banner|embed|toc)(?![a-z])"
    r")"
)
# A class or id that says "this is the article" outweighs a furniture word beside it
# ("article-body has-sidebar").
_ARTICLE_WORDS = re.compile(
    r"(?<![a-z])(?:(?:article|story|post|entry)[-_]?(?:body|text|content)|main-content)(?![a-z])"
)
_CAMEL_HUMP = re.compile(r"([a-z])([A-Z])")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden")
# A matched element holding more than this share of the page's paragraph text is the article
# (or wraps it) whatever its class says, and stays.
_MAX_SHARE_REMOVED = 0.5


def remove_boilerplate(tree: LexborHTMLParser) -> None:
    """Remove page furniture from `tree` in place."""
    body = tree.body
    if body is None:
        return
    for node in tree.css(", ".join(_REMOVED_TAGS)):
        node.decompose()
    page_text = _paragraph_chars(body) or 1
    doomed: list[LexborNode] = []
    for node in body.traverse():
        if (
            _is_furniture(node)
            and _paragraph_chars(node) <= _MAX_SHARE_REMOVED * page_text
            and not _is_quoted_post(node)
        ):
            doomed.append(node)
    for node in _outermost(doomed):
        node.decompose()


def _is_furniture(node: LexborNode) -> bool:
    attributes = node.attributes
    if not attributes or node.tag in ("html", "body"):
        return False
    if "hidden" in attributes or attributes.get("aria-hidden") == "true":
        return True
    style = attributes.get("style")
    if style and _HIDDEN_STYLE.search(style.lower()):
        return True
    role = attributes.get("role")
    if role and role.lower() in _REMOVED_ROLES:
        return True
    names = " ".join(
        value for value in (attributes.get("class"), attributes.get("id")) if value
    )
    # camelCase words are words too: "bottomByline" is a byline, "adCaption" an ad.
    names = _CAMEL_HUMP.sub(r"\1-\2", names).lower()
    if not names or not _BOILERPLATE.search(names):
        return False
    return not _ARTICLE_WORDS.search(names)


def _is_quoted_post(node: LexborNode) -> bool:
    """An embedded post the story quotes (a tweet in its "widget"/"embed" wrapper): the
    standard embed markup is a <blockquote> holding the post's text in <p>."""
    return node.css_first("blockquote p") is not None


def _paragraph_chars(node: LexborNode) -> int:
    return sum(len(p.text(deep=True)) for p in node.css("p"))


def _outermost(nodes: list[LexborNode]) -> list[LexborNode]:
    """The nodes not inside another node of the list (removing those removes the rest)."""
    ids = {node.mem_id for node in nodes}
    kept = []
    for node in nodes:
        parent = node.parent
        inside = False
        while parent is not None:
            if parent.mem_id in ids:
                inside = True
                break
            parent = parent.parent
        if not inside:
            kept.append(node)
    return kept
