"""Lines inside the article element that speak about the story rather than tell it: the
site's prompts and notices (newsletter sign-up, comment rules), labels that introduce a video,
and the notes after the last paragraph, set in italics or bold (the author's bio, "follow us",
"the rest of this article is for subscribers") or naming the site by its address.

Markup and link targets decide, not wording, so the rules hold in any language.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ingest.extract.paragraphs import Paragraph

# Path segments of a site's own sign-up, subscription and policy pages: a paragraph that
# links there is the site talking to its reader ("Sign up for our newsletter", "Comments are
# moderated: see our community guidelines"), not the journalist telling the story. Whole
# segments only: a story's slug ("/2024/05/meta-privacy-fine") is not the privacy page.
_SITE_SERVICE_SEGMENT = re.compile(
    r"newsletters?|subscribe|subscriptions?|sign[-_]?up|register|registration|"
    r"privacy(?:[-_](?:policy|notice))?|cookies?(?:[-_]policy)?|"
    r"terms(?:[-_](?:of[-_](?:use|service)|and[-_]conditions|conditions))?|"
    r"(?:community[-_])?guidelines",
    re.IGNORECASE,
)
_EXTENSION = re.compile(r"\.[a-z]{2,5}$", re.IGNORECASE)
# A prompt or notice is a few lines; a long paragraph with such a link is reporting about it.
_MAX_NOTICE_CHARS = 400
_MAX_NOTICE_LINES = 3
_ALL_EMPHASISED = 0.95
_MAX_LABEL_CHARS = 150
# A label's first word names the medium and a mark sets it off: "Watch:", "VIDEO |".
_KIND_MARK = re.compile(r"\s{0,8}[^\W\d_]{2,15}\s{0,8}[:|]")  # bounded: linear
_INTRODUCED_TAGS = frozenset({"li", "blockquote", "dd", "dt", "td", "th", "pre"})
_QUOTE_MARKS = ('"', "'", "“", "”", "„", "‘", "’", "«", "»", "‹", "›", "「", "『")
_SENTENCE_END = re.compile(r"[.!?。！？؟।…](?:\s?[\"'”’»)\]])*$")
# Country-code domains registered under a second level ("bbc.co.uk", "abc.net.au").
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or", "go"})


def without_site_notes(paragraphs: list[Paragraph], url: str, article: int) -> list[Paragraph]:
    """`paragraphs` of the `article` element without the site's prompts and notices, media
    labels and trailing notes."""
    try:
        site = _site(urlsplit(url.strip()).hostname or "")
    except ValueError:
        site = ""
    notice_boxes = {
        box
        for p in paragraphs
        if _is_site_prompt(p, site) and (box := _notice_box(p, paragraphs, article)) is not None
    }
    following = [*paragraphs[1:], None]
    kept = [
        p
        for p, after in zip(paragraphs, following, strict=True)
        if not (
            _is_site_prompt(p, site)
            or _is_media_label(p, after)
            or notice_boxes.intersection(p.containers)
        )
    ]
    # The story ends where the emphasised notes after it begin. Only sentences count: a short
    # credit line ("Contributing: Jane Doe") is the cleanup's business.
    end = len(kept)
    address = _address_of(site)
    while end > 1 and (
        _is_emphasised_sentence(kept[end - 1]) or _names_the_site(kept[end - 1], address)
    ):
        end -= 1
    # A story emphasised from start to end is not followed by notes; it is all story.
    return kept[:end] if end >= len(kept) / 2 else kept


def _is_site_prompt(paragraph: Paragraph, site: str) -> bool:
    if len(paragraph.text) > _MAX_NOTICE_CHARS:
        return False
    for href in paragraph.links:
        try:
            parts = urlsplit(href.strip())
        except ValueError:
            continue  # a broken href ("http://[") is page data, not a reason to fail
        if parts.scheme not in ("", "http", "https"):
            continue
        if parts.netloc and _site(parts.hostname or "") != site:
            continue  # another site's privacy policy is something a story can be about
        segments = (_EXTENSION.sub("", segment) for segment in parts.path.split("/"))
        if any(_SITE_SERVICE_SEGMENT.fullmatch(segment) for segment in segments):
            return True
    return False


def _notice_box(prompt: Paragraph, paragraphs: list[Paragraph], article: int) -> int | None:
    """The element that frames a prompt inside the article ("Comments are moderated ...",
    then "Views below are the readers' own"): a block of its own below the article element
    holding a few short lines and nothing else, all of it the site's words."""
    if article not in prompt.containers[:-2]:
        return None
    box = prompt.containers[-2]
    inside = [p for p in paragraphs if box in p.containers]
    if len(inside) > _MAX_NOTICE_LINES or any(len(p.text) > _MAX_NOTICE_CHARS for p in inside):
        return None
    return box


def _is_media_label(paragraph: Paragraph, after: Paragraph | None) -> bool:
    """An italic or bold line ending in a colon ("Watch: ...:", "Listen:") introduces an embedded
    video, audio clip or gallery, which is not text; the label alone says nothing. Followed by
    a list or a quotation, the same line introduces text ("The main changes:") and stays.
    The label opens with its kind ("WATCH | ...", "Video: ..."); a sentence of the author's
    that ends in a colon ("Here is how the widget looks:") is the story's own words."""
    text = paragraph.text
    return (
        len(text) <= _MAX_LABEL_CHARS
        and text.endswith(":")
        and _opens_with_kind(text)
        and paragraph.emphasis_share >= _ALL_EMPHASISED
        and (after is None or after.tag not in _INTRODUCED_TAGS)
    )


def _opens_with_kind(text: str) -> bool:
    first = text.split(maxsplit=1)[0].strip(":|")
    return _KIND_MARK.match(text) is not None or (len(first) >= 3 and first.isupper())


def _is_emphasised_sentence(paragraph: Paragraph) -> bool:
    text = paragraph.text
    return (
        paragraph.emphasis_share >= _ALL_EMPHASISED
        and _SENTENCE_END.search(text) is not None
        # A quotation set in italics is the story quoting someone, wherever it stands.
        and not text.startswith(_QUOTE_MARKS)
    )


def _address_of(site: str) -> re.Pattern[str] | None:
    """The site's address as written in its own notes ("Example.com", "www.example.com"),
    whole: not the end of an e-mail address or of a longer name."""
    if "." not in site:
        return None  # no address known (a page without URL)
    return re.compile(rf"(?<![\w@.-])(?:www\.)?{re.escape(site)}(?![\w-])", re.IGNORECASE)


def _names_the_site(paragraph: Paragraph, address: re.Pattern[str] | None) -> bool:
    """A short paragraph after the story that names the site by its address ("Start
    receiving Example.com headlines by email", "Visit www.example.com for the latest news",
    "Opinions in Example.com's comments are the readers' own"): the site talking about
    itself, not the journalist telling the story."""
    return (
        address is not None
        and len(paragraph.text) <= _MAX_NOTICE_CHARS
        and address.search(paragraph.text) is not None
    )


def _site(host: str) -> str:
    """The registered domain of `host` ("usatoday.com" for "profile.usatoday.com")."""
    labels = host.lower().rstrip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])
