"""Which Rasa process serves a conversation, when there are several (RASA_URLS).

Each conversation goes to one process at a time, chosen by rendezvous hashing on its id: every hub worker
picks the same process without sharing anything, and when a process is taken out only its conversations
move (to their next choice), coming back when it does. The trackers live in Redis and Rasa's Redis lock
store serialises a conversation's messages, so a conversation can change process between two messages.

A process that refuses connections or drops one without an answer is taken out for `retry_after` seconds;
after that one message tries it again, and it stays out until it answers.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass
class _Member:
    url: str
    down_until: float = 0.0  # monotonic time before which the process is not tried first
    failures: int = 0


def _weight(url: str, conversation_id: str) -> int:
    digest = hashlib.blake2b(f"{url}\0{conversation_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class RasaPool:
    def __init__(
        self,
        urls: Sequence[str],
        *,
        retry_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("RasaPool needs at least one URL")
        if len(set(urls)) != len(urls):
            raise ValueError("RasaPool URLs must be distinct")
        self._members = {url: _Member(url) for url in urls}
        self._retry_after = retry_after
        self._clock = clock

    @property
    def urls(self) -> list[str]:
        return list(self._members)

    def order(self, conversation_id: str) -> list[str]:
        """The processes to try for this conversation: its rendezvous order, processes taken out last (a
        conversation is never refused only because every process looked down)."""
        now = self._clock()
        ranked = sorted(self._members.values(), key=lambda m: _weight(m.url, conversation_id), reverse=True)
        return [m.url for m in ranked if m.down_until <= now] + [m.url for m in ranked if m.down_until > now]

    def mark_down(self, url: str) -> None:
        member = self._members[url]
        member.failures += 1
        member.down_until = self._clock() + self._retry_after

    def mark_up(self, url: str) -> None:
        member = self._members[url]
        member.failures, member.down_until = 0, 0.0

    def states(self) -> dict[str, str]:
        now = self._clock()
        return {m.url: ("down" if m.down_until > now else "up") for m in self._members.values()}
