"""Split an HTML subtree into paragraphs, in reading order, with what the scorer needs to know.

A paragraph ends at every block element (p, headings, list items, blockquote, div, table
row ...) and at two consecutive <br>; inline elements (a, b, span ...) flow into it. Each
paragraph remembers how much of its text is link text and which block elements enclose it,
and each block element which paragraphs it holds and what its markup says about it, so that
a container can be scored and pruned by the paragraphs inside it without walking it again:
the page is walked once, whatever its size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from selectolax.lexbor import LexborNode

from ingest.dedupe.normalize import normalize_paragraph
from ingest.extract.boilerplate import (
    furniture_factor,
    is_declared_article,
    is_unseen,
    names_site_words,
)

BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "center", "dd", "details", "dialog",
        "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2",
        "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "li", "main", "menu", "nav", "ol",
        "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
        "ul", "caption", "html", "frameset", "noframes",
    }
)  # fmt: skip
# Never text a reader sees as part of an article.
_SILENT_TAGS = frozenset(
    {
        "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "embed",
        "canvas", "video", "audio", "select", "option", "textarea", "button", "input", "head",
        "title", "meta", "link", "img", "picture", "source", "map",
    }
)  # fmt: skip
_EMPHASIS_TAGS = frozenset({"em", "i", "strong", "b"})
_FIELD_TAGS = frozenset({"input", "textarea"})
# Fields a reader types into (a <textarea> has no type: it reads as "text").
_TEXT_FIELD_TYPES = frozenset({"text", "email", "tel", "search", "url", "password", "number"})
# A sign-up or comment box: a few prompts and a disclaimer, a few hundred characters.
_FORM_MAX_CHARS = 1000
_FORM_MAX_LONG = 2
_LONG_PARAGRAPH_CHARS = 100
HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_LINE_BREAK = "\x00"
_PARAGRAPH_BREAK = re.compile(_LINE_BREAK + r"\s*" + _LINE_BREAK)
# Past this depth the markup is broken beyond structure; the rest is read as plain text.
_MAX_DEPTH = 300


# Paragraph and Block are built for every paragraph and block element of a page (about 800
# a page): as immutable NamedTuples they cost half what frozen dataclasses did (3.4 against
# 1.6 us each), about a tenth of the walk.
class Paragraph(NamedTuple):
    text: str  # normalised
    link_chars: int  # characters of `text` that sit inside <a>
    tag: str  # the block element that holds it ("p", "h2", "li", "div" ...)
    containers: tuple[int, ...]  # mem_id of every enclosing block element, outermost first
    # Share of its visible characters set in italics or bold: a paragraph all emphasised
    # after the story is an editor's note or the author's bio, not the story's own words.
    emphasis_share: float
    links: tuple[str, ...]  # href of every <a> in it, as written
    # Characters of link text before its first word outside a link: a teaser starts with
    # the linked headline of another page ("<a>Headline</a> Summary of that story.").
    leading_link_chars: int = 0
    quoted: bool = False  # inside a <blockquote>: a quotation, an embedded post

    @property
    def link_density(self) -> float:
        return self.link_chars / len(self.text) if self.text else 0.0


class Block(NamedTuple):
    """A block element and the paragraphs it holds (`first` <= index < `end`)."""

    mem_id: int
    tag: str
    parent: int | None  # mem_id of the enclosing block, None for the walk's root
    depth: int
    first: int
    end: int
    factor: float  # what its markup says: 1.0 article text, less for furniture (boilerplate)
    declared: bool  # the markup calls it the article (<article>, itemprop=articleBody)
    signature: str  # tag and class: blocks of one kind in a template share it
    prompt: bool  # a few lines around a text field: a sign-up, comment or search form


@dataclass(frozen=True)
class PageText:
    """A subtree as paragraphs, and its block elements: by mem_id, children before parents."""

    paragraphs: list[Paragraph]
    blocks: dict[int, Block]


@dataclass
class _Walk:
    """Mutable state of one walk; lives only inside `paragraphs_of`."""

    paragraphs: list[Paragraph]
    pieces: list[str]
    link_chars: int
    emphasis_chars: int
    links: list[str]
    containers: list[int]
    tags: list[str]
    blocks: dict[int, Block]
    text_chars: int  # of all paragraphs so far
    long_paragraphs: int  # paragraphs so far of at least _LONG_PARAGRAPH_CHARS
    fields: int  # text fields met so far (<input>, <textarea>)
    leading_link_chars: int = 0  # of the paragraph being read
    plain_text_read: bool = False  # whether it has text outside links yet
    quotes: int = 0  # <blockquote> elements around the text being read

    def flush(self) -> None:
        if not self.pieces:
            self.links.clear()  # links around no text (an icon, an image) belong to none
            return
        raw = "".join(self.pieces)
        self.pieces.clear()
        link_chars, self.link_chars = self.link_chars, 0
        emphasis_chars, self.emphasis_chars = self.emphasis_chars, 0
        links = tuple(self.links)
        self.links.clear()
        leading, self.leading_link_chars, self.plain_text_read = self.leading_link_chars, 0, False
        if raw.isspace():  # the indentation between two blocks: no paragraph (most flushes)
            return
        tag = self.tags[-1] if self.tags else ""
        quoted = self.quotes > 0
        if _LINE_BREAK not in raw:  # no <br> in it, the common case: one paragraph
            text = normalize_paragraph(raw)
            if not text:
                return
            length = len(text)
            self.text_chars += length
            if length >= _LONG_PARAGRAPH_CHARS:
                self.long_paragraphs += 1
            visible = (_visible_chars(text) or 1) if emphasis_chars else 1
            # Positional: a NamedTuple built from keywords costs twice as much.
            self.paragraphs.append(Paragraph(
                text, min(length, link_chars), tag, tuple(self.containers),
                min(1.0, emphasis_chars / visible), links, min(length, leading), quoted))
            return
        parts = [normalize_paragraph(part.replace(_LINE_BREAK, " "))
                 for part in _PARAGRAPH_BREAK.split(raw)]
        parts = [part for part in parts if part]
        lengths = [len(part) for part in parts]
        self.text_chars += sum(lengths)
        total = sum(lengths) or 1
        # Without emphasis the share is 0 whatever the count: count only when needed.
        visible = (sum(_visible_chars(part) for part in parts) or 1) if emphasis_chars else 1
        self.long_paragraphs += sum(1 for n in lengths if n >= _LONG_PARAGRAPH_CHARS)
        containers = tuple(self.containers)
        for number, part in enumerate(parts):
            self.paragraphs.append(Paragraph(
                part,
                # Link text is not tracked per <br><br> piece; share it out by length.
                min(len(part), round(link_chars * len(part) / total)),
                tag, containers, min(1.0, emphasis_chars / visible), links,
                min(len(part), leading) if number == 0 else 0, quoted))


def paragraphs_of(root: LexborNode) -> PageText:
    """The paragraphs under `root` in reading order, and every block element holding them."""
    walk = _Walk([], [], 0, 0, [], [], [], {}, 0, 0, 0)
    _visit_block(root, walk, _INLINE[False, False], depth=0)
    walk.flush()
    return PageText(walk.paragraphs, walk.blocks)


@dataclass(frozen=True)
class _Inline:
    """Inline elements around the text being read."""

    link: bool
    emphasis: bool

    def entering(self, tag: str) -> _Inline:
        if tag == "a":
            return _INLINE[True, self.emphasis]
        if tag in _EMPHASIS_TAGS:
            return _INLINE[self.link, True]
        return self


# The four states, made once: one is entered at every inline element of a page.
_INLINE = {(link, emphasis): _Inline(link=link, emphasis=emphasis)
           for link in (False, True) for emphasis in (False, True)}


def _visit_block(node: LexborNode, walk: _Walk, inline: _Inline, *, depth: int) -> None:
    walk.flush()
    parent = walk.containers[-1] if walk.containers else None
    first = len(walk.paragraphs)
    chars, fields, long_paragraphs = walk.text_chars, walk.fields, walk.long_paragraphs
    tag = node.tag or ""
    mem_id = node.mem_id
    walk.containers.append(mem_id)
    walk.tags.append(tag)
    quote = int(tag == "blockquote")
    walk.quotes += quote
    _visit_children(node, walk, inline, depth=depth)
    walk.flush()
    walk.quotes -= quote
    walk.containers.pop()
    walk.tags.pop()
    attributes = node.attributes
    # Positional: a NamedTuple built from keywords costs twice as much, once per element.
    walk.blocks[mem_id] = Block(
        mem_id,
        tag,
        parent,
        len(walk.containers),
        first,
        len(walk.paragraphs),
        furniture_factor(tag, attributes),
        is_declared_article(tag, attributes),
        f"{tag}.{attributes.get('class') or ''}",
        walk.fields > fields and _is_prompt(
            holds_field=True,
            chars=walk.text_chars - chars,
            long_paragraphs=walk.long_paragraphs - long_paragraphs,
        ),
    )


def _visit_children(node: LexborNode, walk: _Walk, inline: _Inline, *, depth: int) -> None:
    if depth > _MAX_DEPTH:
        _add_text(node.text(deep=True), walk, inline)
        return
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            _add_text(child.text_content or "", walk, inline)
        elif tag == "br":
            walk.pieces.append(_LINE_BREAK)
        elif tag in _SILENT_TAGS or tag == "-comment" or tag is None:
            if tag in _FIELD_TAGS and _is_text_field(child.attributes):
                walk.fields += 1
        elif tag in BLOCK_TAGS:
            _visit_block(child, walk, inline, depth=depth + 1)
        elif is_unseen(attributes := child.attributes):
            continue  # "Opens in a new window" for screen readers, a collapsed duplicate
        elif tag != "a" and attributes and names_site_words(attributes):
            # A <span class="caption"> or "image-credit" under a photo is set apart from
            # the text around it: read as a block of its own, so that its words can be
            # weighed as the site's and dropped without the paragraph they sit in.
            _visit_block(child, walk, inline, depth=depth + 1)
        else:
            if tag == "a":
                walk.links.append(attributes.get("href") or "")
            _visit_children(child, walk, inline.entering(tag), depth=depth + 1)


def _add_text(text: str, walk: _Walk, inline: _Inline) -> None:
    if not text:
        return
    if text.isspace():  # markup's indentation (half the text nodes): one space, no count
        walk.pieces.append(" ")
        return
    # Whitespace in markup is not text: a source newline is a space, never a paragraph break.
    # The paragraph's normalisation collapses it (`flush`); only a count needs it done here.
    walk.pieces.append(text)
    if not (inline.link or inline.emphasis):  # most text: nothing to count
        walk.plain_text_read = True
        return
    words = text.split()  # the same whitespace as `\s`
    visible = sum(map(len, words))
    if inline.link:
        # Its length with each run of whitespace one space, stripped.
        chars = visible + len(words) - 1
        walk.link_chars += chars
        if not walk.plain_text_read:
            walk.leading_link_chars += chars
    else:
        walk.plain_text_read = True
    if inline.emphasis:
        walk.emphasis_chars += visible


def _is_prompt(*, holds_field: bool, chars: int, long_paragraphs: int) -> bool:
    """A block around a text field that holds only a few lines is a form: a newsletter
    sign-up, a comment or search box, whatever its classes say (utility classes such as
    "mt-4 bg-white" say nothing). A prompt has a disclaimer or two; an article has more
    paragraphs than that, and a page wrapped whole in a <form> (ASP.NET) far more text."""
    return holds_field and chars <= _FORM_MAX_CHARS and long_paragraphs <= _FORM_MAX_LONG


def _is_text_field(attributes: dict[str, str | None]) -> bool:
    kind = (attributes.get("type") or "text").lower()
    return kind in _TEXT_FIELD_TYPES


def _visible_chars(text: str) -> int:
    return len(text) - text.count(" ")
