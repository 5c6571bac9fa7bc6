"""bench/proactive_delivery.py's arithmetic and checks: percentiles, summaries, the load plan, what counts
as a failure, and the docs section it rewrites."""

from collections import Counter
from pathlib import Path

import pytest

from bench.proactive_delivery import (
    Event,
    Holders,
    failures,
    mark_next_holder_webhooks,
    percentile,
    plan,
    replace_section,
    summarise,
)


def test_percentile_interpolates_between_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 100) == 4.0
    assert percentile(list(map(float, range(1, 21))), 95) == pytest.approx(19.05)
    assert percentile([7.0], 95) == 7.0


def test_percentile_refuses_no_values_and_bad_q() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], 101)


def test_summary_counts_a_missing_delivery_as_late() -> None:
    part = summarise([1.0, 2.0, 61.0, None])
    assert part["events"] == 4 and part["delivered"] == 3
    assert (part["p50_s"], part["max_s"]) == (2.0, 61.0)
    assert part["within_limit"] == 0.5
    assert summarise([None])["p50_s"] is None and summarise([])["within_limit"] is None


def test_plan_balances_hubs_languages_and_conversations() -> None:
    events = plan(8, ("a", "b"))
    combinations = Counter((e.hub, e.language, e.has_conversation) for e in events)
    assert len(combinations) == 8 and set(combinations.values()) == {1}
    assert len({e.order_id for e in events}) == len({e.email for e in events}) == 8


def delivered(index: int, hub: str = "a", holder: str = "a", **changes: object) -> Event:
    event = Event(
        index, f"c{index}", f"SO-{index}", f"evt-{index}", hub, "en", f"c{index}@example.com", False
    )
    event.status, event.lease_holder, event.answered_at = 202, holder, 100.0 + index
    event.chat_messages = event.emails = event.sent_log_entries = 1
    for name, value in changes.items():
        setattr(event, name, value)
    return event


def test_failures_name_duplicates_misses_and_the_wrong_conversation() -> None:
    assert failures([delivered(0)]) == []
    found = failures(
        [
            delivered(1, chat_messages=2),
            delivered(2, emails=0),
            delivered(3, has_conversation=True, session_conversation="web-1", conversation="web-2"),
            delivered(4, status=500),
            delivered(5, sent_log_entries=2),
        ]
    )
    assert found == [
        "evt-1 (c1): 2 messages about SO-1, not 1",
        "evt-2 (c2): 0 emails, not 1",
        "evt-3 (c3): written to web-2, not the widget's web-1",
        "evt-4 (c4): the webhook answered 500, not 202",
        "evt-5 (c5): 2 entries in the sent log, not 1",
    ]


def test_an_event_on_the_other_hub_waits_for_the_holders_next_webhook() -> None:
    events = [delivered(0, "a"), delivered(1, "b"), delivered(2, "b"), delivered(4, "a"), delivered(5, "b")]
    mark_next_holder_webhooks(events)
    assert [e.next_holder_webhook_s for e in events] == [None, 3.0, 2.0, None, None]


def test_lease_holders_are_named_a_from_the_start_and_b_for_the_next_id() -> None:
    holders = Holders("id-a")
    assert [holders.name(h) for h in ("id-a", None, "id-b", "id-b")] == ["a", None, "b", "b"]
    assert holders.name("id-c") == "unknown-id-c"


def test_the_section_is_replaced_up_to_the_next_heading_or_appended(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Routing\n\nold routing\n")
    replace_section(doc, "## Proactive delivery\n\nfirst\n")
    assert doc.read_text() == "# Benchmarks\n\n## Routing\n\nold routing\n\n## Proactive delivery\n\nfirst\n"
    doc.write_text(doc.read_text() + "\n## Later\n\nkept\n")
    replace_section(doc, "## Proactive delivery\n\nsecond\n")
    assert doc.read_text() == (
        "# Benchmarks\n\n## Routing\n\nold routing\n\n## Proactive delivery\n\nsecond\n\n## Later\n\nkept\n"
    )
