"""A manual run of the pipeline in this process, against an httpx transport."""

from __future__ import annotations

import asyncio

import httpx

from config.settings import Settings
from ingest.records import RunTrigger
from ingest.run.pipeline import RunRequest, RunSummary, run_fetch
from scheduler.policy import SchedulePolicy
from storage.index import CorpusIndex
from storage.recovery import new_writer_identity


def manual_run(settings: Settings, index: CorpusIndex,
               transport: httpx.MockTransport) -> RunSummary | None:
    """`fetch` of every configured feed, as `source-ingest fetch` runs it."""
    return asyncio.run(run_fetch(
        settings, index, RunRequest(trigger=RunTrigger.MANUAL, due_only=False),
        new_writer_identity(), policy=SchedulePolicy(settings.schedule), transport=transport))
