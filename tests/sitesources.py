"""A loopback news site that publishes its articles the ways sites do besides a feed:
robots.txt (a disallowed path, a Crawl-delay, `Sitemap:` lines), a sitemap index with a gzip
child, a Google News sitemap, and a home page with alternate links."""

from __future__ import annotations

import gzip
import html
from dataclasses import dataclass
from datetime import date, timedelta

from tests.faultserver import invented_story, serve_feed, serve_story
from tests.loopback import LoopbackSite, Route
from tests.newsfixtures import FakeStory

XML = "application/xml"


def urlset(urls: list[tuple[str, str | None]], news: dict[str, FakeStory] | None = None) -> str:
    news = news or {}
    items = []
    for url, lastmod in urls:
        extra = f"<lastmod>{lastmod}</lastmod>" if lastmod else ""
        story = news.get(url)
        if story is not None:
            extra += (f"<news:news><news:publication><news:name>Caspian Daily</news:name>"
                      f"<news:language>en</news:language></news:publication>"
                      f"<news:publication_date>{story.published}T08:00:00+04:00"
                      f"</news:publication_date><news:title>{html.escape(story.title)}"
                      f"</news:title></news:news>")
        items.append(f"<url><loc>{html.escape(url)}</loc>{extra}</url>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
            + "".join(items) + "</urlset>")


def sitemap_index(children: list[tuple[str, str]]) -> str:
    items = "".join(f"<sitemap><loc>{url}</loc><lastmod>{lastmod}</lastmod></sitemap>"
                    for url, lastmod in children)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}'
            "</sitemapindex>")


@dataclass
class SourcesSite:
    site: LoopbackSite
    archive: list[FakeStory]  # in the gzip child
    recent: list[FakeStory]  # in the plain child, and in the feed
    news: list[FakeStory]  # in the news sitemap
    private: FakeStory  # under the disallowed path

    def story_url(self, story: FakeStory) -> str:
        return self.site.url(f"/news/{story.slug}.html")

    def publish_recent(self, slug: str, day: date) -> FakeStory:
        """A new story in the recent child, whose lastmod in the index changes."""
        story = dated_story(slug, day)
        serve_story(self.site, f"/news/{story.slug}.html", story)
        self.serve_recent([*self.recent, story], day.isoformat())
        return story

    def serve_recent(self, stories: list[FakeStory], lastmod: str) -> None:
        self.recent = stories
        urls = [(self.story_url(story), f"{story.published}") for story in stories]
        urls.append((self.site.url(f"/private/{self.private.slug}.html"), "2025-06-01"))
        self.site.set("/sitemap-recent.xml", Route(urlset(urls).encode(), content_type=XML))
        self.site.set("/sitemap-index.xml", Route(sitemap_index([
            (self.site.url("/sitemap-archive.xml.gz"), "2025-03-01"),
            (self.site.url("/sitemap-recent.xml"), lastmod),
        ]).encode(), content_type=XML))
        serve_feed(self.site, "/rss.xml", [(story, self.story_url(story)) for story in stories])


def dated_story(slug: str, day: date) -> FakeStory:
    story = invented_story(slug)
    return FakeStory(slug=story.slug, title=story.title, paragraphs=story.paragraphs,
                     published=day)


def serve_sources_site(site: LoopbackSite, *, crawl_delay: float = 0.0,
                       archive_size: int = 3) -> SourcesSite:
    archive = [dated_story(f"archive-{i}", date(2025, 1, 1) + timedelta(days=i))
               for i in range(archive_size)]
    recent = [dated_story(f"recent-{i}", date(2025, 6, 1 + i)) for i in range(2)]
    news = [dated_story(f"news-{i}", date(2025, 9, 1 + i)) for i in range(2)]
    private = dated_story("secret", date(2025, 6, 1))
    sources = SourcesSite(site=site, archive=archive, recent=recent, news=news, private=private)
    for story in [*archive, *recent, *news]:
        serve_story(site, f"/news/{story.slug}.html", story)
    serve_story(site, f"/private/{private.slug}.html", private)
    delay = f"Crawl-delay: {crawl_delay:g}\n" if crawl_delay else ""
    site.set("/robots.txt", Route(
        (f"User-agent: *\nDisallow: /private/\n{delay}\n"
         f"Sitemap: {site.url('/sitemap-index.xml')}\n"
         f"Sitemap: {site.url('/news-sitemap.xml')}\n").encode(), content_type="text/plain"))
    archive_urls = [(sources.story_url(story), f"{story.published}") for story in archive]
    archive_urls.append((site.url("/tag/politics"), None))  # a tag page, no article
    site.set("/sitemap-archive.xml.gz", Route(gzip.compress(urlset(archive_urls).encode()),
                                              content_type="application/gzip"))
    sources.serve_recent(recent, "2025-06-02")
    news_urls = [(sources.story_url(story), None) for story in news]
    news_urls.append((site.url("/politics"), None))  # a section page: no <news:news>
    site.set("/news-sitemap.xml", Route(urlset(news_urls, {
        sources.story_url(story): story for story in news}).encode(), content_type=XML))
    site.set("/", Route(
        b'<!DOCTYPE html><html><head><title>Caspian Daily</title>'
         b'<link rel="alternate" type="application/rss+xml" title="Caspian Daily" '
         b'href="/rss.xml"></head><body><p>Home</p></body></html>'))
    return sources
