"""The scenario runner without a stack: validating scenario files, judging recorded conversations, the
totals and reports, and one run through a fake hub over a real demo order store."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import math
from pathlib import Path
from typing import Any

import httpx
import pytest

from actions.orders.sqlite_store import SqliteOrderStore
from bench.scenarios import report
from bench.scenarios.checks import (
    Observation,
    StoreState,
    Turn,
    evaluate,
    language_problem,
    later_messages,
    remaining_skus,
)
from bench.scenarios.runner import OrderDb, Runner, SuiteRun, Target
from bench.scenarios.spec import (
    ScenarioFileError,
    check_against_seed,
    load_files,
    parse_file,
    select,
)

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "data" / "orders" / "orders.yml"
SMOKE = ROOT / "tests" / "fixtures" / "scenarios" / "smoke.yml"

VALID = """
version: 1
scenarios:
  - id: en-return-size-01
    language: en
    goal: return
    summary: The jeans are too tight.
    customer: anonymous
    turns: ["hi, the jeans I got are too tight", "SO-10006912", "chloe.n@example.com", "yes"]
    expect:
      return: {order: SO-10006912, sku: JEAN-SLIM-32}
      orders:
        SO-10006227: {items: [PAN-NS-28]}
      handoff: [outside_window, policy_exception]
      packet: {order_id: SO-10006912, language: en}
      reply_includes: ["RA-"]
      reply_excludes: ["cancelled"]
  - id: zh-person-01
    language: zh
    goal: handoff
    customer: {signed_in: cust-2008}
    turns: ["我要转人工"]
    expect: {handoff: customer_request}
"""


def problems_of(text: str) -> list[str]:
    _, problems = parse_file(text, "set.yml")
    return problems


def one_scenario(body: str, expect: str = "") -> str:
    """A file with one scenario; `body` and `expect` are YAML lines at the scenario's indentation."""
    lines = ["version: 1", "scenarios:", "  - id: en-x-01", "    language: en", "    goal: cancel"]
    lines += [f"    {line}" for line in body.strip().splitlines()]
    if expect:
        lines += ["    expect:"] + [f"      {line}" for line in expect.strip().splitlines()]
    return "\n".join(lines) + "\n"


# -- validation ---------------------------------------------------------------------------------------


def test_a_valid_file_reads_into_scenarios() -> None:
    scenarios, problems = parse_file(VALID, "set.yml")
    assert problems == []
    first, second = scenarios
    assert first.expect.return_ == ("SO-10006912", "JEAN-SLIM-32")
    assert first.expect.orders == {"SO-10006227": {"items": ("PAN-NS-28",)}}
    assert first.expect.handoff == ("outside_window", "policy_exception")
    assert first.customer_id is None and first.file == "set.yml"
    assert second.customer_id == "cust-2008" and second.expect.handoff == ("customer_request",)
    assert second.turns == ("我要转人工",)


def test_the_smoke_fixture_and_the_suites_files_are_valid() -> None:
    files = [SMOKE] + [p for p in (ROOT / "bench" / "scenarios").glob("*.yml")]
    scenarios = load_files(files)
    assert check_against_seed(scenarios, SEED) == []
    assert {s.id for s in scenarios} >= {"smoke-en-status-email", "smoke-en-cancel-yes", "smoke-zh-person"}


def test_unknown_keys_are_named_with_file_scenario_and_key() -> None:
    text = one_scenario(
        'turns: ["hi"]\nmood: happy', "handof: none\norders:\n  SO-10009117: {stat: cancelled}"
    )
    text = text.replace("version: 1", "version: 1\nextra: 1")
    problems = problems_of(text)
    assert any(p.startswith("set.yml: extra: unknown key") for p in problems)
    assert any(p.startswith("set.yml: scenario en-x-01: mood: unknown key") for p in problems)
    assert any(p.startswith("set.yml: scenario en-x-01: expect.handof: unknown key") for p in problems)
    assert any("expect.orders.SO-10009117.stat: unknown key" in p for p in problems)


def test_unknown_goal_language_and_status_are_refused() -> None:
    text = one_scenario('turns: ["hi"]', "orders:\n  SO-10009117: {status: gone}")
    text = text.replace("goal: cancel", "goal: refund").replace("language: en", "language: fr")
    problems = problems_of(text)
    assert any("scenario en-x-01: goal: 'refund' is not one of return, cancel" in p for p in problems)
    assert any("scenario en-x-01: language: 'fr' is not one of en, zh" in p for p in problems)
    assert any("expect.orders.SO-10009117.status: 'gone' is not one of" in p for p in problems)


