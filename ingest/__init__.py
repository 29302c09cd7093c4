"""source-ingest: news feeds in, a clean date-headed text corpus out."""
