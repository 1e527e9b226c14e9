"""Prometheus metrics of one node, in their own registry (several apps may share a process).

:class:`NodeMetrics` is also the object the storage engine is handed to count segment
uploads and lease events: it only needs the small methods below, no Prometheus knowledge.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "NodeMetrics"]

_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

LEASE_EVENTS = ("acquired", "renewed", "released", "lost", "taken_over")


class NodeMetrics:
    """The node's metrics. Counting methods are thread-safe and cheap."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.request_seconds = Histogram(
            "memoturn_http_request_duration_seconds",
            "REST request latency by route template and status",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.open_profiles = Gauge(
            "memoturn_open_profiles", "profile-branches open on this node", registry=r
        )
        self.segment_uploads = Counter(
            "memoturn_segment_uploads_total",
            "segments written to the object store, by result",
            ["result"],
            registry=r,
        )
        self.segment_upload_bytes = Counter(
            "memoturn_segment_upload_bytes_total", "bytes of segments uploaded", registry=r
        )
        self.segment_upload_seconds = Histogram(
            "memoturn_segment_upload_duration_seconds",
            "time to upload one segment",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.wakes = Counter(
            "memoturn_wakes_total", "profile-branches woken (restored from the store)", registry=r
        )
        self.wake_seconds = Histogram(
            "memoturn_wake_duration_seconds",
            "time to wake one profile-branch",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.hibernations = Counter(
            "memoturn_hibernations_total", "profile-branches hibernated", registry=r
        )
        self.hibernated_profiles = Gauge(
            "memoturn_hibernated_profiles",
            "profile-branches this node hibernated and has not woken since",
            registry=r,
        )
        self.lease_events = Counter(
            "memoturn_lease_events_total",
            "writer-lease events: " + ", ".join(LEASE_EVENTS),
            ["event"],
            registry=r,
        )

    # -- for the HTTP edge ------------------------------------------------------------------

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.request_seconds.labels(method, route, str(status)).observe(seconds)

    def track_open_profiles(self, count: Callable[[], int]) -> None:
        """Read the open-profile count from ``count`` at each scrape."""
        self.open_profiles.set_function(count)

    def track_hibernated_profiles(self, count: Callable[[], int]) -> None:
        """Read the hibernated-profile count from ``count`` at each scrape."""
        self.hibernated_profiles.set_function(count)

    # -- for the storage engine -------------------------------------------------------------

    def segment_uploaded(self, size_bytes: int, seconds: float | None = None) -> None:
        self.segment_uploads.labels("ok").inc()
        self.segment_upload_bytes.inc(size_bytes)
        if seconds is not None:
            self.segment_upload_seconds.observe(seconds)

    def segment_upload_failed(self) -> None:
        self.segment_uploads.labels("error").inc()

    def woke(self, seconds: float) -> None:
        self.wakes.inc()
        self.wake_seconds.observe(seconds)

    def hibernated(self) -> None:
        self.hibernations.inc()

    def lease_event(self, event: str) -> None:
        """Count one lease event; ``event`` is one of :data:`LEASE_EVENTS`."""
        if event not in LEASE_EVENTS:
            raise ValueError(f"unknown lease event {event!r}; expected one of {LEASE_EVENTS}")
        self.lease_events.labels(event).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)
