"""Several Rasa processes (RASA_PROCESSES=2 in the end-to-end stack): a process killed mid-conversation is
taken out, the conversation goes on with the other one from where it was (the tracker is in Redis), and
the process supervisor starts it again."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from handoff.rasa_pool import RasaPool
from tests.e2e.conftest import RASA_PROCESSES, Stack, all_rasa_processes_up, rest_conversation
from tests.e2e.test_order_security import say

pytestmark = pytest.mark.e2e


def rasa_pid(port: int) -> int:
    """The Rasa server listening on `port`: the `bot.serve` process started with RASA_PORT=port."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"bot.serve" in cmdline and f"RASA_PORT={port}".encode() in environ:
            return int(entry.name)
    raise AssertionError(f"no Rasa process on port {port}")


def test_a_killed_process_is_taken_out_and_the_conversation_goes_on(stack: Stack) -> None:
    base = int(stack.env["RASA_PORT"])
    urls = [f"http://127.0.0.1:{base + i}" for i in range(RASA_PROCESSES)]
    pool = RasaPool(urls)
    # A customer whose conversation the hub sends to the first process.
    sender = next(
        s for s in (f"procs-{i}" for i in range(200)) if pool.order(rest_conversation(s))[0] == urls[0]
    )
    asked = say(stack, sender, "can you track my package")
    assert "order" in asked.lower(), asked  # the form asks for the order number

    victim = rasa_pid(base)
    os.kill(victim, signal.SIGKILL)
    # The answer to the form's question reaches the other process, which knows what it asked (and asks
    # for proof of the order next), then what it was given.
    proof = say(stack, sender, "SO-10001021")
    assert "SO-10001021" in proof and "email" in proof, proof
    status = say(stack, sender, "alice.carter@example.com")
    assert "Order SO-10001021 shipped on" in status, status

    # The supervisor starts the killed process again, and the hub uses it once it answers.
    deadline = time.monotonic() + 300
    while not all_rasa_processes_up(stack.hub_url):
        assert time.monotonic() < deadline, "the killed Rasa process was not started again"
        time.sleep(2)
    assert rasa_pid(base) != victim
    assert say(stack, sender, "thanks, bye")
