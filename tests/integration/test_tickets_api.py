"""The ticket API over HTTP against a real redis-server: creation, listing filters, agent visibility,
assignment and updates with history, transitions, validation, idempotent auto tickets and events.

One server runs for the whole module (tests/integration/api_helpers.py). Each test works in its own skill
"lanes" (the module's routing config maps intents i<n> to skills s<n>), so listings filtered by skill see
only that test's tickets. Ticket indexes are global, so the module keeps to its own Redis database.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from handoff.errors import Forbidden
from handoff.routing.config import RoutingConfig
from handoff.routing.engine import EVENTS_CHANNEL
from handoff.tickets.model import TicketChanges, Viewer
from handoff.tickets.rules import check_edit
from handoff.tickets.store import TicketStore
from tests.integration.api_helpers import (
    Agent,
    ApiClient,
    Lane,
    Reply,
    app_env,
    database_url,
    lane_skills,
    serving,
    unique,
    write_routing_config,
)

pytestmark = pytest.mark.integration

LANES = 48
REDIS_DB = 11  # ticket and routing keys are global: keep this module's out of the other suites' databases
CHANNEL = "channel-token-tickets-api"
SERVICE = "service-token-tickets-api"
ADMIN = "admin-token-tickets-api"


class Api(ApiClient):
    def __init__(self, client: Any, prefix: str, config_path: Path, url: str) -> None:
        super().__init__(client, prefix, LANES)
        self.config = RoutingConfig.load(config_path)
        self.url = url
        self.supervisor_id = ""

    def agent(self, *lanes: Lane) -> Agent:
        agent_id = unique("agent")
        body = {
            "id": agent_id,
            "name": f"Agent {agent_id}",
            "languages": ["en", "zh"],
            "skills": {lane.skill: 0.8 for lane in lanes},
            "capacity": 2,
        }
        return self.add_agent(body, self.supervisor)

    def create(self, token: str, **body: Any) -> dict[str, Any]:
        reply = self.call("post", "/api/tickets", token, json={"subject": "Parcel missing", **body})
        assert reply.status == 201, reply.body
        created: dict[str, Any] = reply.body
        return created

    def patch(self, token: str, ticket_id: str, **body: Any) -> Reply:
        return self.call("patch", f"/api/tickets/{ticket_id}", token, json=body)

    def ids(self, token: str, query: str) -> list[str]:
        reply = self.call("get", f"/api/tickets?{query}", token)
        assert reply.status == 200, reply.body
        return [t["id"] for t in reply.body["tickets"]]

    def handoff(self, lane: Lane, **packet: Any) -> str:
        cid = unique("conv")
        body = {"conversation_id": cid, "reason": "customer_request", "intent": lane.intent, "language": "en"}
        reply = self.call("post", "/api/handoffs/", SERVICE, json={**body, **packet})
        assert reply.status == 201, reply.body
        return cid

    def store(self) -> tuple[AsyncRedis, TicketStore]:
        client = AsyncRedis.from_url(self.url, decode_responses=True)
        return client, TicketStore(client, self.config)


def rasa() -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, json=[]))


@pytest.fixture(scope="module")
def api(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    prefix = "t" + uuid.uuid4().hex[:8]
    config = {
        "overflow": {"widen_after_seconds": 86400, "ticket_after_seconds": 86400},
        "skills": {
            "default": f"{prefix}_general",
            "by_reason": {"damaged_goods": f"{prefix}_s0"},
            "by_intent": lane_skills(prefix, LANES),
        },
    }
    path = write_routing_config(tmp_path_factory.mktemp("tickets"), config)
    url = database_url(redis_url, REDIS_DB)
    env = app_env(
        channel=CHANNEL,
        service=SERVICE,
        admin=ADMIN,
        rasa_api="rasa-api-token-tickets-api",
        redis_url=url,
        routing_config=path,
    )
    with serving(env, rasa()) as client:
        hub = Api(client, prefix, path, url)
        hub.supervisor_id = unique("sup")
        hub.supervisor = hub.issue_token(ADMIN, "supervisor", hub.supervisor_id)
        yield hub


class EventLog:
    """Ticket events published on the routing channel since the log was opened."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url, decode_responses=True)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        self._pubsub.subscribe(EVENTS_CHANNEL)
        self.seen: list[dict[str, Any]] = []

    def drain(self, wait: float = 0.5) -> list[dict[str, Any]]:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            message = self._pubsub.get_message(timeout=0.05)
            if message and json.loads(message["data"]).get("type") == "ticket":
                self.seen.append(json.loads(message["data"]))
        return self.seen

    def close(self) -> None:
        self._pubsub.close()
        self._client.close()


