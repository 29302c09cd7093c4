"""The HTTP API's reading routes: articles, their text, failures, entries' fates, a feed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ingest.console.api_common import (
    HttpError,
    failure_explanation,
    json_response,
    query_int,
)
from ingest.console.entry_listing import ListingError, check_state, fate_as_json, parse_since
from ingest.records import ArticleState
from storage.articles import ArticleRow
from storage.corpus import is_corpus_file_name
from storage.database import utcnow
from storage.entry_fates import EntryFate, EntryQuery

if TYPE_CHECKING:
    from scheduler.service import ServiceState

Query = Callable[[Callable[[], Any]], Awaitable[Any]]


def add_reading_routes(app: web.Application, routes: ReadingRoutes) -> None:
    app.router.add_get("/api/articles", routes.recent_articles)
    app.router.add_get("/api/articles-per-day", routes.articles_per_day)
    app.router.add_get("/api/failures", routes.failures)
    app.router.add_get(r"/articles/{sequence:\d{1,12}}", routes.article_text)
    app.router.add_get("/api/entries", routes.entries)


class ReadingRoutes:
    def __init__(self, state: ServiceState, query: Query) -> None:
        self._state = state
        self._query = query

    async def recent_articles(self, request: web.Request) -> web.Response:
        limit = query_int(request, "limit", 20, 1, 500)
        rows: list[ArticleRow] = await self._query(
            lambda: self._state.index.recent_articles(limit))
        return json_response(HTTPStatus.OK, {"articles": [{
            "sequence": row.sequence, "title": row.title, "feed": row.feed, "url": row.url,
            "published": row.published.isoformat() if row.published else None,
            "fetched_at": row.fetched_at.isoformat(timespec="seconds"),
            "file_name": row.file_name, "text_url": f"/articles/{row.sequence}",
        } for row in rows]})

    async def articles_per_day(self, request: web.Request) -> web.Response:
        days = query_int(request, "days", 30, 1, 366)
        counts = dict(await self._query(lambda: self._state.index.articles_per_day(days)))
        today = utcnow().date()
        series = [(today - timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)]
        return json_response(HTTPStatus.OK, {"days": [
            {"day": day, "articles": counts.get(day, 0)} for day in series]})

    async def failures(self, request: web.Request) -> web.Response:
        totals: dict[str, int] = await self._query(self._state.index.failure_totals)
        return json_response(HTTPStatus.OK, {"failures_by_kind": [
            {"kind": kind, "count": count, "explanation": failure_explanation(kind)}
            for kind, count in sorted(totals.items(), key=lambda item: (-item[1], item[0]))]})

    async def article_text(self, request: web.Request) -> web.Response:
        sequence = int(request.match_info["sequence"])
        row: ArticleRow | None = await self._query(lambda: self._state.index.article(sequence))
        # The path comes from the index row, and only if it is a corpus file name.
        if row is None or row.state != ArticleState.STORED \
                or not is_corpus_file_name(row.file_name):
            raise HttpError(HTTPStatus.NOT_FOUND, f"no stored article {sequence}")
        path = self._state.settings.storage.corpus_dir / row.file_name
        try:
            body = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise HttpError(HTTPStatus.NOT_FOUND,
                            f"article {sequence}: {row.file_name} is missing from the "
                            f"corpus folder (run `source-ingest verify`)") from None
        return web.Response(body=body, content_type="text/plain", charset="utf-8", headers={
            "Content-Disposition": f'inline; filename="{row.file_name}"'})

    async def entries(self, request: web.Request) -> web.Response:
        """Entries with their fate, newest first: ?feed=NAME (repeatable), ?state=,
        ?since=DATE, ?search=WORDS, ?limit= and ?offset= (the answer's next_offset)."""
        limit = query_int(request, "limit", 100, 1, 1000)
        offset = query_int(request, "offset", 0, 0, 10**9)
        try:
            state = check_state(request.query.get("state"))
            since = parse_since(request.query.get("since"))
        except ListingError as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, str(exc)) from None
        feeds = tuple(request.query.getall("feed", []))
        words = request.query.get("search", "")
        index = self._state.index
        attempts = self._state.settings.schedule.max_entry_attempts

        def read() -> list[EntryFate]:
            sequences = tuple(index.search_articles(words)) if words else None
            return index.entry_fates(EntryQuery(feeds=feeds, state=state, since=since,
                                                sequences=sequences, offset=offset,
                                                limit=limit), attempts)

        fates: list[EntryFate] = await self._query(read)
        return json_response(HTTPStatus.OK, {
            "entries": [fate_as_json(fate) for fate in fates], "offset": offset,
            "limit": limit, "next_offset": offset + len(fates) if len(fates) == limit else None})
