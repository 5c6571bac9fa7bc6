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


def shipped_domain() -> dict:
    """The responses of the shipped domain, as Rasa sends them to the action server."""
    from pathlib import Path

    import yaml

    responses: dict = {}
    for path in sorted((Path(__file__).resolve().parents[2] / "bot" / "domain").glob("*.yml")):
        responses.update((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {})
    return {"responses": responses}


def variant_metadata(variant: object) -> dict:
    return {"channel": "widget", "experiments": {"reply_variant": {"id": "exp-1", "variant": variant}}}


@pytest.mark.parametrize(
    ("current", "variant", "expected"),
    [
        (None, "shortcuts", {"reply_variant": "shortcuts"}),  # the domain has variations for it
        ("shortcuts", "shortcuts", {}),
        (None, "control", {}),  # no variation by that name: the control, None
        ("shortcuts", "nonexistent", {"reply_variant": None}),
        ("shortcuts", None, {"reply_variant": None}),  # the experiment stopped
        (None, 7, {}),
    ],
)
async def test_the_reply_variant_follows_the_hubs_metadata(
    current: object, variant: object, expected: dict
) -> None:
    tracker = make_tracker({"reply_variant": current}, metadata=variant_metadata(variant) if variant else {})
    extract = ValidateSlotMappings().extract_reply_variant
    assert await extract(CollectingDispatcher(), tracker, shipped_domain()) == expected


def test_every_varied_response_has_a_control_and_each_variant_in_both_languages() -> None:
    for name, variations in shipped_domain()["responses"].items():
        conditions = [{c["name"]: c["value"] for c in v.get("condition") or []} for v in variations]
        if not any("reply_variant" in c for c in conditions):
            continue
        variants = {c.get("reply_variant") for c in conditions}
        assert None in variants, f"{name} has no control variation (reply_variant: null)"
        for variant in variants:
            assert {c.get("language") for c in conditions if c.get("reply_variant") == variant} == {
                "en",
                "zh",
            }, name
