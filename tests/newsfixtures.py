"""Realistic news pages and feeds that tests build (invented text, real page furniture)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime


@dataclass(frozen=True)
class FakeStory:
    slug: str
    title: str
    paragraphs: tuple[str, ...]
    published: date | None
    summary: str = ""

    def corpus_text(self) -> str:
        text = "\n\n".join(self.paragraphs)
        if self.published is None:
            return text
        return f" date {self.published.isoformat()} {text}"


def news_page(story: FakeStory, *, site_name: str = "Caspian Daily",
              related: tuple[str, ...] = ("Markets close higher", "Weather warning issued")
              ) -> str:
    """An article page with the furniture extractors must drop around the story."""
    body = "\n".join(f"      <p>{html.escape(p)}</p>" for p in story.paragraphs)
    related_items = "\n".join(
        f'        <li><a href="/news/{i}">{html.escape(t)}</a> <time datetime="2001-01-0{i + 1}">'
        f"1 Jan 2001</time></li>" for i, t in enumerate(related))
    published_meta = (f'<meta property="article:published_time" '
                      f'content="{story.published.isoformat()}T09:15:00+04:00">'
                      if story.published else "")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{html.escape(story.title)} | {site_name}</title>
  {published_meta}
  <meta property="og:title" content="{html.escape(story.title)}">
  <script>window.dataLayer = [];</script>
  <style>.share {{ display: flex; }}</style>
</head>
<body>
  <div class="cookie-banner" id="cookie-consent">We use cookies to improve your experience.
    <button>Accept all cookies</button></div>
  <header class="site-header">
    <nav class="main-nav"><ul>
      <li><a href="/">Home</a></li><li><a href="/politics">Politics</a></li>
      <li><a href="/economy">Economy</a></li><li><a href="/world">World</a></li>
    </ul></nav>
  </header>
  <main>
    <article class="story">
      <h1>{html.escape(story.title)}</h1>
      <div class="share-bar social">
        <a href="https://facebook.example/share">Share on Facebook</a>
        <a href="https://x.example/share">Share on X</a>
        <a href="mailto:?subject=story">Email this story</a>
      </div>
      <div class="story-body">
{body}
      </div>
      <div class="newsletter-signup">Sign up for our morning newsletter</div>
    </article>
    <aside class="related-articles">
      <h2>Related articles</h2>
      <ul>
{related_items}
      </ul>
    </aside>
  </main>
  <footer class="site-footer"><p>© 2025 {site_name}. All rights reserved.</p>
    <a href="/privacy">Privacy policy</a></footer>
</body>
</html>
"""


def rss_feed(items: list[tuple[FakeStory, str]], *, title: str = "Caspian Daily") -> str:
    """RSS 2.0 with one item per (story, absolute link)."""
    rendered = []
    for story, link in items:
        pub = ""
        if story.published is not None:
            moment = datetime(story.published.year, story.published.month, story.published.day,
                              1, 30, tzinfo=timezone(timedelta(hours=4)))
            pub = f"<pubDate>{format_datetime(moment)}</pubDate>"
        rendered.append(f"""  <item>
    <title>{html.escape(story.title)}</title>
    <link>{html.escape(link)}</link>
    <guid isPermaLink="false">{html.escape(story.slug)}</guid>
    <description>{html.escape(story.summary or story.paragraphs[0])}</description>
    {pub}
  </item>""")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
<channel>
  <title>{html.escape(title)}</title>
  <link>https://caspian.example/</link>
  <description>News</description>
{chr(10).join(rendered)}
</channel>
</rss>
"""
