"""What customers send, made safe before anything stores or forwards it: pure rules, no I/O.

- Text: `normalise_text` (NFC; lone surrogates and blank messages refused; bidirectional controls, zero-width
  characters and C0/C1 controls removed) and `check_message` (the same plus the length limit). Stored
  text that is not the customer's own input (a handoff packet) goes through `clean_text`, which never
  refuses.
- Metadata: `customer_metadata` keeps a few small flat keys a caller may send; `assistant_metadata` builds
  the dict the hub sends to the assistant, and `trusted_metadata` is the hub's last filter of it. The
  action server relies on these names: `channel`, `customer_id` (only when verified), `verified_by`,
  `verified_phone`, `client_address` and `client` (the caller's filtered metadata).
- Intent payloads: a text starting with "/" is Rasa's `/intent{entities}` syntax, which skips
  understanding. `text_for_assistant` passes it on only when it is a button payload the assistant offered
  in this conversation lately (`remember_payloads`); otherwise the leading slashes are removed, so the text
  is understood like any other message.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit


class InboundError(ValueError):
    """Input the service refuses; the message says why and `field` names what, when it is known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidText(InboundError):
    """A message that cannot be stored or understood (not valid Unicode, blank, too long)."""


class BlankText(InvalidText):
    """Text with nothing visible in it: only spaces, zero-width or other invisible characters."""


class InvalidMetadata(InboundError):
    """Caller metadata that is nested, too large or not the caller's to set; `field` names the key."""


# -- text ---------------------------------------------------------------------------------------------

# Bidirectional controls reorder what a reader sees ("\u202egnp.exe" shows as "exe.png").
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Zero-width characters hide text and make look-alike messages; ZWJ is kept inside emoji (see below).
_ZERO_WIDTH = "\u200b\u200c\u2060\ufeff"
# C0 and C1 controls other than tab and line breaks: terminal escapes, NUL.
_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_INVISIBLE = re.compile(f"[{_BIDI}{_ZERO_WIDTH}{_CONTROLS}]")
# ZWJ joins emoji into one picture (family, flags, professions); anywhere else it only hides text.
_EMOJI = "\u2600-\u27bf\ufe0f\U0001f000-\U0001faff"
_STRAY_ZWJ = re.compile(f"(?<![{_EMOJI}])\u200d|\u200d(?![{_EMOJI}])")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Characters that render as nothing although Unicode does not class them as spaces or format characters.
_BLANK_LOOKALIKES = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")


def _strip_invisible(text: str) -> str:
    return _STRAY_ZWJ.sub("", _INVISIBLE.sub("", text))


def _has_visible(text: str) -> bool:
    return any(
        not ch.isspace() and ch not in _BLANK_LOOKALIKES and unicodedata.category(ch) not in ("Cf", "Cc")
        for ch in text
    )


def normalise_text(text: str) -> str:
    """Customer or agent text as it is stored and forwarded: NFC, without bidirectional controls,
    zero-width characters or control characters. InvalidText for a lone UTF-16 surrogate (a JSON
    "\\ud800" that no encoder can store) and for text with nothing visible left."""
    if _SURROGATE.search(text):
        raise InvalidText("the text contains a lone UTF-16 surrogate, which is not valid Unicode")
    cleaned = unicodedata.normalize("NFC", _strip_invisible(text))
    if not _has_visible(cleaned):
        raise BlankText("the text is empty: it has only spaces or invisible characters")
    return cleaned


def check_message(value: object, *, max_chars: int, field: str = "message") -> str:
    """A customer message: a string, normalised, 1 to `max_chars` characters; else InvalidText."""
    if not isinstance(value, str):
        raise InvalidText(f"a message is a string of 1-{max_chars} characters", field)
    if len(value) > max_chars * 4:  # refuse the absurd before scanning it
        raise InvalidText(f"a message is 1-{max_chars} characters", field)
    try:
        text = normalise_text(value)
    except InvalidText as exc:
        raise type(exc)(str(exc), field) from None
    if len(text) > max_chars:
        raise InvalidText(f"a message is 1-{max_chars} characters (this one has {len(text)})", field)
    return text


