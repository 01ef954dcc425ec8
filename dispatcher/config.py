"""How the dispatcher is set up: plain values, filled in by whoever starts it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dispatcher.channels.email import SmtpConfig
from dispatcher.links import VideoLinks
from dispatcher.retry import DEFAULT_JITTER, DEFAULT_SCHEDULE
from store.models import NO_POLICY, HealthPolicy


@dataclass(frozen=True)
class DispatchConfig:
    """Everything the worker needs. `decrypt` turns a stored target back into its JSON text."""

    decrypt: Callable[[str], str] = field(repr=False)
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    jitter: float = DEFAULT_JITTER
    timeout: float = 10.0
    slack_interval: float = 1.0
    poll_interval: float = 1.0
    smtp: SmtpConfig | None = None
    concurrency: int = 20
    # Sends in flight to one address at most (one message for channels that combine notices):
    # 300 hanging webhooks of one client once held every slot for 40 s.
    per_destination: int = 5
    claim_limit: int = 500
    # A read of due deliveries (up to claim_limit) serves the rounds that follow for this many
    # seconds, or until used up: re-reading 500 rows to start the few sends a quarter of the slots
    # allows made the reads cost more than the sends. What falls due meanwhile is due after them.
    due_reuse: float = 1.0
    # An ended send's attempt record waits up to this many seconds to be committed with the next
    # claim (or with other records): one commit per send cost as much CPU as the send. The
    # delivery stays claimed meanwhile; a crash in that window resends it after the lease.
    record_delay: float = 0.02
    # The submit-time URL rules, applied again before each send (destinations stored while
    # private URLs were allowed); URLs in `trusted_urls` are the operator's own, sent as given.
    allow_private: bool = True
    trusted_urls: frozenset[str] = frozenset()
    trusted_hosts: frozenset[tuple[str, int]] = frozenset()  # REELHOOK_TRUSTED_HOSTS
    # Signed links to kept videos, given to notices in place of the provider's link once the
    # copy is kept; None: notices carry the provider's link.
    video_links: VideoLinks | None = field(default=None, repr=False)
    # When a failing destination is disabled, and whether alerts are queued.
    health: HealthPolicy = NO_POLICY
    # Seconds between the INFO lines that count what was sent (a line per delivery is DEBUG:
    # at thousands a second it cost as much as a sixth of a send).
    count_every: float = 60.0

    @property
    def lease(self) -> float:
        """How long a claim holds before another worker may take the delivery over.

        Every send is cut off after `timeout`, so a claim older than twice that (and a margin for
        the database) belongs to a worker that is gone.
        """
        return 2 * self.timeout + 1.0
