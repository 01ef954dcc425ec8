"""What one load run measured, whichever generator produced it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LoadResult:
    """Throughput and latency of one run, and what the server acknowledged."""

    generator: str
    requests: int
    acknowledged: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    acknowledged_seqs: set[int] | None = field(default=None, repr=False)

    @property
    def rps(self) -> float:
        """Acknowledged (2xx) requests per second."""
        return self.acknowledged / self.seconds if self.seconds else 0.0
