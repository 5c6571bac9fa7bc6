from pathlib import Path

import pytest

from handoff.quick_replies.cli import main
from handoff.quick_replies.loader import load_templates
from handoff.quick_replies.search import QuickReplies
from tests.unit.quick_reply_files import GOOD, SHIPPED, second, write


@pytest.fixture(scope="module")
def shipped() -> QuickReplies:
    return load_templates(SHIPPED)


def test_check_command_reports_counts(capsys: pytest.CaptureFixture[str], shipped: QuickReplies) -> None:
    assert main(["check", str(SHIPPED)]) == 0
    counts = shipped.counts()
    assert capsys.readouterr().out.strip() == (
        f"{len(shipped)} templates OK (en: {counts['en']}, zh: {counts['zh']})"
    )


def test_check_command_prints_the_error_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, GOOD + second(text='"{order_no}"'))
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "en.yml:13: template 'orders.status': unknown variable {order_no}" in err
