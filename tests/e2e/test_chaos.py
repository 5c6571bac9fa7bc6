"""The chaos soak, short (bench/soak.py): a stack of its own, separate from the session's, with customers
on the widget and REST and agents taking handoffs, while the hub, one Rasa server, the action server and
Redis are each killed with SIGKILL once and come back. Nothing acknowledged may be lost, routing must stay
consistent, and every kind of kill must be followed by conversations going on."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import SoakConfig, markdown, run_soak
from bench.soak_stack import KINDS

pytestmark = pytest.mark.e2e

# About 100 s of traffic with the four kills in it (Rasa takes the longest to come back, 20-30 s), then a
# 15 s settle: with the start-up, about three and a half minutes on two cores.
SHORT = SoakConfig(minutes=1.5, warmup=10, gap=8, tail=15, settle=15, kills_per_kind=1, customers=6, agents=3)


def test_nothing_acknowledged_is_lost_while_each_process_kind_is_killed(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    result = run_soak(SHORT, "pytest tests/e2e/test_chaos.py", logs=logs)
    report = f"{markdown(result)}\nlogs: {logs}"
    print(report)  # shown with -rP, and with the assertion that fails

    assert sorted(kill.kind for kill in result.kills) == sorted(KINDS), report
    assert result.totals["acknowledged"] >= 50, report
    assert result.transcripts.lost == [], report
    assert result.transcripts.agent_lost == [], report
    assert result.routing.double_assignments == [], report
    assert result.routing.orphans == [], report
    assert result.routing.ownership_errors == [], report
    assert result.routing.load_errors == [], report
    assert result.routing.handoffs > 0 and result.totals["offers accepted"] > 0, report
    for kill in result.kills:
        assert kill.back_after is not None, report
        assert kill.acknowledged_after >= 1, report