@pytest.fixture
def events(api: Api) -> Iterator[EventLog]:
    log = EventLog(api.url)
    try:
        yield log
    finally:
        log.close()


# -- authentication and roles --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/tickets"),
        ("get", "/api/tickets"),
        ("get", "/api/tickets/T-000001"),
        ("patch", "/api/tickets/T-000001"),
    ],
)
def test_only_people_in_the_console_use_tickets(api: Api, method: str, path: str) -> None:
    body: dict[str, Any] = {} if method == "get" else {"json": {"subject": "x"}}
    assert api.call(method, path, **body).status == 401
    assert api.call(method, path, "wrong-token", **body).status == 401
    reply = api.call(method, path, SERVICE, **body)
    assert (reply.status, reply.body["error"]) == (403, "forbidden")
    editor = api.call("post", "/api/tokens", ADMIN, json={"role": "editor", "user_id": unique("ed")})
    assert api.call(method, path, editor.body["token"], **body).status == 403


# -- creating ------------------------------------------------------------------------------------------


def test_an_agent_creates_a_ticket_classified_and_dispatched_by_intent(api: Api, events: EventLog) -> None:
    lane = api.lane()
    ann = api.agent(lane)
    ticket = api.create(ann.token, intent=lane.intent, description="Tracking shows delivered")
    assert ticket["id"].startswith("T-") and len(ticket["id"]) >= 8
    assert ticket["status"] == "open"
    assert ticket["skill"] == lane.skill
    assert (ticket["priority"], ticket["category"], ticket["language"]) == ("normal", "general", "en")
    assert (ticket["source"], ticket["auto_reason"], ticket["assignee"]) == ("agent", None, None)
    assert ticket["created_by"] == ann.id
    assert ticket["created_at"] == ticket["updated_at"] > 0
    assert [(h["action"], h["actor"], h["changes"]) for h in ticket["history"]] == [("created", ann.id, {})]
    assert {"type": "ticket", "ticket_id": ticket["id"], "skill": lane.skill} in events.drain()
    # with a trailing slash too, and explicit fields win over derivation
    reply = api.call(
        "post",
        "/api/tickets/",
        api.supervisor,
        json={"subject": "Other", "intent": lane.intent, "skill": api.lane().skill, "priority": "low"},
    )
    assert reply.status == 201 and reply.body["priority"] == "low" and reply.body["skill"] != lane.skill
    second = api.create(ann.token)
    assert int(second["id"][2:]) > int(ticket["id"][2:])
    assert second["skill"] == f"{api.prefix}_general"  # no intent: the configuration's default skill


def test_a_ticket_from_a_conversation_takes_its_context(api: Api) -> None:
    lane = api.lane()
    cid = api.handoff(
        lane,
        language="zh",
        customer_id="cust-42",
        customer_tier="gold",
        order={"id": "A1", "total": 80, "items": [{"sku": "s", "category": "shoes"}]},
    )
    ticket = api.create(api.supervisor, conversation_id=cid)
    assert ticket["conversation_id"] == cid
    assert (ticket["customer_id"], ticket["language"], ticket["intent"]) == ("cust-42", "zh", lane.intent)
    assert (ticket["skill"], ticket["category"], ticket["priority"]) == (lane.skill, "shoes", "high")
    assert api.ids(api.supervisor, f"conversation_id={cid}") == [ticket["id"]]
    missing = api.call(
        "post", "/api/tickets", api.supervisor, json={"subject": "x", "conversation_id": "nope-1"}
    )
    assert (missing.status, missing.body["error"]) == (404, "unknown_conversation")


# -- listing -------------------------------------------------------------------------------------------


def test_listing_filters_by_status_skill_and_assignee_newest_first(api: Api) -> None:
    one, two = api.lane(), api.lane()
    ann = api.agent(one, two)
    a = api.create(api.supervisor, skill=one.skill)["id"]
    b = api.create(api.supervisor, skill=one.skill, assignee=ann.id)["id"]
    c = api.create(api.supervisor, skill=two.skill)["id"]
    d = api.create(ann.token, skill=two.skill, assignee=ann.id)["id"]
    assert api.patch(api.supervisor, b, status="pending").status == 200
    assert api.patch(api.supervisor, c, status="solved").status == 200

    assert api.ids(api.supervisor, f"skill={one.skill}") == [b, a]
    assert api.ids(api.supervisor, f"skill={two.skill}&status=open") == [d]
    assert api.ids(api.supervisor, f"skill={two.skill}&status=open,solved") == [d, c]
    assert api.ids(api.supervisor, f"assignee={ann.id}") == [d, b]
    assert api.ids(ann.token, "assignee=me") == [d, b]
    assert api.ids(ann.token, f"assignee=none&skill={one.skill}") == [a]
    assert api.ids(ann.token, "status=pending") == [b]
    page = api.call("get", f"/api/tickets?skill={one.skill}&limit=1&offset=1", ann.token).body
    assert ([t["id"] for t in page["tickets"]], page["total"], page["limit"], page["offset"]) == (
        [a],
        2,
        1,
        1,
    )
    assert "history" not in page["tickets"][0]
    assert api.call("get", "/api/tickets?assignee=me", api.supervisor).status == 400  # not an agent


