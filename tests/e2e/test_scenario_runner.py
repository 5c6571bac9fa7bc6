"""The conversation scenario runner (python -m bench.scenarios) through the session's running stack:
a few scenarios from tests/fixtures/scenarios/smoke.yml, judged, reported, and the order store left as
the runner found it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.scenarios import report
from bench.scenarios.runner import OrderDb, Target, run_suite
from bench.scenarios.spec import load_files
from tests.e2e.conftest import ROOT, Stack

pytestmark = pytest.mark.e2e

SMOKE = ROOT / "tests" / "fixtures" / "scenarios" / "smoke.yml"


def test_smoke_scenarios_pass_and_the_store_is_left_as_found(stack: Stack, tmp_path: Path) -> None:
    env = stack.env
    target = Target(
        hub_url=stack.hub_url,
        order_db=Path(env["ORDER_DB"]),
        redis_url=f"redis://:{env['REDIS_PASSWORD']}@127.0.0.1:{env['REDIS_PORT']}/0",
        rest_token=env.get("HUB_REST_TOKEN"),
        label="e2e stack",
    )
    scenarios = load_files([SMOKE])
    run = run_suite(target, scenarios, settle=1.0)

    outcomes = {o.scenario.id: o for o in run.outcomes}
    assert list(outcomes) == [s.id for s in scenarios]
    failed = {sid: o.reasons for sid, o in outcomes.items() if not o.passed}
    assert not failed, json.dumps(failed, ensure_ascii=False, indent=1)

    cancel = outcomes["smoke-en-cancel-yes"].observation
    assert any("SO-10009117: status 'paid' → 'cancelled'" in line for line in cancel.turns[-1].store_changes)
    person = outcomes["smoke-zh-person"]
    assert person.handed_off and person.handoff_reason == "customer_request"
    assert person.observation.owner in ("queued", "offered", "agent")
    assert person.observation.later, "the hub's queue notice is fetched after the last turn"
    assert all(o.bot_latencies for o in outcomes.values())

    # The cancellation was undone: the store is as the runner found it.
    assert OrderDb(target.order_db).state().orders["SO-10009117"]["status"] == "paid"

    result = report.StackResult("e2e stack", "The end-to-end session's stack.", {}, run)
    totals = {t.group: t for t in result.rows}
    assert totals["all"].passed == 3 and totals["en"].scenarios == 2 and totals["zh"].scenarios == 1
    assert totals["all"].harmful_actions == 0 and totals["all"].needless_handoffs == 0
    record = json.loads(json.dumps(result.as_dict(), ensure_ascii=False))
    assert record["scenarios"][0]["transcript"][0]["text"] == scenarios[0].turns[0]
