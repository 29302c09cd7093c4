"""The `source-ingest` executable: process settings made before the application loads."""

from __future__ import annotations

import gc

# Objects allocated between two young-generation collections (Python's default is 700).
YOUNG_GENERATION_THRESHOLD = 10_000


def main() -> None:
    # Start-up allocates much and frees little: importing SQLAlchemy, httpx and the rest ran
    # about 130 collections with the default threshold, most of the 55 ms the collector took
    # in a poll of 1,000 feeds that all answered 304 (9 ms at 10,000; bench/throughput.py
    # not-modified). Cyclic garbage then waits up to 10,000 allocations instead of 700: a few
    # MB at most, against a process of 50-150 MB.
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *gc.get_threshold()[1:])
    from ingest.cli import main as run_cli

    run_cli()