@pytest.mark.parametrize(
    ("expect", "key"),
    [
        ("orders:\n  SO-1234: {status: cancelled}", "expect.orders.SO-1234"),
        ("orders:\n  10009117: {status: cancelled}", "expect.orders.10009117"),
        ("return: {order: so-10009117, sku: SPK-BT-MINI}", "expect.return.order"),
        ("packet: {order_id: SO-100091170}", "expect.packet.order_id"),
    ],
)
def test_order_numbers_must_be_so_and_eight_digits(expect: str, key: str) -> None:
    problems = problems_of(one_scenario('turns: ["hi"]', expect))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"set.yml: scenario en-x-01: {key}: ")
    assert "is not an order number (SO- and 8 digits)" in problems[0]


def test_turns_must_be_a_list_of_strings_with_a_hint_for_unquoted_words() -> None:
    assert "turns: must be a list of strings" in problems_of(one_scenario("turns: hello"))[0]
    problems = problems_of(one_scenario("turns:\n  - cancel SO-10009117\n  - yes\n  - 10009117"))
    assert problems[0] == (
        "set.yml: scenario en-x-01: turns[1]: must be text, not True (YAML reads an unquoted "
        "yes/no/on/off as true/false: quote it)"
    )
    assert "turns[2]: must be text, not 10009117 (a number: quote it)" in problems[1]
    assert "turns: must hold at least one turn" in problems_of(one_scenario("turns: []"))[0]
    assert "scenario en-x-01: turns: missing" in problems_of(one_scenario("summary: no turns"))[0]


def test_handoff_customer_and_reply_lists_are_checked() -> None:
    problems = problems_of(
        one_scenario(
            'turns: ["hi"]\ncustomer: {signed_in: "cust 1003"}',
            "handoff: [customer_request, angry]\nreply_includes: RA-\nreturn: maybe",
        )
    )
    assert any("customer.signed_in: 'cust 1003' is not a customer id" in p for p in problems)
    assert any("expect.handoff: 'angry': not a handoff reason" in p for p in problems)
    assert any("expect.reply_includes: must be a list of strings, not 'RA-'" in p for p in problems)
    assert any("expect.return: must be none or {order: SO-…, sku: …}" in p for p in problems)
    assert len(problems) == 4


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    good = tmp_path / "a.yml"
    good.write_text(VALID)
    again = tmp_path / "b.yml"
    again.write_text(VALID.replace("goal: return", "goal: wrong"))
    with pytest.raises(ScenarioFileError) as caught:
        load_files([good, again, tmp_path / "missing.yml"])
    problems = caught.value.problems
    assert any("b.yml: scenario en-return-size-01: goal: 'wrong'" in p for p in problems)
    assert any("b.yml: scenario zh-person-01: id: also used in" in p and "a.yml" in p for p in problems)
    assert any("missing.yml: cannot read" in p for p in problems)


def test_a_repeated_yaml_key_is_an_error_not_a_silent_override() -> None:
    problems = problems_of(one_scenario('turns: ["hi"]', "handoff: none\nhandoff: customer_request"))
    assert len(problems) == 1 and "duplicate key 'handoff'" in problems[0]
    assert problems[0].startswith("set.yml: not valid YAML")


def test_orders_and_skus_must_exist_in_the_seed() -> None:
    scenarios, _ = parse_file(
        one_scenario(
            'turns: ["hi"]',
            "orders:\n  SO-99999999: {status: cancelled}\nreturn: {order: SO-10009117, sku: NOPE-1}",
        ),
        "set.yml",
    )
    problems = check_against_seed(scenarios, SEED)
    assert any("expect.orders.SO-99999999: SO-99999999 is not in" in p for p in problems)
    assert any("expect.return: order SO-10009117 has no item NOPE-1" in p for p in problems)


def test_only_and_limit_select_scenarios() -> None:
    scenarios, _ = parse_file(VALID, "set.yml")
    assert [s.id for s in select(scenarios, ["zh-person-01"], None)] == ["zh-person-01"]
    assert [s.id for s in select(scenarios, [], 1)] == ["en-return-size-01"]
    with pytest.raises(ValueError, match="no scenario with id nope"):
        select(scenarios, ["nope"], None)


# -- judging a recorded conversation ------------------------------------------------------------------


