"""A bound on how many callbacks are handled at once: taken or refused, never waited for."""

from __future__ import annotations


class Slots:
    """`limit` slots; `take` says at once whether one was free (no queue, no await)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0

    def take(self) -> bool:
        """Take a slot if one is free; False when all are taken."""
        if self.taken >= self.limit:
            return False
        self.taken += 1
        return True

    def give_back(self) -> None:
        """Free a slot taken before."""
        self.taken -= 1
