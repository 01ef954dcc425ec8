"""The wake-up calls a state change makes, injected wherever work is made or waited for."""

from __future__ import annotations

from dataclasses import dataclass, field

from dispatcher.wakeup import Wakeup


@dataclass(frozen=True)
class Wakeups:
    """`notices`: deliveries were queued (the dispatcher looks now, not at its next poll);
    `slots`: a task finished or a send ended (the submit queue looks at held tasks now);
    `videos`: a video copy was queued (the keeper starts it now)."""

    notices: Wakeup = field(default_factory=Wakeup)
    slots: Wakeup = field(default_factory=Wakeup)
    videos: Wakeup = field(default_factory=Wakeup)