def order(
    order_id: str, status: str = "paid", skus: tuple[str, ...] = ("SPK-BT-MINI",), **more: Any
) -> dict[str, Any]:
    items = [{"sku": s, "quantity": 1} for s in skus]
    return {"id": order_id, "status": status, "shipping_address": "1 Road", "items": items, **more}


BEFORE = StoreState(
    orders={
        "SO-10009117": order("SO-10009117"),
        "SO-10009118": order("SO-10009118", skus=("TEE-BASIC-L", "JEAN-SLIM-32", "SHOE-RUN-42")),
        "SO-10009101": order("SO-10009101", "delivered", ("SWTR-WOOL-GR-M",)),
    },
    returns={},
)


def changed(
    state: StoreState, order_id: str | None = None, returns: tuple[tuple[str, str], ...] = (), **fields: Any
) -> StoreState:
    orders = {k: dict(v) for k, v in state.orders.items()}
    if order_id:
        orders[order_id].update(fields)
    rows = dict(state.returns)
    rows.update({key: {"number": "RA-100001", "order_id": key[0], "sku": key[1]} for key in returns})
    return StoreState(orders, rows)


def scenario(expect: str = "", language: str = "en", goal: str = "cancel", turns: int = 3) -> Any:
    body = "turns: [" + ", ".join(f'"t{i}"' for i in range(turns)) + "]"
    text = one_scenario(body, expect).replace("language: en", f"language: {language}")
    scenarios, problems = parse_file(text.replace("goal: cancel", f"goal: {goal}"), "set.yml")
    assert problems == []
    return scenarios[0]


def replies(*texts: str, latency: float = 100.0) -> list[Turn]:
    return [Turn(f"t{i}", 200, [{"text": t}], latency) for i, t in enumerate(texts)]


def observed(*texts: str, **more: Any) -> Observation:
    return Observation("scn-x", replies(*texts), **more)


def test_a_confirmed_cancellation_passes_with_its_side_fields() -> None:
    s = scenario("orders:\n  SO-10009117: {status: cancelled}\nhandoff: none\nreturn: none")
    after = changed(
        BEFORE, "SO-10009117", status="cancelled", cancelled_on="2026-12-06", refund_issued_on="x"
    )
    outcome = evaluate(
        s, observed("Which e-mail?", "Please confirm", "Order SO-10009117 is cancelled."), BEFORE, after
    )
    assert outcome.passed, outcome.reasons
    assert outcome.harmful == [] and not outcome.handed_off


def test_a_missing_change_fails_and_an_unlisted_change_is_harmful() -> None:
    s = scenario("orders:\n  SO-10009117: {status: cancelled}")
    outcome = evaluate(
        s, observed("ok", "ok", "ok"), BEFORE, changed(BEFORE, "SO-10009118", status="cancelled")
    )
    assert "SO-10009117 status: expected 'cancelled', got 'paid'" in outcome.failures
    assert outcome.harmful == ["SO-10009118: status 'paid' → 'cancelled'"]
    assert not outcome.passed
    assert any(r.startswith("harmful: SO-10009118") for r in outcome.reasons)


def test_items_are_the_skus_left_on_the_order() -> None:
    s = scenario("orders:\n  SO-10009118: {items: [TEE-BASIC-L, SHOE-RUN-42]}")
    partial = [{"sku": "TEE-BASIC-L", "quantity": 1}, {"sku": "SHOE-RUN-42", "quantity": 1}]
    assert evaluate(s, observed("done"), BEFORE, changed(BEFORE, "SO-10009118", items=partial)).passed
    zeroed = [*partial, {"sku": "JEAN-SLIM-32", "quantity": 0}]
    assert remaining_skus({"items": zeroed}) == ["TEE-BASIC-L", "SHOE-RUN-42"]
    assert evaluate(s, observed("done"), BEFORE, changed(BEFORE, "SO-10009118", items=zeroed)).passed
    # The whole order cancelled when one item was asked for: wrong items kept, and a harmful status change.
    whole = changed(BEFORE, "SO-10009118", status="cancelled")
    outcome = evaluate(s, observed("done"), BEFORE, whole)
    assert "SO-10009118 items: expected [SHOE-RUN-42, TEE-BASIC-L]" in outcome.failures[0]
    assert outcome.harmful == ["SO-10009118: status 'paid' → 'cancelled'"]


