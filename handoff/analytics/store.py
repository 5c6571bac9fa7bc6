"""The analytics store: contacts and the dashboard's daily rollups in one SQLite file (docs/analytics.md).

One writer (the feed) applies events in stream order; a batch and the last stream id it reached commit in
one transaction, so a replay after a crash or restart applies nothing twice. Any number of readers, in this
process or in every other worker process, query concurrently: WAL lets them read while the writer writes.
The dashboard reads only the rollups (a few thousand rows a day, whatever the traffic); the per-contact
table serves the handoff records, the rollup rebuild and anyone who wants the detail.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import operator
import os
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from handoff.analytics.facts import (
    LATE_ORDER_INTENT,
    LATE_ORDER_TRIGGERS,
    MISS_KINDS,
    NAME_MAX,
    ROLLUPS,
    TEXT_MAX,
    Contact,
    Contribution,
    Event,
    MalformedEvent,
    format_stream_id,
    iter_deltas,
    normalise_text,
    parse_event,
    parse_stream_id,
    percentile,
)

logger = logging.getLogger(__name__)

CSAT_WINDOW_S = 24 * 3600  # a rating up to a day after the contact ended belongs to it
RECONTACT_LOOKBACK_ROWS = 50  # earlier contacts of one conversation examined for a re-contact
BUSY_TIMEOUT_MS = 5000
CACHE_KIB = 32768  # per connection; the writer's index updates stay in memory at a million contacts
CSAT_BY = ("agent", "queue", "intent")
MISSES_LIMIT_MAX = 1000
SERIES_DAYS_MAX = 3660  # ten years of daily rows
PROACTIVE_REPLY_WINDOW_S = 24 * 3600  # as long as the hub tells the assistant what a reply is about
# 1: the first release. 2: proactive messages (contacts' started_by, proactive_* columns, the `proactive`
# rollup). A store is upgraded in place when opened (_upgrade); one written by a newer version is refused.
SCHEMA_VERSION = 2

_CONTACT_FIELDS = tuple(f.name for f in dataclasses.fields(Contact))
_JSON_FIELDS = {"intents", "experiments", "proactive_sent"}
_BOOL_FIELDS = {"recontacted", "proactive_replied"}
_FIELD_VALUES = operator.attrgetter(*_CONTACT_FIELDS)
_INTENTS_AT = _CONTACT_FIELDS.index("intents")
_EXPERIMENTS_AT = _CONTACT_FIELDS.index("experiments")
_RECONTACTED_AT = _CONTACT_FIELDS.index("recontacted")
_REPLIED_AT = _CONTACT_FIELDS.index("proactive_replied")
_SENT_AT = _CONTACT_FIELDS.index("proactive_sent")
# Columns added after the first release, as ALTER TABLE adds them to an older store (at the end of the table,
# where the fresh schema has them too: rows are read with SELECT * in Contact's field order).
ADDED_CONTACT_COLUMNS = {
    "started_by": "TEXT NOT NULL DEFAULT 'customer'",
    "proactive_trigger": "TEXT",
    "proactive_replied": "INTEGER NOT NULL DEFAULT 0",
    "proactive_sent": "TEXT NOT NULL DEFAULT '{}'",
}

_ADDED_COLUMNS_SQL = ", ".join(f"{name} {declaration}" for name, declaration in ADDED_CONTACT_COLUMNS.items())

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY, conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, started_at REAL NOT NULL,
    day TEXT NOT NULL, last_activity REAL NOT NULL, channel TEXT, language TEXT, first_intent TEXT,
    intents TEXT NOT NULL, resolution TEXT NOT NULL, end_cause TEXT, ended_at REAL, first_customer_at REAL,
    first_reply_s REAL, handoff_at REAL, handoff_reason TEXT, queue TEXT, accepted_at REAL,
    first_person_s REAL, agent_id TEXT, handle_s REAL, abandon_wait_s REAL, transfers INTEGER NOT NULL,
    csat INTEGER, csat_agent TEXT, kb_answers INTEGER NOT NULL, kb_misses INTEGER NOT NULL,
    fallbacks INTEGER NOT NULL, affect TEXT, order_id TEXT, ticket_id TEXT, recontacted INTEGER NOT NULL,
    experiments TEXT NOT NULL, {_ADDED_COLUMNS_SQL}
);
CREATE INDEX IF NOT EXISTS contacts_by_conversation ON contacts (conversation_id, id);
CREATE INDEX IF NOT EXISTS contacts_open ON contacts (last_activity) WHERE resolution = 'open';
CREATE INDEX IF NOT EXISTS contacts_handoffs ON contacts (day) WHERE handoff_at IS NOT NULL;
-- Questions the assistant could not answer, one row per turn: the dashboard groups them by text.
CREATE TABLE IF NOT EXISTS misses (
    id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL, kind TEXT NOT NULL, ts REAL NOT NULL,
    day TEXT NOT NULL, channel TEXT, language TEXT, queue TEXT, conversation_id TEXT NOT NULL,
    norm TEXT NOT NULL, text TEXT NOT NULL
);
-- Covers the grouping of the misses (read from the index alone), then finds the latest row of each group.
CREATE INDEX IF NOT EXISTS misses_grouping ON misses (kind, day, channel, language, queue, norm, ts);
CREATE INDEX IF NOT EXISTS misses_latest ON misses (kind, norm, ts);
CREATE INDEX IF NOT EXISTS misses_by_contact ON misses (contact_id);
""" + "\n".join(
    f"CREATE TABLE IF NOT EXISTS {table} ("
    + ", ".join(f"{k} {'INTEGER' if k == 'bucket' else 'TEXT'} NOT NULL" for k in keys)
    + ", "
    + ", ".join(f"{m} REAL NOT NULL DEFAULT 0" for m in measures)
    + f", PRIMARY KEY ({', '.join(keys)})) WITHOUT ROWID;"
    for table, (keys, measures) in ROLLUPS.items()
)


