"""Which Rasa process a conversation goes to (handoff.rasa_pool)."""

from __future__ import annotations

import pytest

from handoff.rasa_pool import RasaPool

URLS = [f"http://10.0.0.{i}:5005" for i in range(1, 5)]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_conversation_always_goes_to_the_same_process_and_conversations_spread() -> None:
    pool, again = RasaPool(URLS), RasaPool(list(reversed(URLS)))  # another hub worker, its own order
    firsts = [pool.order(f"conv-{i}")[0] for i in range(2000)]
    assert firsts == [again.order(f"conv-{i}")[0] for i in range(2000)]
    shares = [firsts.count(url) / len(firsts) for url in URLS]
    assert all(0.2 < share < 0.3 for share in shares), shares


def test_a_process_taken_out_moves_only_its_own_conversations_and_they_come_back() -> None:
    clock = Clock()
    pool = RasaPool(URLS, retry_after=5.0, clock=clock)
    before = {f"conv-{i}": pool.order(f"conv-{i}")[0] for i in range(500)}
    pool.mark_down(URLS[0])
    after = {conv: pool.order(conv)[0] for conv in before}
    for conv, url in before.items():
        if url == URLS[0]:
            assert after[conv] != URLS[0]
            assert after[conv] == pool.order(conv)[0]  # the same next choice each time
            assert pool.order(conv)[-1] == URLS[0]  # still tried, last
        else:
            assert after[conv] == url
    assert pool.states()[URLS[0]] == "down"
    clock.now += 5.0  # time to try it again
    assert {conv: pool.order(conv)[0] for conv in before} == before
    pool.mark_up(URLS[0])
    assert pool.states() == dict.fromkeys(URLS, "up")


def test_every_process_down_still_gives_an_order_to_try() -> None:
    pool = RasaPool(URLS[:2])
    for url in URLS[:2]:
        pool.mark_down(url)
    assert sorted(pool.order("c")) == sorted(URLS[:2])


def test_a_pool_needs_distinct_urls() -> None:
    with pytest.raises(ValueError):
        RasaPool([])
    with pytest.raises(ValueError):
        RasaPool([URLS[0], URLS[0]])