def test_the_expected_return_counts_its_turns_and_others_are_harmful() -> None:
    s = scenario("return: {order: SO-10009101, sku: SWTR-WOOL-GR-M}\nhandoff: none", goal="return", turns=5)
    after = changed(BEFORE, returns=(("SO-10009101", "SWTR-WOOL-GR-M"),))
    obs = observed("a", "b", "c", "Your return number is RA-100001", "bye", return_turn=4)
    outcome = evaluate(s, obs, BEFORE, after)
    assert outcome.passed, outcome.reasons
    assert outcome.resolved_return_turns == 4

    missing = evaluate(s, observed("a", "b", "c", "d", "e"), BEFORE, BEFORE)
    assert missing.failures == ["no return authorised for SO-10009101 SWTR-WOOL-GR-M"]
    assert missing.resolved_return_turns is None

    wrong = changed(BEFORE, returns=(("SO-10009118", "JEAN-SLIM-32"),))
    assert evaluate(s, observed("a"), BEFORE, wrong).harmful == [
        "return authorised for SO-10009118 JEAN-SLIM-32"
    ]


def test_a_return_where_none_is_expected_fails_and_is_harmful() -> None:
    s = scenario("return: none", goal="return")
    outcome = evaluate(
        s, observed("ok"), BEFORE, changed(BEFORE, returns=(("SO-10009101", "SWTR-WOOL-GR-M"),))
    )
    assert outcome.failures == ["a return was authorised: SO-10009101 SWTR-WOOL-GR-M"]
    assert outcome.harmful == ["return authorised for SO-10009101 SWTR-WOOL-GR-M"]


def test_handoffs_are_judged_from_the_packet_and_the_owner() -> None:
    packet = {"reason": "customer_request", "language": "zh", "customer_id": None,
              "identity": {"customer_id": "cust-2008"}, "order": {"id": "SO-10009217"}}  # fmt: skip
    none = scenario("handoff: none")
    needless = evaluate(none, observed("ok", owner="queued", packet=packet), BEFORE, BEFORE)
    assert needless.needless_handoff and needless.failures == ["needless handoff (customer_request)"]
    assert evaluate(none, observed("ok", owner="bot"), BEFORE, BEFORE).passed

    wanted = scenario(
        "handoff: [complaint, customer_request]\n"
        "packet: {order_id: SO-10009217, language: zh, customer_id: cust-2008}",
        language="zh",
    )
    assert evaluate(wanted, observed("正在为您转接", owner="queued", packet=packet), BEFORE, BEFORE).passed
    missing = evaluate(wanted, observed("好的", owner="bot"), BEFORE, BEFORE)
    assert "no handoff (expected complaint or customer_request)" in missing.failures
    assert "no handoff packet to check order_id, language, customer_id" in missing.failures
    other = evaluate(
        wanted, observed("好的", packet={**packet, "reason": "kb_miss", "language": "en"}), BEFORE, BEFORE
    )
    assert "handoff reason kb_miss, expected complaint or customer_request" in other.failures
    assert "packet language: expected 'zh', got 'en'" in other.failures


def test_reply_checks_include_later_hub_messages_and_ignore_case() -> None:
    s = scenario('reply_includes: ["position 1"]\nreply_excludes: ["Cancelled"]')
    later = [{"author": "system", "text": "You are at position 1 in the queue."}]
    assert evaluate(s, observed("One moment", later=later), BEFORE, BEFORE).passed
    outcome = evaluate(s, observed("Your order is cancelled"), BEFORE, BEFORE)
    assert outcome.failures == ["no reply contains 'position 1'", "turn 1: a reply contains 'Cancelled'"]


def test_language_of_replies_buttons_and_notices() -> None:
    assert language_problem("en", "Your order SO-10009120 has shipped.") is None
    assert language_problem("en", "Your order 已发货") == "Chinese characters in an English conversation"
    assert language_problem("zh", "您的订单已发货") is None
    assert language_problem("zh", "Your order has shipped") == "no Chinese in a Chinese conversation"
    for neutral in ("SO-10009120", "#10009120", "RA-123456", "JEAN-SLIM-32", "¥59.00", "zhoujie@example.cn"):
        assert language_problem("zh", neutral) is None, neutral
    s = scenario(language="zh")
    obs = Observation(
        "scn-x", [Turn("t0", 200, [{"text": "请选择", "buttons": [{"title": "Yes, please"}]}], 5.0)]
    )
    obs.later = [{"author": "system", "text": "You are number 2 in the queue"}]
    failures = evaluate(s, obs, BEFORE, BEFORE).failures
    assert failures == [
        "turn 1 button: no Chinese in a Chinese conversation: 'Yes, please'",
        "later (system): no Chinese in a Chinese conversation: 'You are number 2 in the queue'",
    ]


