"""The metric families of /metrics (receiver/http/metrics.py) counted as things happen.

Two kinds of family: counted here as things happen (callbacks, provider calls, writer batches;
per process, reset on restart), and read from the database at each scrape (tasks, sends in
flight, deliveries; the database's totals, the same from every process, so aggregate them with
max, not sum). Labels take bounded values only: provider names, outcomes, channels, states.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Collection, Iterator

from aiohttp import web
from prometheus_client import (
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)

from receiver.errors import ApiError

REGISTRY = CollectorRegistry()
# The standard process metrics (CPU, memory, open files, start time) and the Python platform's.
REGISTRY.register(PROCESS_COLLECTOR)
REGISTRY.register(PLATFORM_COLLECTOR)
HTTP_REQUEST_SECONDS = Histogram(
    "reelhook_http_request_duration_seconds",
    "HTTP requests by route template, method and status",
    ["route", "method", "status"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
CALLBACKS = Counter(
    "reelhook_callbacks", "Provider callbacks by provider and outcome",
    ["provider", "outcome"], registry=REGISTRY,
)
CALLBACK_SECONDS = Histogram(
    "reelhook_callback_seconds", "Time to verify, record and answer a provider callback",
    ["provider"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
WRITER_BATCH = Histogram(
    "reelhook_writer_batch_size", "Writes committed together by the SQLite writer thread",
    registry=REGISTRY, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
PROVIDER_CALL_SECONDS = Histogram(
    "reelhook_provider_call_seconds", "Calls to provider APIs by provider and HTTP method",
    ["provider", "method"], registry=REGISTRY,
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0),
)
PROVIDER_CALL_ERRORS = Counter(
    "reelhook_provider_call_errors", "Failed provider API calls by provider and kind",
    ["provider", "kind"], registry=REGISTRY,
)
VIDEO_COPIES = Counter(
    "reelhook_video_copies", "Video copies made by this process, by outcome"
    " (kept, failed, retried, deleted)", ["outcome"], registry=REGISTRY,
)
VIDEO_STORE_UP = Gauge(
    "reelhook_video_store_up", "1 while the video store takes copies; 0 after it failed, until"
    " a copy goes through again", registry=REGISTRY,
)
VIDEO_STORE_UP.set(1)
# Callback answers by status; anything else is "error".
_OUTCOMES = {401: "unauthorized", 400: "malformed", 415: "malformed", 404: "unknown_task",
             413: "too_large", 503: "unavailable"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# What the callback handler made of a callback it answered 2xx: "recorded" or "duplicate".
CALLBACK_OUTCOME = web.RequestKey("callback_outcome", str)


def observed_callback(handler: Handler, providers: Collection[str]) -> Handler:
    """Wrap the provider callback handler: count it by provider (one of `providers`, else
    "unknown") and outcome (the handler's CALLBACK_OUTCOME, or the error's), and time it."""
    # Label children looked up once: this runs for every callback.
    counted = {(name, outcome): CALLBACKS.labels(name, outcome)
               for name in (*providers, "unknown")
               for outcome in ("recorded", "duplicate", "error", *_OUTCOMES.values())}
    timed = {name: CALLBACK_SECONDS.labels(name) for name in (*providers, "unknown")}

    async def observed(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        outcome = "error"
        try:
            response = await handler(request)
            outcome = request.get(CALLBACK_OUTCOME, "recorded")
            return response
        except (ApiError, web.HTTPException) as exc:
            outcome = _OUTCOMES.get(exc.status, "error")
            raise
        finally:
            name = request.match_info.get("provider")
            provider = name if name in timed else "unknown"
            counted[provider, outcome].inc()
            timed[provider].observe(time.perf_counter() - started)

    return observed


@contextlib.contextmanager
def provider_call(provider: str, method: str) -> Iterator[None]:
    """Time one provider API call (`provider`: an adapter's own name); a raised error is
    counted by its class."""
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        PROVIDER_CALL_ERRORS.labels(provider, _error_kind(exc)).inc()
        raise
    finally:
        PROVIDER_CALL_SECONDS.labels(provider, method.upper()).observe(
            time.perf_counter() - started
        )


def _error_kind(exc: Exception) -> str:
    kinds = {"ProviderBusy": "busy", "ProviderUnavailable": "unavailable",
             "ProviderRejected": "rejected", "ProviderProtocolError": "protocol"}
    return kinds.get(type(exc).__name__, "other")