def _upsert_sql(table: str) -> str:
    keys, measures = ROLLUPS[table]
    columns = (*keys, *measures)
    updates = ", ".join(f"{m} = {m} + excluded.{m}" for m in measures)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - names are constants
        f"VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


_UPSERTS = {table: _upsert_sql(table) for table in ROLLUPS}
_INSERT_CONTACT = (
    f"INSERT OR REPLACE INTO contacts ({', '.join(_CONTACT_FIELDS)}) "  # noqa: S608 - names are constants
    f"VALUES ({', '.join('?' * len(_CONTACT_FIELDS))})"
)


# The dashboard's queries: `{where}` becomes _where's clause (column names and placeholders, never values).
SUMMARY_SQL = (
    "SELECT SUM(contacts), SUM(ended), SUM(CASE WHEN resolution = 'assistant' THEN contacts ELSE 0 END),"
    " SUM(CASE WHEN resolution = 'person' THEN contacts ELSE 0 END),"
    " SUM(CASE WHEN resolution = 'abandoned' THEN contacts ELSE 0 END),"
    " SUM(CASE WHEN resolution = 'ticket' THEN contacts ELSE 0 END),"
    " SUM(recontacted), SUM(handoffs), SUM(sl_hits), SUM(sl_total), SUM(csat_n), SUM(csat_sum),"
    " SUM(kb_answers), SUM(kb_misses), SUM(fallbacks), SUM(transfers) FROM daily WHERE {where}"
)
SERIES_SQL = (
    "SELECT day, SUM(contacts), SUM(ended), SUM(CASE WHEN resolution = 'assistant' THEN contacts ELSE 0 END),"
    " SUM(sl_hits), SUM(sl_total), SUM(csat_n), SUM(csat_sum) FROM daily WHERE {where} GROUP BY day"
)
BY_INTENT_SQL = (
    "SELECT intent, SUM(contacts) AS n, SUM(ended),"
    " SUM(CASE WHEN resolution = 'assistant' THEN contacts ELSE 0 END),"
    " SUM(handoffs), SUM(recontacted), SUM(csat_n), SUM(csat_sum) FROM daily WHERE {where}"
    " GROUP BY intent ORDER BY n DESC, intent"
)
REASONS_SQL = (
    "SELECT reason, SUM(handoffs) AS n FROM reasons WHERE {where}"
    " GROUP BY reason HAVING n > 0 ORDER BY n DESC, reason"
)
CSAT_SQL = {
    by: "SELECT {column}, SUM(csat_n) AS n, SUM(csat_sum), SUM(csat_45) FROM {table} WHERE {where}"
    " GROUP BY {column} HAVING n > 0 ORDER BY n DESC, {column}".replace("{table}", table).replace(
        "{column}", column
    )
    for by, table, column in (
        ("agent", "agents", "agent"),
        ("queue", "daily", "queue"),
        ("intent", "daily", "intent"),
    )
}
# Named index: on its own the planner may walk misses_latest to skip the sort, reading every row of the
# table to filter it (several times slower with a channel or language filter).
MISSES_SQL = (
    "SELECT norm, COUNT(*) AS n, MAX(ts) AS last_at FROM misses INDEXED BY misses_grouping"
    " WHERE kind = ? AND {where} GROUP BY norm ORDER BY n DESC, last_at DESC LIMIT ?"
)
LATEST_MISS_SQL = (
    "SELECT text, conversation_id, language FROM misses WHERE kind = ? AND norm = ? AND ts = ? LIMIT 1"
)
VARIANTS_SQL = (
    "SELECT variant, "  # noqa: S608 - names are constants
    + ", ".join("SUM(" + m + ")" for m in ROLLUPS["variants"][1])
    + " FROM variants WHERE experiment = ? AND {where} GROUP BY variant ORDER BY variant"
)
HANDOFF_RECORDS_SQL = (
    "SELECT handoff_at, queue, language, COALESCE(first_person_s, abandon_wait_s, ended_at - handoff_at),"
    " handle_s, agent_id, recontacted, resolution FROM contacts"
    " WHERE handoff_at IS NOT NULL AND {where} ORDER BY handoff_at LIMIT ?"
)

PROACTIVE_SQL = (
    "SELECT started_by, SUM(contacts), SUM(late), SUM(replied), SUM(handoffs), SUM(sent) FROM proactive"
    " WHERE {where} GROUP BY started_by"
)
# Rows of customer-started contacts count only their messages (`sent`): a trigger's contacts are the ones
# its message started.
PROACTIVE_TRIGGERS_SQL = (
    "SELECT proactive_trigger, SUM(sent) AS s,"
    " SUM(CASE WHEN started_by = 'proactive' THEN contacts ELSE 0 END) AS n,"
    " SUM(CASE WHEN started_by = 'proactive' THEN replied ELSE 0 END),"
    " SUM(CASE WHEN started_by = 'proactive' THEN handoffs ELSE 0 END)"
    " FROM proactive WHERE {where} GROUP BY proactive_trigger HAVING s > 0 OR n > 0"
    " ORDER BY s DESC, n DESC, proactive_trigger"
)

# A contact from before schema 2 had no proactive message: its share of the `proactive` rollup is that of a
# late order the customer asked about (Contact.contributions; a test compares the result with a rebuild).
UPGRADE_2_PROACTIVE_SQL = (
    "INSERT INTO proactive (day, channel, language, queue, proactive_trigger, started_by, contacts, late,"
    " replied, handoffs, sent) SELECT day, COALESCE(channel, ''), COALESCE(language, ''),"
    " COALESCE(queue, ''), '', 'customer', COUNT(*), COUNT(*), 0, SUM(handoff_at IS NOT NULL), 0"
    " FROM contacts WHERE first_intent = ? GROUP BY 1, 2, 3, 4"
)