def test_transport_errors_and_silence_fail() -> None:
    s = scenario()
    obs = Observation(
        "scn-x", [Turn("t0", None, error="ReadTimeout: timed out"), Turn("t1", 500, error="HTTP 500")]
    )
    assert evaluate(s, obs, BEFORE, BEFORE).failures == [
        "turn 1: ReadTimeout: timed out",
        "turn 2: HTTP 500",
        "the assistant never answered",
    ]


def test_later_messages_are_the_history_without_the_webhook_replies() -> None:
    history = [
        {"id": "1-0", "author": "bot", "text": "Hi!", "buttons": None},
        {"id": "2-0", "author": "bot", "text": "Hi!", "buttons": None},
        {"id": "3-0", "author": "system", "text": "You are number 1 in the queue.", "buttons": None},
    ]
    assert later_messages(history, [{"text": "Hi!"}]) == [
        {"author": "bot", "text": "Hi!"},
        {"author": "system", "text": "You are number 1 in the queue."},
    ]


# -- totals and reports -------------------------------------------------------------------------------


def test_percentiles_interpolate_like_numpy() -> None:
    assert report.percentile([1, 2, 3, 4], 50) == 2.5
    assert report.percentile([10, 20, 30, 40, 50], 95) == pytest.approx(48.0)
    assert math.isnan(report.percentile([], 50))


def test_totals_per_language_and_goal() -> None:
    ret = scenario("return: {order: SO-10009101, sku: SWTR-WOOL-GR-M}\nhandoff: none", goal="return", turns=4)
    authorised = changed(BEFORE, returns=(("SO-10009101", "SWTR-WOOL-GR-M"),))
    zh = scenario("handoff: none", language="zh", goal="order_status")
    outcomes = [
        evaluate(
            ret,
            Observation("a", replies("a", "b", "c", "RA-1", latency=100), return_turn=3),
            BEFORE,
            authorised,
        ),
        evaluate(ret, Observation("b", replies("a", "b", "c", "d", latency=300)), BEFORE, BEFORE),
        evaluate(zh, observed("好的", owner="queued", packet={"reason": "kb_miss"}), BEFORE, BEFORE),
    ]
    rows = {t.group: t for t in report.groups(outcomes)}
    assert list(rows) == ["all", "en", "zh", "goal return", "goal order_status"]
    everything = rows["all"]
    assert (everything.scenarios, everything.passed, everything.needless_handoffs) == (3, 1, 1)
    assert everything.no_handoff_expected == 3
    assert rows["goal return"].return_turns == [3]
    assert rows["goal return"].pass_rate == 0.5
    assert report.percentile(rows["en"].latencies, 50) == 200.0
    table = report.text_table(report.groups(outcomes))
    assert "goal return" in table and "3.0 (n=1)" in table and "1 of 3" in table


def test_markdown_summary_names_command_machine_and_failures() -> None:
    s = scenario("orders:\n  SO-10009117: {status: cancelled}")
    outcome = evaluate(s, observed("ok | fine"), BEFORE, BEFORE)
    target = Target("http://127.0.0.1:1", Path("orders.sqlite"), "redis://127.0.0.1:1/0")
    result = report.StackResult("this checkout", "The stack.", {}, SuiteRun(target, [outcome]))
    machine = report.machine()
    ctx: dict[str, Any] = {
        "command": ".venv/bin/python -m bench.scenarios --only en-x-01",
        "date": "2026-12-06 01:00 UTC",
        "seconds": 12.0,
        "machine": machine,
        "files": {"set.yml": 1},
        "selected": 1,
    }
    text = report.markdown(ctx, [result])
    assert ".venv/bin/python -m bench.scenarios --only en-x-01" in text
    assert f"{machine['cores']} cores" in text and f"`uname -m` {machine['arch']}" in text
    assert "| all | 1 | 0 | 0% |" in text
    assert "- `en-x-01`: SO-10009117 status: expected 'cancelled', got 'paid'" in text
    record = json.loads(json.dumps(result.as_dict(), ensure_ascii=False))
    assert record["scenarios"][0]["transcript"][0]["replies"] == [{"text": "ok | fine"}]


# -- a run through a fake hub over a real order store -------------------------------------------------