def clean_text(text: str) -> str:
    """`normalise_text` for text that must be kept whatever it holds: lone surrogates become U+FFFD and
    blank text stays blank instead of being refused."""
    return unicodedata.normalize("NFC", _strip_invisible(_SURROGATE.sub("\ufffd", text)))


# -- metadata -----------------------------------------------------------------------------------------

#: Keys the hub passes to the assistant; channel code sets them, a caller never does.
TRUSTED_KEYS: Final = frozenset({"customer_id", "verified_by", "verified_phone", "client_address", "client"})
VERIFICATIONS: Final = frozenset({"storefront", "rest_token", "telegram_contact"})

_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}\Z")
_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}\Z")
_URL_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")
#: What a caller may describe about its client, with the longest value accepted for each.
CLIENT_KEYS: Final = {"locale": 16, "page_url": 512, "user_agent": 256}
CUSTOMER_ID_MAX: Final = 64
_CUSTOMER_FIELD = "metadata.customer_id"


def customer_metadata(raw: object, *, trusted: bool) -> dict[str, str]:
    """The caller's metadata reduced to small flat strings: `locale`, `page_url`, `user_agent`, and
    `customer_id` for a trusted caller (one that sent the REST token). Other keys are dropped; an allowed
    key with a nested, oversized or malformed value is refused with InvalidMetadata naming it, and so is
    `customer_id` from a caller that is not trusted."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidMetadata("'metadata' must be a JSON object", "metadata")
    kept: dict[str, str] = {}
    for key, limit in CLIENT_KEYS.items():
        value = raw.get(key)
        if value is not None:
            kept[key] = _client_value(key, value, limit)
    if raw.get("customer_id") is not None:
        if not trusted:
            raise InvalidMetadata(
                f"'{_CUSTOMER_FIELD}' can only be set by a caller with the REST token", _CUSTOMER_FIELD
            )
        kept["customer_id"] = _customer_id(raw["customer_id"])
    return kept


def _client_value(key: str, value: object, limit: int) -> str:
    field = f"metadata.{key}"
    if not isinstance(value, str):
        raise InvalidMetadata(f"'{field}' must be a string of at most {limit} characters", field)
    if len(value) > limit:
        raise InvalidMetadata(f"'{field}' is longer than {limit} characters", field)
    if _SURROGATE.search(value):
        raise InvalidMetadata(f"'{field}' contains a lone UTF-16 surrogate", field)
    if key == "locale" and not _LOCALE.match(value):
        raise InvalidMetadata(f"'{field}' must be a language tag such as 'en' or 'zh-CN'", field)
    if key == "page_url" and (_URL_UNSAFE.search(value) or not _is_web_url(value)):
        raise InvalidMetadata(f"'{field}' must be an http or https URL", field)
    return unicodedata.normalize("NFC", _strip_invisible(value))


def _is_web_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:  # a malformed port or IPv6 literal
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _customer_id(value: object) -> str:
    if not isinstance(value, str) or not _CUSTOMER_ID.match(value):
        raise InvalidMetadata(
            f"'{_CUSTOMER_FIELD}' must be 1-{CUSTOMER_ID_MAX} of A-Z a-z 0-9 _ . @ -", _CUSTOMER_FIELD
        )
    return value


def assistant_metadata(
    *,
    client_address: str,
    client: Mapping[str, str] | None = None,
    customer_id: str | None = None,
    verified_by: str | None = None,
) -> dict[str, Any]:
    """What a widget or REST message tells the assistant about its sender (the hub adds `channel`). A
    customer id is passed only with the verification that vouches for it."""
    if (customer_id is None) != (verified_by is None):
        raise ValueError("customer_id and verified_by go together")
    if verified_by is not None and verified_by not in VERIFICATIONS:
        raise ValueError(f"unknown verification {verified_by!r}")
    meta: dict[str, Any] = {"client_address": client_address}
    if customer_id is not None:
        meta["customer_id"] = customer_id
        meta["verified_by"] = verified_by
    if client:
        meta["client"] = dict(client)
    return meta


def trusted_metadata(metadata: Mapping[str, Any] | None, channel: str) -> dict[str, Any]:
    """The hub's last filter: only the keys the assistant's contract names, as channel code set them,
    and the channel the message came in on."""
    kept = {key: value for key, value in (metadata or {}).items() if key in TRUSTED_KEYS}
    return {**kept, "channel": channel}


# -- intent payloads ----------------------------------------------------------------------------------

INTENT_PREFIX: Final = "/"
#: Payloads every conversation may send: what a channel sends when a chat starts (Telegram's /start).
ALWAYS_ACCEPTED: Final = frozenset({"/greet"})
#: How many of the assistant's latest slash payloads a conversation accepts, and for how long.
PAYLOADS_KEPT: Final = 20
PAYLOADS_TTL_SECONDS: Final = 24 * 3600


def is_intent_payload(text: str) -> bool:
    """Whether Rasa would read the text as `/intent{entities}` (it strips whitespace first)."""
    return text.strip().startswith(INTENT_PREFIX)


def offered_payloads(buttons: Iterable[Mapping[str, Any]] | None) -> list[str]:
    """The slash payloads among a reply's buttons (survey answers and article titles are plain text)."""
    found = []
    for button in buttons or []:
        payload = button.get("payload") if isinstance(button, Mapping) else None
        if isinstance(payload, str) and is_intent_payload(payload):
            found.append(payload)
    return found