# -- visibility ----------------------------------------------------------------------------------------


def test_agents_see_their_skills_and_their_own_tickets_only(api: Api) -> None:
    mine, other = api.lane(), api.lane()
    ann, bob = api.agent(mine), api.agent(other)
    in_skill = api.create(api.supervisor, skill=mine.skill, assignee=bob.id)["id"]
    elsewhere = api.create(api.supervisor, skill=other.skill)["id"]
    given = api.create(api.supervisor, skill=other.skill, assignee=ann.id)["id"]

    assert api.call("get", f"/api/tickets/{in_skill}", ann.token).status == 200
    assert api.call("get", f"/api/tickets/{given}", ann.token).status == 200
    hidden = api.call("get", f"/api/tickets/{elsewhere}", ann.token)
    assert (hidden.status, hidden.body["error"]) == (403, "forbidden")
    assert api.patch(ann.token, elsewhere, assignee=ann.id).status == 403
    assert set(api.ids(ann.token, "limit=200")) >= {in_skill, given}
    assert elsewhere not in api.ids(ann.token, "limit=200")
    assert api.ids(ann.token, f"skill={other.skill}") == [given]  # not the unassigned one
    assert api.call("get", f"/api/tickets/{elsewhere}", api.supervisor).status == 200
    for unknown in ("T-999999999", "nonsense"):
        missing = api.call("get", f"/api/tickets/{unknown}", ann.token)
        assert (missing.status, missing.body["error"]) == (404, "unknown_ticket")
        assert api.patch(api.supervisor, unknown, status="solved").status == 404


# -- assigning and updating ----------------------------------------------------------------------------


def test_assign_and_update_are_recorded_in_the_history(api: Api, events: EventLog) -> None:
    lane = api.lane()
    ann, bob = api.agent(lane), api.agent(lane)
    ticket_id = api.create(api.supervisor, skill=lane.skill)["id"]

    taken = api.patch(ann.token, ticket_id, assignee=ann.id)
    assert taken.status == 200 and taken.body["assignee"] == ann.id, taken.body
    stolen = api.patch(bob.token, ticket_id, assignee=bob.id)
    assert (stolen.status, stolen.body["error"]) == (403, "forbidden")
    assert api.patch(ann.token, ticket_id, assignee=bob.id).status == 403  # agents assign only themselves
    waiting = api.patch(ann.token, ticket_id, status="pending", priority="high", note="asked for a photo")
    assert waiting.status == 200, waiting.body
    moved = api.patch(api.supervisor, ticket_id, assignee=bob.id, note="Ann is off tomorrow")
    assert moved.status == 200
    assert api.patch(ann.token, ticket_id, status="solved").status == 403  # no longer hers
    solved = api.patch(bob.token, ticket_id, status="solved")
    assert solved.status == 200
    noted = api.patch(bob.token, ticket_id, note="customer confirmed")
    assert noted.status == 200

    history = api.call("get", f"/api/tickets/{ticket_id}", ann.token).body["history"]
    assert [(h["actor"], h["action"], h["changes"], h["note"]) for h in history] == [
        (api.supervisor_id, "created", {}, None),
        (ann.id, "updated", {"assignee": [None, ann.id]}, None),
        (
            ann.id,
            "updated",
            {"status": ["open", "pending"], "priority": ["normal", "high"]},
            "asked for a photo",
        ),
        (api.supervisor_id, "updated", {"assignee": [ann.id, bob.id]}, "Ann is off tomorrow"),
        (bob.id, "updated", {"status": ["pending", "solved"]}, None),
        (bob.id, "noted", {}, "customer confirmed"),
    ]
    assert all(h["at"] > 0 for h in history)
    assert api.ids(api.supervisor, f"skill={lane.skill}&status=solved&assignee={bob.id}") == [ticket_id]
    assert api.ids(api.supervisor, f"skill={lane.skill}&status=open,pending") == []
    assert api.ids(ann.token, "assignee=me&status=pending") == []
    ticket_events = [e for e in events.drain() if e["ticket_id"] == ticket_id]
    assert len(ticket_events) == 6 and all(e["skill"] == lane.skill for e in ticket_events)

    moved_skill = api.lane()
    redispatched = api.patch(api.supervisor, ticket_id, skill=moved_skill.skill, status="open")
    assert redispatched.status == 200 and redispatched.body["skill"] == moved_skill.skill
    assert api.ids(api.supervisor, f"skill={moved_skill.skill}") == [ticket_id]
    assert api.ids(api.supervisor, f"skill={lane.skill}") == []
    assert api.call("get", f"/api/tickets/{ticket_id}", bob.token).status == 200  # still his
    assert {"type": "ticket", "ticket_id": ticket_id, "skill": moved_skill.skill} in events.drain()


