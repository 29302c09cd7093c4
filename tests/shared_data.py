"""Where the shared real material lies: `../shared` beside the checkout (never copied in)."""

from __future__ import annotations

from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_SEEDS = SHARED / "seeds"
SHARED_ARTICLES = SHARED / "data" / "articles"
SHARED_ARTICLES_DEV = SHARED / "data" / "articles-dev"
SHARED_FEEDS = SHARED / "data" / "feeds"