def _digest(payload: str) -> str:
    # Digests keep the record small whatever the payloads hold; they are only ever compared.
    return hashlib.sha256(clean_text(payload).strip().encode()).hexdigest()[:32]


def _recent_digests(stored: str | None, now: float) -> list[str]:
    try:
        record = json.loads(stored) if stored else {}
        at, digests = float(record["at"]), record["digests"]
    except (ValueError, TypeError, KeyError):
        return []
    if now - at > PAYLOADS_TTL_SECONDS or not isinstance(digests, list):
        return []
    return [d for d in digests if isinstance(d, str)]


def remember_payloads(stored: str | None, payloads: Sequence[str], now: float) -> str:
    """The conversation's record of offered payloads with `payloads` added: the newest PAYLOADS_KEPT
    distinct ones, valid PAYLOADS_TTL_SECONDS from now (the whole record is refreshed)."""
    newest = [_digest(p) for p in reversed(payloads)]
    merged = list(dict.fromkeys(newest + _recent_digests(stored, now)))[:PAYLOADS_KEPT]
    return json.dumps({"at": round(now, 3), "digests": merged}, separators=(",", ":"))


def was_offered(stored: str | None, text: str, now: float) -> bool:
    return _digest(text) in _recent_digests(stored, now)


def strip_intent_prefix(text: str) -> str:
    """The text without its leading slashes, so that the assistant understands it like typed text. Text
    that is only slashes is kept: Rasa needs an intent name after the slash, so it is not a payload."""
    rest = text.strip()
    while rest.startswith(INTENT_PREFIX):
        rest = rest[len(INTENT_PREFIX) :].lstrip()
    return rest or text


def text_for_assistant(text: str, stored: str | None, now: float) -> str:
    """What the assistant is sent for a customer's text: a payload it offered (or one every conversation
    may send) as it is, any other slash text without its slashes, everything else unchanged."""
    if not is_intent_payload(text):
        return text
    if text.strip() in ALWAYS_ACCEPTED or was_offered(stored, text, now):
        return text.strip()
    return strip_intent_prefix(text)