def _sql(template: str, where: str = "1", table: str = "") -> str:
    return template.replace("{where}", where).replace("{table}", table)


# -- filters ------------------------------------------------------------------------------------------


class FilterError(ValueError):
    """A dashboard filter or option that cannot be used; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclasses.dataclass(frozen=True)
class Filters:
    """Which contacts a dashboard query covers; every part optional, start and end inclusive days."""

    start: date | None = None
    end: date | None = None
    channel: str | None = None
    language: str | None = None
    queue: str | None = None


_NAME = re.compile(r"[A-Za-z0-9_.:@-]+")


def _first(value: Any) -> Any:
    """Query strings arrive as lists of values (Sanic's request.args); the first one counts."""
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def parse_filters(values: Mapping[str, Any]) -> Filters:
    """Filters from query parameters; other keys are ignored. Raises FilterError naming the field."""
    parsed: dict[str, Any] = {}
    for name in ("start", "end"):
        raw = _first(values.get(name))
        if raw in (None, ""):
            continue
        if not isinstance(raw, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise FilterError(name, "expected a date as YYYY-MM-DD")
        try:
            parsed[name] = date.fromisoformat(raw)
        except ValueError:
            raise FilterError(name, f"{raw!r} is not a calendar date") from None
    if "start" in parsed and "end" in parsed and parsed["end"] < parsed["start"]:
        raise FilterError("end", "is before start")
    for name in ("channel", "language", "queue"):
        raw = _first(values.get(name))
        if raw in (None, ""):
            continue
        if not isinstance(raw, str) or len(raw) > NAME_MAX or not _NAME.fullmatch(raw):
            raise FilterError(name, f"expected up to {NAME_MAX} letters, digits or _.:@-")
        parsed[name] = raw
    return Filters(**parsed)


def _where(f: Filters, day_column: str = "day") -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if f.start is not None:
        clauses.append(f"{day_column} >= ?")
        params.append(f.start.isoformat())
    if f.end is not None:
        clauses.append(f"{day_column} <= ?")
        params.append(f.end.isoformat())
    for name in ("channel", "language", "queue"):
        value = getattr(f, name)
        if value is not None:
            clauses.append(f"{name} = ?")
            params.append(value)
    return " AND ".join(clauses) or "1", params


def _rate(numerator: float | None, denominator: float | None, digits: int = 4) -> float | None:
    return round((numerator or 0) / denominator, digits) if denominator else None


def _plain(value: float) -> float | int:
    return int(value) if value.is_integer() else value


def _name(value: str | None) -> str | None:
    return value or None  # rollups keep unknown dimensions as ""


# -- contact rows -------------------------------------------------------------------------------------


def _row_of(contact: Contact) -> tuple[Any, ...]:
    values = list(_FIELD_VALUES(contact))
    values[_INTENTS_AT] = json.dumps(contact.intents, ensure_ascii=False) if contact.intents else "[]"
    values[_EXPERIMENTS_AT] = (
        json.dumps(contact.experiments, ensure_ascii=False, sort_keys=True) if contact.experiments else "{}"
    )
    values[_RECONTACTED_AT] = int(contact.recontacted)
    values[_REPLIED_AT] = int(contact.proactive_replied)
    values[_SENT_AT] = json.dumps(contact.proactive_sent, sort_keys=True) if contact.proactive_sent else "{}"
    return tuple(values)


def _contact_of(row: Sequence[Any]) -> Contact:
    values = dict(zip(_CONTACT_FIELDS, row, strict=True))
    for name in _JSON_FIELDS:
        values[name] = json.loads(values[name])
    for name in _BOOL_FIELDS:
        values[name] = bool(values[name])
    return Contact(**values)


class _Batch:
    """The contacts one transaction touches, kept in memory until flush: each is loaded once with its
    rollup contribution, changed by any number of events, and written back with the difference."""

    def __init__(self, store: AnalyticsStore, conn: sqlite3.Connection) -> None:
        self.store = store
        self.conn = conn
        self.contacts: dict[int, Contact] = {}
        self.loaded_rows: dict[int, tuple[Any, ...] | None] = {}
        self.loaded_contributions: dict[int, Contribution] = {}
        self.latest: dict[str, Contact | None] = {}
        self.by_conversation: dict[str, list[Contact]] = {}
        self.misses: list[tuple[Contact, str, float, str | None, str]] = []
        self.counts: Counter[str] = Counter()
        (top,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM contacts").fetchone()
        self.next_id = int(top) + 1

    # -- loading --------------------------------------------------------------------------------------

    def _adopt(self, row: Sequence[Any]) -> Contact:
        contact_id = int(row[0])
        known = self.contacts.get(contact_id)
        if known is not None:
            return known
        contact = _contact_of(row)
        self._track(contact, tuple(_row_of(contact)))
        return contact

    def _track(self, contact: Contact, row: tuple[Any, ...] | None) -> None:
        self.contacts[contact.id] = contact
        self.loaded_rows[contact.id] = row
        self.loaded_contributions[contact.id] = (
            contact.contributions(self.store.service_level_seconds) if row is not None else {}
        )
        self.by_conversation.setdefault(contact.conversation_id, []).append(contact)

    def latest_of(self, conversation_id: str) -> Contact | None:
        if conversation_id not in self.latest:
            row = self.conn.execute(
                "SELECT * FROM contacts WHERE conversation_id = ? ORDER BY id DESC LIMIT 1",
                (conversation_id,),
            ).fetchone()
            self.latest[conversation_id] = self._adopt(row) if row else None
        return self.latest[conversation_id]

    def _open(self, event: Event, previous: Contact | None) -> Contact:
        contact = Contact(
            id=self.next_id,
            conversation_id=event.conversation_id,
            seq=previous.seq + 1 if previous else 1,
            started_at=event.ts,
            day=self.store.day_of(event.ts),
            last_activity=event.ts,
            channel=event.text("channel") or (previous.channel if previous else None),
        )
        self.next_id += 1
        if event.type == "customer_message":
            contact.first_customer_at = event.ts
        elif event.type != "proactive":  # the shop writing first opens a contact by design
            self.counts["opened_without_message"] += 1
        self._track(contact, None)
        self.latest[event.conversation_id] = contact
        return contact

    # -- events ---------------------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        store = self.store
        contact = self.latest_of(event.conversation_id)
        if contact is not None:
            gap = event.ts - contact.last_activity
            if contact.is_open and gap > store.idle_timeout_s:
                contact.end("idle", contact.last_activity)
            if self._goes_on(contact, event, gap):
                contact.reopen()
        if event.type == "csat":
            self._csat(contact, event)
            return
        if contact is None or not contact.is_open:
            if event.type in ("resolved", "closed", "abandoned"):
                self.counts["orphans"] += 1
                return
            if event.type == "ticket":
                self._late_ticket(contact, event)
                return
            contact = self._open(event, contact)
        before = (contact.first_intent, contact.order_id, contact.engaged)
        contact.touch(event.ts)
        self._dispatch(contact, event)
        # A contact the shop started says nothing about the earlier ones until the customer answers in it.
        after = (contact.first_intent, contact.order_id, contact.engaged)
        if contact.seq > 1 and contact.engaged and after != before:
            self._mark_recontacts(contact)

    def _goes_on(self, contact: Contact, event: Event, gap: float) -> bool:
        """Whether an ended contact takes the event: one from within its idle window (the stream was behind
        when idleness was checked), or the customer's answer to the shop's message within the reply window
        (the widget shows the message on the next visit; the hub tells the assistant, for as long, what the
        answer is about)."""
        if event.type == "csat" or contact.end_cause is None:
            return False
        if contact.end_cause == "idle" and gap <= self.store.idle_timeout_s:
            return True
        return (
            contact.awaits_reply
            and event.type == "customer_message"
            and contact.end_cause in ("idle", "closed")
            and gap <= self.store.proactive_reply_window_s
        )

    def _dispatch(self, contact: Contact, event: Event) -> None:
        kind = event.type
        language = event.text("language")
        if language and contact.language is None:
            contact.language = language
        order_id = event.text("order_id", TEXT_MAX)
        if order_id and contact.order_id is None:
            contact.order_id = order_id
        contact.merge_experiments(event.experiments())
        if kind == "customer_message":
            contact.channel = contact.channel or event.text("channel")
            contact.customer_wrote(event.ts)
        elif kind == "proactive":
            # It starts the contact when it opened it or came at its very start, before the customer wrote.
            opening = contact.first_customer_at is None and event.ts <= contact.started_at
            contact.proactive(event.text("trigger"), opening)
        elif kind == "bot_turn":
            contact.add_intent(event.text("intent"))
            contact.note_affect(event.text("affect"))
            contact.replied(event.ts)
            if event.text("kb_article", TEXT_MAX):
                contact.kb_answers += 1
            for miss in ("kb_miss", "fallback"):
                if event.flag(miss):
                    if miss == "kb_miss":
                        contact.kb_misses += 1
                    else:
                        contact.fallbacks += 1
                    text = event.text("text", TEXT_MAX)
                    if text:
                        self.misses.append((contact, miss, event.ts, language, text))
        elif kind == "kb_miss":  # the hub's own event when the assistant hands off for a missed question
            contact.kb_misses += 1
            text = event.text("text", TEXT_MAX)
            if text:
                self.misses.append((contact, "kb_miss", event.ts, language, text))
        elif kind == "handoff":
            if contact.first_intent is None:
                contact.add_intent(event.text("intent"))
            contact.note_affect(event.text("affect"))
            contact.handed_off(event.ts, event.text("reason"), event.text("queue"))
        elif kind == "accepted":
            contact.accepted(event.ts, event.text("agent_id"), event.number("wait"))
        elif kind == "agent_message":
            contact.replied(event.ts)
            contact.agent_id = contact.agent_id or event.text("agent_id")
        elif kind == "transfer":
            contact.transfers += 1
            contact.agent_id = event.text("to_agent") or contact.agent_id
        elif kind == "resolved":
            contact.agent_id = contact.agent_id or event.text("agent_id")
            contact.end("resolved", event.ts)
        elif kind == "closed":
            contact.end("closed", event.ts)
        elif kind == "abandoned":
            wait = event.number("wait")
            if wait is None and contact.handoff_at is not None:
                wait = event.ts - contact.handoff_at
            contact.abandon_wait_s = max(0.0, wait) if wait is not None else None
            contact.end("abandoned", event.ts)
        elif kind == "ticket":
            contact.ticket_id = event.text("ticket_id", TEXT_MAX)
            contact.end("ticket", event.ts)

    def _late_ticket(self, contact: Contact | None, event: Event) -> None:
        """A customer who leaves the queue still gets a ticket for their case: `abandoned`, then `ticket`.
        The contact stays abandoned (it ended there, and the abandonment is what the dashboard must show);
        it keeps the ticket's id. Other tickets without an open contact are orphans."""
        if (
            contact is not None
            and contact.ended_at is not None
            and contact.ticket_id is None
            and event.ts - contact.ended_at <= self.store.idle_timeout_s
        ):
            contact.ticket_id = event.text("ticket_id", TEXT_MAX)
            self.counts["late_tickets"] += 1
        else:
            self.counts["orphans"] += 1

    def _csat(self, contact: Contact | None, event: Event) -> None:
        if contact is None or (contact.ended_at is not None and event.ts - contact.ended_at > CSAT_WINDOW_S):
            self.counts["orphans"] += 1
            return
        contact.csat = int(event.data["stars"])  # checked by parse_event
        contact.csat_agent = event.text("agent_id") or contact.agent_id

    def _mark_recontacts(self, contact: Contact) -> None:
        """The earlier contacts of the conversation that ended within the re-contact window before this
        one started, about the same order or the same first intent, were not resolved the first time."""
        ids = {
            int(row[0])
            for row in self.conn.execute(
                "SELECT id FROM contacts WHERE conversation_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
                (contact.conversation_id, contact.id, RECONTACT_LOOKBACK_ROWS),
            )
        }
        earlier = [c for c in self.by_conversation.get(contact.conversation_id, []) if c.id < contact.id]
        ids -= {c.id for c in earlier}
        for contact_id in sorted(ids):
            row = self.conn.execute("SELECT * FROM contacts WHERE id = ?", (contact_id,)).fetchone()
            earlier.append(self._adopt(row))
        window = self.store.recontact_days * 86400
        for other in earlier:
            if (
                other.ended_at is None
                or other.recontacted
                or not other.engaged
                or not other.ended_at - 1e-6 <= contact.started_at <= other.ended_at + window
            ):
                continue
            same_order = contact.order_id is not None and other.order_id == contact.order_id
            same_intent = contact.first_intent is not None and other.first_intent == contact.first_intent
            if same_order or same_intent:
                other.recontacted = True

    def close_idle(self, now: float) -> int:
        cutoff = now - self.store.idle_timeout_s
        closed = 0
        rows = self.conn.execute(
            "SELECT * FROM contacts WHERE resolution = 'open' AND last_activity < ?", (cutoff,)
        ).fetchall()
        for row in rows:
            contact = self._adopt(row)
            self.latest.setdefault(contact.conversation_id, contact)
            if contact.is_open and contact.last_activity < cutoff:
                contact.end("idle", contact.last_activity)
                closed += 1
        return closed

    # -- writing --------------------------------------------------------------------------------------

    def flush(self) -> None:
        sl = self.store.service_level_seconds
        deltas: dict[tuple[str, tuple[Any, ...]], list[float]] = {}
        rows = []
        moved_queues = []
        for contact_id, contact in self.contacts.items():
            row = _row_of(contact)
            loaded = self.loaded_rows[contact_id]
            if row == loaded:
                continue
            rows.append(row)
            for table, key, delta in iter_deltas(
                self.loaded_contributions[contact_id], contact.contributions(sl)
            ):
                current = deltas.get((table, key))
                if current is None:
                    deltas[(table, key)] = delta
                else:
                    for i, value in enumerate(delta):
                        current[i] += value
            if loaded is not None and contact.queue != loaded[_CONTACT_FIELDS.index("queue")]:
                moved_queues.append((contact.queue, contact_id))
        self.conn.executemany(_INSERT_CONTACT, rows)
        self.conn.executemany(
            "INSERT INTO misses (contact_id, kind, ts, day, channel, language, queue, conversation_id, norm,"
            " text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (c.id, kind, ts, self.store.day_of(ts), c.channel, language or c.language, c.queue,
                 c.conversation_id, normalise_text(text), text)
                for c, kind, ts, language, text in self.misses
            ],
        )  # fmt: skip
        self.conn.executemany("UPDATE misses SET queue = ? WHERE contact_id = ?", moved_queues)
        by_table: dict[str, list[tuple[Any, ...]]] = {}
        for (table, key), delta in deltas.items():
            if any(delta):
                by_table.setdefault(table, []).append((*key, *delta))
        for table, values in by_table.items():
            self.conn.executemany(_UPSERTS[table], values)


# -- the store ----------------------------------------------------------------------------------------


def stored_timezone(path: str | Path) -> str | None:
    """The time zone an existing store counts its days in, read without changing anything."""
    try:
        with closing(sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'timezone'").fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


class AnalyticsStore:
    """Synchronous; safe to share between threads (a connection per thread, one writer at a time)."""

    def __init__(
        self,
        path: str | Path,
        *,
        timezone: str = "UTC",
        idle_timeout_s: float = 1800,
        recontact_days: int = 7,
        service_level_seconds: float = 20,
        service_level_share: float = 0.8,
        proactive_reply_window_s: float = PROACTIVE_REPLY_WINDOW_S,
    ) -> None:
        try:
            self.tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: unknown time zone {timezone!r}") from None
        if idle_timeout_s <= 0:
            raise ValueError("idle_timeout_s: must be positive")
        if recontact_days < 0:
            raise ValueError("recontact_days: must not be negative")
        if service_level_seconds <= 0:
            raise ValueError("service_level_seconds: must be positive")
        if not 0 < service_level_share <= 1:
            raise ValueError("service_level_share: must be in (0, 1]")
        if proactive_reply_window_s <= 0:
            raise ValueError("proactive_reply_window_s: must be positive")
        self.path = Path(path)
        self.timezone = timezone
        self.idle_timeout_s = float(idle_timeout_s)
        self.recontact_days = recontact_days
        self.service_level_seconds = float(service_level_seconds)
        self.service_level_share = float(service_level_share)
        self.proactive_reply_window_s = float(proactive_reply_window_s)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        self._day_cache: dict[int, str] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():  # conversation ids and customers' (masked) words: this user only
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._prepare()

    # -- connections ----------------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("the analytics store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the file's write lock first, so a second writer
        process waits (busy_timeout) instead of failing halfway."""
        with self._write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """Reads of one answer see one committed state."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _prepare(self) -> None:
        conn = self._conn()
        conn.execute("PRAGMA journal_mode = WAL")
        with self._transaction() as conn:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            settings = {"timezone": self.timezone, "service_level_seconds": repr(self.service_level_seconds)}
            if "schema" not in meta:
                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("schema", str(SCHEMA_VERSION)), *settings.items()],
                )
                return
            self._upgrade(conn, meta["schema"])
            if any(meta.get(k) != v for k, v in settings.items()):
                logger.warning("analytics.rollups.rebuild timezone=%s sl=%s", *settings.values())
                self._rebuild(conn, recompute_days=meta.get("timezone") != self.timezone)
                conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", settings.items())

    def _upgrade(self, conn: sqlite3.Connection, stored: str) -> None:
        """Bring a store written by an earlier version to this schema, in the opening transaction (every
        worker opens the store at start and waits for it at most BUSY_TIMEOUT_MS, so this stays a handful
        of statements): the contacts gain the new columns (ALTER TABLE rewrites no row; the defaults say
        what an old contact was: started by the customer, no proactive message) and each new rollup gets
        every old contact's share, so that later differences apply to complete rows."""
        try:
            version = int(stored)
        except ValueError:
            raise ValueError(f"{self.path}: unknown analytics schema {stored!r}") from None
        if version > SCHEMA_VERSION:
            raise ValueError(
                f"{self.path}: written by a newer version (analytics schema {version}, this one reads "
                f"up to {SCHEMA_VERSION})"
            )
        if version == SCHEMA_VERSION:
            return
        columns = {row[1] for row in conn.execute("PRAGMA table_info(contacts)")}
        for name, declaration in ADDED_CONTACT_COLUMNS.items():
            if name not in columns:
                conn.execute(f"ALTER TABLE contacts ADD COLUMN {name} {declaration}")
        if version < 2:
            conn.execute("DELETE FROM proactive")
            conn.execute(UPGRADE_2_PROACTIVE_SQL, (LATE_ORDER_INTENT,))
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        logger.warning("analytics.schema.upgraded from=%s to=%s", version, SCHEMA_VERSION)

    def close(self) -> None:
        self._closed = True
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    def day_of(self, ts: float) -> str:
        """The calendar day of an instant in the store's time zone (cached per hour: zones move by whole
        hours or half hours, so 15-minute slots would be exact everywhere; hours are exact for all the
        zones a shop is likely to use and the cache stays small)."""
        slot = int(ts // 900)
        day = self._day_cache.get(slot)
        if day is None:
            if len(self._day_cache) > 100_000:
                self._day_cache.clear()
            day = datetime.fromtimestamp(slot * 900, self.tz).date().isoformat()
            self._day_cache[slot] = day
        return day

    # -- writing --------------------------------------------------------------------------------------

    def ingest(self, entries: Sequence[tuple[str, Mapping[str, Any]]]) -> int:
        """Apply a batch of (stream id, event) in stream order; returns how many events it applied.
        Entries at or below the last applied stream id are skipped (a replay), malformed ones counted
        and skipped. The batch and its last stream id commit together, or not at all."""
        if not entries:
            return 0
        with self._transaction() as conn:
            last = self._read_last(conn)
            batch = _Batch(self, conn)
            applied = 0
            for stream_id, raw in entries:
                key = parse_stream_id(stream_id)
                if key is None:
                    batch.counts["malformed"] += 1
                    continue
                if last is not None and key <= last:
                    batch.counts["replayed"] += 1
                    continue
                last = key
                try:
                    event = parse_event(raw)
                except MalformedEvent as exc:
                    batch.counts["malformed"] += 1
                    logger.debug("analytics.event.malformed id=%s field=%s", stream_id, exc)
                    continue
                if event is None:
                    batch.counts["ignored"] += 1
                    continue
                batch.apply(event)
                applied += 1
            batch.counts["applied"] += applied
            batch.flush()
            if last is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_stream_id', ?)",
                    (format_stream_id(last),),
                )
            self._count(conn, batch.counts)
        return applied

    def close_idle(self, now: float) -> int:
        """End the contacts with no activity for the idle timeout before `now`; returns how many. Pass the
        time the stream has been read up to (the wall clock once the feed has caught up): an event that
        arrives later from within a closed contact's idle window reopens it."""
        with self._transaction() as conn:
            batch = _Batch(self, conn)
            closed = batch.close_idle(now)
            batch.flush()
        return closed

    def rebuild(self) -> None:
        """Recompute every rollup from the contacts (after a change of time zone or service level)."""
        with self._transaction() as conn:
            self._rebuild(conn, recompute_days=True)

    def _rebuild(self, conn: sqlite3.Connection, *, recompute_days: bool) -> None:
        if recompute_days:
            self._day_cache.clear()
            conn.executemany(
                "UPDATE contacts SET day = ? WHERE id = ?",
                [(self.day_of(ts), i) for i, ts in conn.execute("SELECT id, started_at FROM contacts")],
            )
            conn.executemany(
                "UPDATE misses SET day = ? WHERE id = ?",
                [(self.day_of(ts), i) for i, ts in conn.execute("SELECT id, ts FROM misses")],
            )
        totals: dict[tuple[str, tuple[Any, ...]], list[float]] = {}
        for row in conn.execute("SELECT * FROM contacts"):
            for key, values in _contact_of(row).contributions(self.service_level_seconds).items():
                current = totals.get(key)
                if current is None:
                    totals[key] = values
                else:
                    for i, value in enumerate(values):
                        current[i] += value
        for table in ROLLUPS:
            conn.execute(_sql("DELETE FROM {table}", table=table))
            conn.executemany(_UPSERTS[table], [(*k, *v) for (t, k), v in totals.items() if t == table])

    @staticmethod
    def _read_last(conn: sqlite3.Connection) -> tuple[int, int] | None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'last_stream_id'").fetchone()
        return parse_stream_id(row[0]) if row else None

    @staticmethod
    def _count(conn: sqlite3.Connection, counts: Mapping[str, int]) -> None:
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET"
            " value = CAST(value AS INTEGER) + CAST(excluded.value AS INTEGER)",
            [(f"count.{name}", str(n)) for name, n in counts.items() if n],
        )

    def last_stream_id(self) -> str | None:
        with self._snapshot() as conn:
            last = self._read_last(conn)
        return format_stream_id(last) if last else None

    def counters(self) -> dict[str, int]:
        """Events applied, replayed, ignored (unknown type), malformed, orphans (an end or rating with no
        contact to go to) and opened_without_message, since the store was created."""
        with self._snapshot() as conn:
            rows = conn.execute("SELECT key, value FROM meta WHERE key LIKE 'count.%'").fetchall()
        return {key.removeprefix("count."): int(value) for key, value in rows}

    # -- dashboard queries ----------------------------------------------------------------------------

    def summary(self, f: Filters) -> dict[str, Any]:
        where, params = _where(f)
        with self._snapshot() as conn:
            row = conn.execute(_sql(SUMMARY_SQL, where), params).fetchone()
            histograms: dict[str, dict[int, float]] = {}
            for metric, bucket, n in conn.execute(
                _sql("SELECT metric, bucket, SUM(n) FROM hist WHERE {where} GROUP BY metric, bucket", where),
                params,
            ):
                histograms.setdefault(metric, {})[bucket] = n
        values = [int(v or 0) for v in row]
        (contacts, ended, assistant, person, abandoned, ticket, recontacted, handoffs, sl_hits, sl_total,
         csat_n, csat_sum, kb_answers, kb_misses, fallbacks, transfers) = values  # fmt: skip
        result: dict[str, Any] = {
            "contacts": contacts,
            "ended": ended,
            "open": contacts - ended,
            "assistant": assistant,
            "person": person,
            "abandoned": abandoned,
            "ticket": ticket,
            "automation_rate": _rate(assistant, ended),
            "fcr_rate": _rate(ended - recontacted, ended),
            "recontacted": recontacted,
            "handoffs": handoffs,
        }
        for name, metric in (("first_response", "first_reply"), ("first_person", "first_person"),
                             ("handle", "handle")):  # fmt: skip
            counts = histograms.get(metric, {})
            result[f"{name}_p50"] = percentile(counts, 0.5)
            result[f"{name}_p90"] = percentile(counts, 0.9)
        result.update(
            service_level=_rate(sl_hits, sl_total),
            service_level_target={
                "share": self.service_level_share,
                "seconds": _plain(self.service_level_seconds),
            },
            csat_average=_rate(csat_sum, csat_n, 2),
            csat_count=csat_n,
            kb_answers=kb_answers,
            kb_misses=kb_misses,
            fallbacks=fallbacks,
            transfers=transfers,
        )
        return result

    def series(self, f: Filters) -> list[dict[str, Any]]:
        """One row per day from start (or the first day with data) to end (or the last), gaps as zeros."""
        where, params = _where(f)
        with self._snapshot() as conn:
            days = {
                day: (contacts, ended, assistant, sl_hits, sl_total, csat_n, csat_sum)
                for day, contacts, ended, assistant, sl_hits, sl_total, csat_n, csat_sum in conn.execute(
                    _sql(SERIES_SQL, where), params
                )
            }
            waits: dict[str, dict[int, float]] = {}
            for day, bucket, n in conn.execute(
                _sql(
                    "SELECT day, bucket, SUM(n) FROM hist WHERE {where} AND metric = 'first_person'"
                    " GROUP BY day, bucket",
                    where,
                ),
                params,
            ):
                waits.setdefault(day, {})[bucket] = n
        if not days and (f.start is None or f.end is None):
            return []
        first = f.start or date.fromisoformat(min(days))
        last = f.end or date.fromisoformat(max(days))
        if (last - first).days >= SERIES_DAYS_MAX:
            raise FilterError("end", f"a series covers at most {SERIES_DAYS_MAX} days")
        rows = []
        day = first
        while day <= last:
            key = day.isoformat()
            contacts, ended, assistant, sl_hits, sl_total, csat_n, csat_sum = days.get(key, (0,) * 7)
            rows.append(
                {
                    "day": key,
                    "contacts": int(contacts),
                    "automation_rate": _rate(assistant, ended),
                    "service_level": _rate(sl_hits, sl_total),
                    "csat_average": _rate(csat_sum, csat_n, 2),
                    "first_person_p90": percentile(waits.get(key, {}), 0.9),
                }
            )
            day += timedelta(days=1)
        return rows

    def by_intent(self, f: Filters) -> list[dict[str, Any]]:
        where, params = _where(f)
        with self._snapshot() as conn:
            rows = conn.execute(_sql(BY_INTENT_SQL, where), params).fetchall()
        return [
            {
                "intent": _name(intent),
                "contacts": int(contacts),
                "assistant": int(assistant),
                "automation_rate": _rate(assistant, ended),
                "handoffs": int(handoffs),
                "fcr_rate": _rate(ended - recontacted, ended),
                "csat_average": _rate(csat_sum, csat_n, 2),
            }
            for intent, contacts, ended, assistant, handoffs, recontacted, csat_n, csat_sum in rows
            if contacts
        ]

    def handoff_reasons(self, f: Filters) -> list[dict[str, Any]]:
        where, params = _where(f)
        with self._snapshot() as conn:
            rows = conn.execute(_sql(REASONS_SQL, where), params).fetchall()
        total = sum(n for _, n in rows)
        return [{"reason": _name(reason), "handoffs": int(n), "share": _rate(n, total)} for reason, n in rows]

    def csat(self, f: Filters, by: str) -> list[dict[str, Any]]:
        """Ratings by the agent rated (the rating's own agent, else who accepted last), queue or intent."""
        if by not in CSAT_BY:
            raise FilterError("by", f"expected one of {', '.join(CSAT_BY)}")
        where, params = _where(f)
        with self._snapshot() as conn:
            rows = conn.execute(_sql(CSAT_SQL[by], where), params).fetchall()
        return [
            {"key": _name(key), "ratings": int(n), "average": _rate(total, n, 2), "share_4_5": _rate(top, n)}
            for key, n, total, top in rows
        ]

    def misses(self, f: Filters, kind: str, limit: int = 50) -> list[dict[str, Any]]:
        """The questions most often missed (grouped by text, ignoring case and spacing), with the latest
        conversation that asked; days are the days of the turns."""
        if kind not in MISS_KINDS:
            raise FilterError("kind", f"expected one of {', '.join(MISS_KINDS)}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MISSES_LIMIT_MAX:
            raise FilterError("limit", f"expected a whole number from 1 to {MISSES_LIMIT_MAX}")
        where, params = _where(f)
        found = []
        with self._snapshot() as conn:
            for norm, n, last_at in conn.execute(_sql(MISSES_SQL, where), [kind, *params, limit]).fetchall():
                text, conversation, language = conn.execute(LATEST_MISS_SQL, (kind, norm, last_at)).fetchone()
                found.append(
                    {
                        "text": text,
                        "count": n,
                        "last_at": last_at,
                        "conversation_id": conversation,
                        "language": language,
                    }
                )
        return found

    def variant_outcomes(self, experiment_id: str, f: Filters) -> list[dict[str, Any]]:
        """Sums per variant, so the experiments can compute means, variances and tests themselves."""
        measures = ROLLUPS["variants"][1]
        where, params = _where(f)
        with self._snapshot() as conn:
            rows = conn.execute(_sql(VARIANTS_SQL, where), [experiment_id, *params]).fetchall()
        results = []
        for variant, *values in rows:
            entry: dict[str, Any] = {"variant": variant}
            for name, value in zip(measures, values, strict=True):
                entry[name] = round(value, 6) if name in ("wait_sum", "wait_sumsq") else int(value)
            results.append(entry)
        return results

    def handoff_records(self, f: Filters, limit: int = 100_000) -> list[dict[str, Any]]:
        """One row per handed-off contact, oldest first: when it was handed off, where it waited, how
        long (until accepted, or until the customer left), how long it was handled."""
        where, params = _where(f)
        with self._snapshot() as conn:
            rows = conn.execute(_sql(HANDOFF_RECORDS_SQL, where), [*params, max(0, int(limit))]).fetchall()
        return [
            {"ts": ts, "queue": queue, "language": language, "wait": wait, "handle": handle,
             "agent_id": agent, "recontacted": bool(recontacted), "resolution": resolution}
            for ts, queue, language, wait, handle, agent, recontacted, resolution in rows
        ]  # fmt: skip

    def proactive_summary(self, f: Filters) -> dict[str, Any]:
        """Late-order contacts by who spoke first: the shop (a late trigger's message started the contact)
        or the customer (their first question was where the order is); proactive messages sent, the
        contacts they started and how many of those the customer answered."""
        where, params = _where(f)
        with self._snapshot() as conn:
            rows = conn.execute(_sql(PROACTIVE_SQL, where), params).fetchall()
        by = {started_by: [int(v or 0) for v in values] for started_by, *values in rows}
        contacts, late_proactive, replied, handoffs, sent_proactive = by.get("proactive", [0] * 5)
        _, late_reactive, _, _, sent_reactive = by.get("customer", [0] * 5)
        late = late_proactive + late_reactive
        return {
            "late_orders": late,
            "late_proactive": late_proactive,
            "late_reactive": late_reactive,
            "late_proactive_share": _rate(late_proactive, late),
            "late_reactive_share": _rate(late_reactive, late),
            "proactive_sent": sent_proactive + sent_reactive,
            "proactive_contacts": contacts,
            "proactive_replied": replied,
            "reply_rate": _rate(replied, contacts),
            "proactive_handoffs": handoffs,
        }

    def proactive_triggers(self, f: Filters) -> list[dict[str, Any]]:
        """Per trigger: messages sent, the contacts they started, how many the customer answered, and how
        many of those still needed a person; most sent first."""
        where, params = _where(f)
        with self._snapshot() as conn:
            rows = conn.execute(_sql(PROACTIVE_TRIGGERS_SQL, where), params).fetchall()
        return [
            {
                "trigger": _name(trigger),
                "late_order": trigger in LATE_ORDER_TRIGGERS,
                "sent": int(sent),
                "contacts": int(contacts),
                "replied": int(replied),
                "reply_rate": _rate(replied, contacts),
                "handoffs": int(handoffs),
            }
            for trigger, sent, contacts, replied, handoffs in rows
        ]

    def contacts_of(self, conversation_id: str) -> list[dict[str, Any]]:
        """Every contact of one conversation, oldest first, as stored (for support and tests)."""
        with self._snapshot() as conn:
            rows = conn.execute(
                "SELECT * FROM contacts WHERE conversation_id = ? ORDER BY id", (conversation_id,)
            ).fetchall()
        return [dataclasses.asdict(_contact_of(row)) for row in rows]
