"""A handoff packet may say which experiment variants led to it; the routing weights are the hub's to set."""

import pytest

from handoff.errors import BadRequest
from handoff.packet import validate_packet

BASE = {"conversation_id": "c1", "reason": "kb_miss", "language": "en"}


def test_the_variants_that_led_to_a_handoff_are_accepted() -> None:
    assert validate_packet({**BASE, "experiments": {"exp-1a2b": "strict"}})["experiments"] == {
        "exp-1a2b": "strict"
    }


@pytest.mark.parametrize(
    "bad",
    [["exp-1"], {"exp-1": 3}, {"": "a"}, {"exp 1": "a"}, {"e": "<b>"}, {f"e{n}": "a" for n in range(9)}],
)
def test_malformed_experiments_are_refused_naming_the_field(bad: object) -> None:
    with pytest.raises(BadRequest) as error:
        validate_packet({**BASE, "experiments": bad})
    assert error.value.field == "experiments"


def test_a_sender_cannot_choose_the_routing_weights() -> None:
    with pytest.raises(BadRequest) as error:
        validate_packet({**BASE, "routing_weights": {"skill": 1, "load": 0, "rating": 0}})
    assert error.value.field == "routing_weights"
