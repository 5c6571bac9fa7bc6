import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.language import ValidateSlotMappings
from tests.unit.fakes import make_tracker


@pytest.mark.parametrize(
    ("current", "text", "expected"),
    [
        ("en", "我想退货", {"language": "zh"}),
        ("zh", "where is my parcel", {"language": "en"}),
        ("zh", "我的order到哪了", {}),  # already Chinese
        ("zh", "SO-10001021", {}),  # an order number says nothing about the language
        ("zh", "10001021", {}),  # no letters: keep the conversation's language
        ("zh", '/inform{"order_id":"SO-10001021"}', {}),  # a button press
    ],
)
async def test_language_follows_each_message(current: str, text: str, expected: dict) -> None:
    tracker = make_tracker({"language": current}, text=text)
    assert await ValidateSlotMappings().extract_language(CollectingDispatcher(), tracker, {}) == expected
