"""GET /metrics in Prometheus text format: the process's counters and the database's counts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from receiver import keys
from receiver.errors import Unauthorized
from receiver.metrics import REGISTRY, WRITER_BATCH
from receiver.providers import PROVIDER_NAMES
from receiver.services.secrets import tokens_match


async def metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: count the store's writer batches while the app runs."""
    writer = getattr(app[keys.STORE], "writer", None)
    if writer is not None:
        writer.on_commit = WRITER_BATCH.observe
    yield


async def metrics_endpoint(request: web.Request) -> web.Response:
    """GET /metrics: bearer REELHOOK_METRICS_TOKEN when set, else an API token."""
    settings = request.app[keys.SETTINGS]
    accepted = settings.metrics_tokens or settings.api_tokens
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not tokens_match(token.strip(), accepted):
        raise Unauthorized(
            "send Authorization: Bearer <REELHOOK_METRICS_TOKEN, or REELHOOK_API_TOKEN>",
            field="Authorization",
        )
    snapshot = await request.app[keys.STORE].stats.snapshot()
    database = CollectorRegistry(auto_describe=False)
    database.register(_DatabaseCollector(snapshot))
    body = generate_latest(REGISTRY) + generate_latest(database)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class _DatabaseCollector:
    """The families read from the database at this scrape."""

    def __init__(self, snapshot: dict[str, list[dict[str, Any]]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot
        tasks = GaugeMetricFamily(
            "reelhook_tasks", "Tasks by provider and state", labels=["provider", "state"]
        )
        for row in snap["tasks"]:
            tasks.add_metric([row["provider"], row["status"]], row["n"])
        flight = GaugeMetricFamily(
            "reelhook_submits_in_flight",
            "Tasks sent (or being sent) to the provider and not finished, per provider",
            labels=["provider"],
        )
        counts = {row["provider"]: row["n"] for row in snap["in_flight"]}
        for provider in PROVIDER_NAMES:
            flight.add_metric([provider], counts.get(provider, 0))
        videos = GaugeMetricFamily(
            "reelhook_videos", "Kept videos by status (pending, kept, failed, off, deleted)",
            labels=["status"],
        )
        for row in snap.get("videos", []):
            videos.add_metric([row["status"]], row["n"])
        yield from (tasks, flight, videos, *self._deliveries())

    def _deliveries(self) -> Iterator[Metric]:
        attempts = CounterMetricFamily(
            "reelhook_deliveries", "Notice delivery attempts by channel and outcome",
            labels=["channel", "outcome"],
        )
        for row in self._snapshot["attempts"]:
            attempts.add_metric([row["channel"], row["outcome"]], row["n"])
        by_status = {row["status"]: row["n"] for row in self._snapshot["deliveries"]}
        yield attempts
        for status in ("pending", "dead"):
            yield GaugeMetricFamily(
                f"reelhook_deliveries_{status}", f"Notices now {status}",
                value=by_status.get(status, 0),
            )
