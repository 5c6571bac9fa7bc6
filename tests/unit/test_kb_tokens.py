"""Queries in the articles' words: how customers say "return"."""

import pytest

from kb_index.tokens import plain_terms


@pytest.mark.parametrize(
    ("typed", "searched"),
    [
        ("how long do I have to send back a kettle?", "how long do I have to return a kettle?"),
        ("can I send it back if I change my mind", "can I return if I change my mind"),
        ("who pays for shipping them back", "who pays for return"),
        ("the parcel was sent yesterday", "the parcel was sent yesterday"),  # no "back": unchanged
    ],
)
def test_sending_back_is_searched_as_returning(typed: str, searched: str) -> None:
    assert plain_terms(typed, "en") == searched


def test_other_languages_are_searched_as_typed() -> None:
    assert plain_terms("寄回去要多久", "zh") == "寄回去要多久"