def test_two_agents_taking_the_same_ticket_at_once_leave_one_owner(api: Api) -> None:
    lane = api.lane()
    agents = [api.agent(lane) for _ in range(4)]
    ticket_id = api.create(api.supervisor, skill=lane.skill)["id"]

    async def race() -> list[Any]:
        clients = [api.store() for _ in agents]
        try:
            return await asyncio.gather(
                *(
                    store.update(
                        ticket_id,
                        TicketChanges({"assignee": agent.id}),
                        agent.id,
                        check=partial(check_edit, Viewer(agent.id, agent.id, frozenset({lane.skill}))),
                    )
                    for agent, (_, store) in zip(agents, clients, strict=True)
                ),
                return_exceptions=True,
            )
        finally:
            for client, _ in clients:
                await client.aclose()

    results = asyncio.run(race())
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert all(isinstance(r, Forbidden) for r in results if r is not winners[0])
    final = api.call("get", f"/api/tickets/{ticket_id}", api.supervisor).body
    assert final["assignee"] == winners[0].assignee
    assert [h["changes"] for h in final["history"][1:]] == [{"assignee": [None, winners[0].assignee]}]


def test_status_transitions_are_enforced_with_stable_codes(api: Api) -> None:
    ticket_id = api.create(api.supervisor, skill=api.lane().skill)["id"]
    assert api.patch(api.supervisor, ticket_id, status="solved").status == 200
    back = api.patch(api.supervisor, ticket_id, status="pending")
    assert (back.status, back.body["error"]) == (409, "invalid_transition")
    assert api.patch(api.supervisor, ticket_id, status="open").body["status"] == "open"  # reopened
    assert api.patch(api.supervisor, ticket_id, status="closed").body["status"] == "closed"
    for change in ({"status": "open"}, {"status": "solved"}):
        refused = api.patch(api.supervisor, ticket_id, **change)
        assert (refused.status, refused.body["error"]) == (409, "invalid_transition"), change
    locked = api.patch(api.supervisor, ticket_id, priority="urgent")
    assert (locked.status, locked.body["error"]) == (409, "ticket_closed")
    assert api.patch(api.supervisor, ticket_id, note="duplicate of an older ticket").status == 200
    final = api.call("get", f"/api/tickets/{ticket_id}", api.supervisor).body
    assert (final["status"], final["priority"]) == ("closed", "normal")
    assert [h["action"] for h in final["history"]] == ["created", "updated", "updated", "updated", "noted"]


# -- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "done"}, "status"),
        ({"priority": 3}, "priority"),
        ({"skill": "no_such_skill"}, "skill"),
        ({"assignee": "nobody-here"}, "assignee"),
        ({"assignee": "Not Valid"}, "assignee"),
        ({"subject": "renamed"}, "subject"),
        ({"note": 12}, "note"),
    ],
)
def test_bad_updates_are_a_400_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    ticket_id = api.create(api.supervisor)["id"]
    reply = api.patch(api.supervisor, ticket_id, **body)
    assert reply.status == 400, reply.body
    assert (reply.body["error"], reply.body["field"]) == ("bad_request", field)
    assert len(api.call("get", f"/api/tickets/{ticket_id}", api.supervisor).body["history"]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"subject": "x", "priority": "p0"}, "priority"),
        ({"subject": "x", "skill": "nope"}, "skill"),
        ({"subject": "x", "assignee": "ghost-agent"}, "assignee"),
        ({"subject": "x", "language": "de"}, "language"),
        ({"subject": "x", "id": "T-000001"}, "id"),
    ],
)
def test_bad_new_tickets_are_a_400_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    reply = api.call("post", "/api/tickets", api.supervisor, json=body)
    assert reply.status == 400, reply.body
    assert reply.body["field"] == field


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=done", "status"),
        ("skill=nope", "skill"),
        ("assignee=Bad%20Id", "assignee"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=x", "limit"),
        ("offset=-1", "offset"),
        ("sort=asc", "sort"),
    ],
)
def test_bad_list_queries_are_a_400_naming_the_parameter(api: Api, query: str, field: str) -> None:
    reply = api.call("get", f"/api/tickets?{query}", api.supervisor)
    assert reply.status == 400, reply.body
    assert reply.body["field"] == field


