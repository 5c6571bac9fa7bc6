"""Every Redis key the handoff service uses is built here, under one prefix."""

PREFIX = "hub"


def transcript(conversation_id: str) -> str:
    """Append-only stream of a conversation's messages (customer, bot, agent, system)."""
    return f"{PREFIX}:conv:{conversation_id}:transcript"


def client_message(conversation_id: str, client_id: str) -> str:
    """Marker that the customer message with this client id is stored (a re-send after a reconnect)."""
    return f"{PREFIX}:dedupe:{conversation_id}:{client_id}"


def conversation(conversation_id: str) -> str:
    """Hash with the conversation's state: owner, channel, language, timestamps, offered payloads."""
    return f"{PREFIX}:conv:{conversation_id}"


# Field of the conversation hash: digests of the slash payloads the assistant's buttons offered lately
# (handoff.inbound.remember_payloads), with their time. A field rather than a key of its own: the hub
# reads the hash for every customer message anyway, and it goes when the conversation goes.
OFFERED_PAYLOADS = "offered_payloads"


def conversations_index() -> str:
    """Sorted set of conversation ids scored by last activity (no KEYS scans)."""
    return f"{PREFIX}:conversations"


def handoff_packet(conversation_id: str) -> str:
    """JSON of the latest handoff packet for a conversation (what the agent's context card shows)."""
    return f"{PREFIX}:handoff:{conversation_id}"


def transcript_events() -> str:
    """Pub/sub channel: a conversation's transcript has a new entry (payload: conversation id, entry id)."""
    return f"{PREFIX}:transcripts"


def live_events() -> str:
    """Pub/sub channel for things that are not stored: typing indicators."""
    return f"{PREFIX}:live"


def surveys() -> str:
    """Stream of satisfaction-survey answers (conversation, agent, stars)."""
    return f"{PREFIX}:surveys"


def identity(kind: str, value: str) -> str:
    """A verified customer identity (customer, email, phone) → their conversation id."""
    normal = "".join(c for c in value if c.isdigit()) if kind == "phone" else value.strip().lower()
    return f"{PREFIX}:identity:{kind}:{normal}"


def address(channel: str, address: str) -> str:
    """A channel address linked to another conversation (a Telegram chat of a known customer)."""
    return f"{PREFIX}:address:{channel}:{address}"


def telegram_phone(chat_id: str) -> str:
    """String: the phone number Telegram verified for a chat (the customer shared their own contact);
    it expires 30 days after the contact was shared."""
    return f"{PREFIX}:telegram:phone:{chat_id}"


def attachment(attachment_id: str) -> str:
    """Hash: a customer photo's content_type, size, sha256, conversation_id and created_at; it expires when
    the photo's retention ends (handoff/attachments.py)."""
    return f"{PREFIX}:attachment:{attachment_id}"
