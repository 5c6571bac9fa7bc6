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


# -- tickets (handoff/tickets/store.py) ---------------------------------------------------------------


def ticket_sequence() -> str:
    """String: the ticket id counter (T-000001, ...)."""
    return f"{PREFIX}:tickets:seq"


def ticket(ticket_id: str) -> str:
    """Hash: a ticket's fields (an absent field is null) and its `seq`."""
    return f"{PREFIX}:ticket:{ticket_id}"


def ticket_history(ticket_id: str) -> str:
    """List: a ticket's history as JSON entries {at, actor, action, changes, note}, oldest first."""
    return f"{ticket(ticket_id)}:history"


def all_tickets() -> str:
    """Sorted set: every ticket, scored by `seq` (newest = highest)."""
    return f"{PREFIX}:tickets"


def tickets_by_status(status: str) -> str:
    """Sorted set: the tickets with this status, scored by `seq`."""
    return f"{PREFIX}:tickets:status:{status}"


def tickets_by_skill(skill: str) -> str:
    """Sorted set: the tickets in this skill's queue, scored by `seq`."""
    return f"{PREFIX}:tickets:skill:{skill}"


def tickets_by_assignee(agent_id: str) -> str:
    """Sorted set: the tickets assigned to this agent, scored by `seq`."""
    return f"{PREFIX}:tickets:assignee:{agent_id}"


def unassigned_tickets() -> str:
    """Sorted set: the tickets assigned to nobody, scored by `seq`."""
    return f"{PREFIX}:tickets:unassigned"


def tickets_by_conversation(conversation_id: str) -> str:
    """Sorted set: the tickets about this conversation, scored by `seq`."""
    return f"{PREFIX}:tickets:conversation:{conversation_id}"


def ticket_counts() -> str:
    """Hash: "<skill>:<status>" → number of tickets (dashboards read it without a scan)."""
    return f"{PREFIX}:tickets:counts"


def auto_ticket(conversation_id: str, handoff_id: str) -> str:
    """String: the id of the automatic ticket of one handoff (created once, whoever asks first)."""
    return f"{PREFIX}:tickets:auto:{conversation_id}:{handoff_id}"


def ticket_listing(listing_id: str) -> str:
    """Sorted set: one listing's intersection (and `<key>:<n>` its unions); the list script deletes them."""
    return f"{PREFIX}:tickets:tmp:{listing_id}"


def agent(agent_id: str) -> str:
    """Hash: an agent's routing record (the routing engine writes it; tickets only check it exists)."""
    return f"{PREFIX}:agent:{agent_id}"


# -- staff accounts, sessions and API tokens (handoff/accounts.py, handoff/identity.py) ---------------


def user(user_id: str) -> str:
    """Hash: a staff user's role, name, agent id, language and password hash."""
    return f"{PREFIX}:user:{user_id}"


def users() -> str:
    """Set: every staff user id."""
    return f"{PREFIX}:users"


def user_sessions(user_id: str) -> str:
    """Set: the digests of a user's console sessions (to end them all on a password change)."""
    return f"{PREFIX}:user:{user_id}:sessions"


def session(digest: str) -> str:
    """Hash: a console session, by the sha256 of its cookie value; expires when idle."""
    return f"{PREFIX}:session:{digest}"


def login_failures(user_digest: str) -> str:
    """Counter: failed sign-ins for a user id (by digest), for the sign-in limit."""
    return f"{PREFIX}:login:failures:{user_digest}"


def api_token(digest: str) -> str:
    """Hash: an API token's user, role, agent and lifetime, by the sha256 of the token."""
    return f"{PREFIX}:token:{digest}"


def user_tokens(user_id: str) -> str:
    """Set: the digests of a user's API tokens."""
    return f"{PREFIX}:user:{user_id}:tokens"


# -- limits and service level (handoff/ratelimit.py, handoff/service_level.py) ------------------------


def rate_window(name: str, key: str, slot: int) -> str:
    """Counter: requests of one limit (`name`) by one caller (`key`) in one time slot; expires with it."""
    return f"{PREFIX}:rate:{name}:{key}:{slot}"


def service_level_events() -> str:
    """Stream: time to answer of each handoff (queued → assigned, or abandoned)."""
    return f"{PREFIX}:service_level"


def analytics_events() -> str:
    """Stream: facts for the analytical store (handoff/analytics/feed.py), field `e` = JSON event."""
    return f"{PREFIX}:analytics:events"


def analytics_lease(group: str) -> str:
    """String with expiry: the worker that writes the stream into this machine's analytical store."""
    return f"{PREFIX}:analytics:lease:{group}"


def service_level_seen(conversation_id: str, queued_at: str) -> str:
    """Marker: this handoff (conversation and queue time) was already counted once."""
    return f"{PREFIX}:sl:seen:{conversation_id}:{queued_at}"