def test_malformed_bodies_are_a_400_not_a_500(api: Api) -> None:
    ticket_id = api.create(api.supervisor)["id"]
    for method, path in (("post", "/api/tickets"), ("patch", f"/api/tickets/{ticket_id}")):
        for data in ("{not json", "[1, 2]"):
            reply = api.call(method, path, api.supervisor, content=data)
            assert (reply.status, reply.body["error"]) == (400, "bad_request"), (method, data)
    empty = api.patch(api.supervisor, ticket_id)
    assert empty.status == 400


# -- automatic tickets ---------------------------------------------------------------------------------


def test_auto_tickets_are_made_once_per_handoff_however_many_workers_ask(api: Api, events: EventLog) -> None:
    lane = api.lane()
    transcript = [
        {"author": "customer", "text": "my order never came"},
        {"author": "bot", "text": "Let me get someone."},
        {"author": "customer", "text": "still waiting"},
    ]
    cid = api.handoff(
        lane, reason="damaged_goods", customer_id="cust-7", customer_tier="vip", transcript=transcript
    )

    async def race() -> list[tuple[Any, bool]]:
        clients = [api.store() for _ in range(6)]  # one connection pool per "worker"
        try:
            return await asyncio.gather(*(store.create_auto(cid, "nobody_available") for _, store in clients))
        finally:
            for client, _ in clients:
                await client.aclose()

    async def auto(conversation_id: str, reason: str) -> tuple[Any, bool]:
        client, store = api.store()
        try:
            return await store.create_auto(conversation_id, reason)
        finally:
            await client.aclose()

    results = asyncio.run(race())
    assert len({t.id for t, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    ticket = results[0][0]
    # damaged_goods maps to lane 0's skill by reason, which wins over the intent (as in routing)
    assert ticket.skill == f"{api.prefix}_s0"
    assert (ticket.source, ticket.auto_reason, ticket.created_by) == ("auto", "nobody_available", "system")
    assert (ticket.customer_id, ticket.priority, ticket.intent) == ("cust-7", "urgent", lane.intent)
    assert ticket.subject == "Nobody was available to take the handoff: still waiting"
    assert "- my order never came\n- still waiting" in ticket.description
    # the customer leaving later in the same handoff is the same case
    left, created = asyncio.run(auto(cid, "customer_left"))
    assert (left.id, left.auto_reason, created) == (ticket.id, "nobody_available", False)
    assert api.ids(api.supervisor, f"conversation_id={cid}") == [ticket.id]
    assert [e for e in events.drain() if e["ticket_id"] == ticket.id] == [
        {"type": "ticket", "ticket_id": ticket.id, "skill": ticket.skill}
    ]

    # a new handoff of the same conversation is a new case
    assert api.call("delete", f"/api/handoffs/{cid}", ADMIN).status == 200
    again = api.call(
        "post",
        "/api/handoffs/",
        SERVICE,
        json={"conversation_id": cid, "reason": "customer_request", "intent": lane.intent, "language": "en"},
    )
    assert again.status == 201

    second, created = asyncio.run(auto(cid, "customer_left"))
    assert created and second.id != ticket.id and second.skill == lane.skill
    assert api.ids(api.supervisor, f"conversation_id={cid}") == [second.id, ticket.id]


def test_open_counts_follow_status_and_skill_changes(api: Api) -> None:
    one, two = api.lane(), api.lane()
    first = api.create(api.supervisor, skill=one.skill)["id"]
    api.create(api.supervisor, skill=one.skill)
    api.patch(api.supervisor, first, skill=two.skill)
    api.patch(api.supervisor, first, status="pending")

    async def counts() -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        client, store = api.store()
        try:
            return await store.open_counts(), await store.counts()
        finally:
            await client.aclose()

    open_counts, all_counts = asyncio.run(counts())
    assert open_counts[one.skill] == 1 and two.skill not in open_counts
    assert all_counts[two.skill] == {"pending": 1}
