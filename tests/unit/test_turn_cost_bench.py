"""bench/turn_cost.py's arithmetic: the windows it compares and the ratios it reports."""

from pathlib import Path

from bench.turn_cost import StoreRun, Turn, report, summary


def turns(latencies: list[float], nbytes: int = 100) -> list[Turn]:
    return [Turn(n + 1, ms, ms / 2, nbytes) for n, ms in enumerate(latencies)]


def test_summary_takes_median_and_p99_of_a_window() -> None:
    part = summary(turns([10, 30, 20, 40, 1000]))
    assert part["p50_ms"] == 30
    assert part["p99_ms"] == 1000
    assert part["rasa_cpu_ms"] == (10 + 30 + 20 + 40 + 1000) / 2 / 5


def test_report_compares_the_first_and_last_ten_turns() -> None:
    flat = StoreRun("windowed", turns([20.0] * 30))
    growing = StoreRun("rasa", turns([20.0] * 10 + [200.0] * 20, nbytes=1000))
    growing.turns[-1].bytes_written = 50_000
    text = report([flat, growing], "python -m bench.turn_cost", "now", Path("."))
    assert "| windowed | last / first | ×1.00 | ×1.00 |" in text
    assert "| rasa | 21-30 | 200 | 200 |" in text
    assert "| rasa | last / first | ×10.00 | ×10.00 |" in text