# -- routing (handoff/routing/engine.py; written into its Lua scripts as constants, scripts.KEY_NAMES) --
# The agent hash, agent() above: name presence capacity active rating_sum rating_count missed skills (JSON)
# languages (comma list) created_at updated_at, and indexed counted (what the online index holds of it).
# The conversation hash, conversation() above, as routing uses it: owner skill language queue qscore
# queued_at customer_id offer_agent offer_expires offered_at agent assigned_at resolved_at decision widened
# ticket_offered; channel and address only read (the conversation store writes them).
# A queue name is "<skill>:<language>", or "*:<language>" for widened routing (skill does not count).


def routing_params() -> str:
    """Hash: what the scripts read: ws wl wr (weights), pm pw (rating prior), timeout, max_missed, sticky."""
    return f"{PREFIX}:routing:params"


def routing_weights() -> str:
    """Hash: the weights a supervisor saved (skill, load, rating); they win over the configuration file."""
    return f"{PREFIX}:routing:weights"


def routing_audit() -> str:
    """List: weight changes as JSON {at, by, old, new}, newest first, the latest 1,000."""
    return f"{PREFIX}:routing:audit"


def routing_events() -> str:
    """Pub/sub channel: routing and ticket events as JSON (queued, offer, queue_changed, presence, ...)."""
    return f"{PREFIX}:events"


def agents() -> str:
    """Set: every agent id."""
    return f"{PREFIX}:agents"


def agents_online() -> str:
    """Set: the online agents."""
    return f"{PREFIX}:agents:online"


def agents_with_skill(skill: str) -> str:
    """Set: the agents with a skill."""
    return f"{PREFIX}:skill:{skill}"


def agents_with_language(language: str) -> str:
    """Set: the agents who speak a language."""
    return f"{PREFIX}:lang:{language}"


def agents_online_in(group: str) -> str:
    """Set: the online agents of a skill ("returns") or of a queue's skill and language ("returns:en")."""
    return f"{PREFIX}:online:{group}"


def agent_chats(agent_id: str) -> str:
    """Set: the conversations offered to or held by an agent."""
    return f"{agent(agent_id)}:chats"


def pool(queue_name: str) -> str:
    """Sorted set: the agents free to take a chat from a queue now, by −score (best first; ties by id)."""
    return f"{PREFIX}:pool:{queue_name}"


def slots() -> str:
    """Hash: queue name → summed capacity of the online agents with its skill and language."""
    return f"{PREFIX}:slots"


def queue(queue_name: str) -> str:
    """Sorted set: a queue's waiting conversations by virtual arrival (arrival − priority seconds)."""
    return f"{PREFIX}:queue:{queue_name}"


def queues() -> str:
    """Set: the names of the non-empty queues."""
    return f"{PREFIX}:queues"


def waiting() -> str:
    """Sorted set: waiting conversations not yet widened, by real arrival (the overflow clock)."""
    return f"{PREFIX}:waiting"


def waiting_widened() -> str:
    """Sorted set: waiting conversations already widened, by real arrival (the ticket clock)."""
    return f"{PREFIX}:waiting:widened"


def offers() -> str:
    """Sorted set: offered conversations by offer expiry."""
    return f"{PREFIX}:offers"


def declined_agents(conversation_id: str) -> str:
    """Set: agents not offered a conversation again this handoff (they declined, missed or transferred it)."""
    return f"{conversation(conversation_id)}:declined"


def conversation_decisions(conversation_id: str) -> str:
    """List: a conversation's latest 100 decision ids, newest first; expires 30 days after the latest."""
    return f"{conversation(conversation_id)}:decisions"


def decision(decision_id: str) -> str:
    """String: a routing decision as JSON (candidates, filters, chosen agent); expires after 30 days."""
    return f"{PREFIX}:decision:{decision_id}"


def decisions() -> str:
    """List: the latest 1,000 decision ids, newest first."""
    return f"{PREFIX}:decisions"


def decision_sequence() -> str:
    """String: the decision id counter."""
    return f"{PREFIX}:decision:seq"


def sticky_agent(customer_id: str) -> str:
    """String: a customer's last agent; expires after the sticky window."""
    return f"{PREFIX}:sticky:{customer_id}"


def handle_times(skill: str) -> str:
    """List: the latest 50 handle times of a skill's chats, in seconds, newest first."""
    return f"{PREFIX}:handle:{skill}"


def telegram_update(update_id: int) -> str:
    """String per Telegram update: "processing" while the hub handles it, then "done" (dedupes retries)."""
    return f"{PREFIX}:telegram:update:{update_id}"


def studio_audit() -> str:
    """List of JSON audit entries for studio changes (training data, models, articles, templates)."""
    return f"{PREFIX}:studio:audit"