class FakeRedis:
    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, str]] = {}
        self.values: dict[str, str] = {}

    def ping(self) -> bool:
        return True

    def hget(self, key: str, field: str) -> str | None:
        return self.hashes.get(key, {}).get(field)

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def scan_iter(self, match: str, count: int) -> list[str]:
        return [k for k in self.values if fnmatch.fnmatch(k, match)]

    def delete(self, *names: str) -> None:
        for name in names:
            self.values.pop(name, None)

    def close(self) -> None:
        pass


class FakeHub:
    """Answers like the hub; a "yes" cancels SO-10009117 in the store, "person" hands off."""

    def __init__(self, store: SqliteOrderStore, redis: FakeRedis) -> None:
        self.store, self.redis = store, redis
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.bodies: list[dict[str, Any]] = []
        self.limited = 1  # the first message gets a 429

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/webhooks/rest/messages":
            return httpx.Response(200, json=self.history.get(request.url.params["sender"], []))
        if self.limited:
            self.limited -= 1
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"error": "too many"})
        body = json.loads(request.content)
        self.bodies.append(body)
        sender, text = body["sender"], body["message"]
        answer = "Which e-mail address is on the order?"
        if text == "yes":
            asyncio.run(self.store.cancel("SO-10009117"))
            answer = "Order SO-10009117 is cancelled."
        elif "person" in text:
            conversation = f"rest-{sender}"
            self.redis.hashes[f"hub:conv:{conversation}"] = {"owner": "queued"}
            self.redis.values[f"hub:handoff:{conversation}"] = json.dumps({"reason": "customer_request"})
            notice = {
                "id": "2-0",
                "author": "system",
                "text": "You are number 1 in the queue.",
                "buttons": None,
            }
            self.history.setdefault(sender, []).append(notice)
            answer = "I'm connecting you with a person."
        self.history.setdefault(sender, []).insert(0, {"id": "1-0", "author": "bot", "text": answer})
        return httpx.Response(200, json=[{"recipient_id": sender, "text": answer}])


def test_a_run_restores_the_store_before_each_scenario_and_at_the_end(tmp_path: Path) -> None:
    db = tmp_path / "orders.sqlite"
    store = SqliteOrderStore(db, SEED)
    asyncio.run(store.get("SO-10009117"))  # seeds, as the action server does on its first lookup
    redis = FakeRedis()
    redis.values["actions:order_check:addr:127.0.0.1"] = "7"
    hub = FakeHub(store, redis)
    scenarios, problems = parse_file(
        """
version: 1
scenarios:
  - id: cancel-01
    language: en
    goal: cancel
    turns: ["cancel SO-10009117", "harry.patel@example.com", "yes"]
    expect: {orders: {SO-10009117: {status: cancelled}}, handoff: none}
  - id: person-01
    language: en
    goal: handoff
    customer: {signed_in: cust-1008}
    turns: ["a person please"]
    expect: {handoff: customer_request, reply_includes: ["number 1 in the queue"]}
""",
        "set.yml",
    )
    assert problems == []
    target = Target("http://hub.test", db, "redis://127.0.0.1:1/0", "token")
    runner = Runner(target, settle=0, run_tag="t1")
    runner.http.close()
    runner.http = httpx.Client(base_url=target.hub_url, transport=httpx.MockTransport(hub))
    runner.redis = redis  # type: ignore[assignment]
    with runner:
        runner.prepare(SEED)
        assert "actions:order_check:addr:127.0.0.1" not in redis.values
        outcomes = runner.run(scenarios)
    cancel, person = outcomes
    assert cancel.passed, cancel.reasons
    assert person.passed, person.reasons  # the order cancelled by the first scenario was restored
    assert cancel.observation.sender == "scn-t1-cancel-01"
    assert [t.store_changes for t in cancel.observation.turns] == [
        [],
        [],
        ["SO-10009117: status 'paid' → 'cancelled'; also cancelled_on, refund_issued_on"],
    ]
    assert all(t.latency_ms is not None for t in cancel.observation.turns)
    assert person.observation.later == [{"author": "system", "text": "You are number 1 in the queue."}]
    assert hub.bodies[-1]["metadata"] == {"customer_id": "cust-1008"}
    assert "metadata" not in hub.bodies[-2]
    assert OrderDb(db).state().orders["SO-10009117"]["status"] == "paid"  # left as it was found
    assert asyncio.run(store.get("SO-10009117")).status.value == "paid"  # type: ignore[union-attr]
