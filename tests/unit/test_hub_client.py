"""The action server's client for the hub's handoff API, against a mock transport."""

from __future__ import annotations

import json

import httpx
import pytest

from actions.hub_client import HandoffAccepted, HttpHubClient, HubError


def client_for(*responses: httpx.Response | Exception) -> tuple[HttpHubClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return HttpHubClient("http://hub.test/", "s3cret", transport=httpx.MockTransport(handle)), seen


async def test_a_queued_handoff_reports_its_position_and_sends_the_token() -> None:
    hub, seen = client_for(httpx.Response(201, json={"owner": "queued", "position": 3}))
    assert await hub.create_handoff({"conversation_id": "c1"}) == HandoffAccepted("queued", 3)
    assert str(seen[0].url) == "http://hub.test/api/handoffs/"
    assert seen[0].headers["Authorization"] == "Bearer s3cret"
    assert json.loads(seen[0].content) == {"conversation_id": "c1"}


async def test_a_handoff_offered_at_once_has_no_position() -> None:
    hub, _ = client_for(httpx.Response(201, json={"owner": "offered", "position": None}))
    assert await hub.create_handoff({}) == HandoffAccepted("offered", None)


async def test_a_transport_error_is_retried_once() -> None:
    hub, seen = client_for(
        httpx.ReadTimeout("slow"), httpx.Response(201, json={"owner": "queued", "position": 1})
    )
    assert (await hub.create_handoff({})).position == 1
    assert len(seen) == 2


async def test_two_transport_errors_are_a_hub_error() -> None:
    hub, _ = client_for(httpx.ConnectError("refused"), httpx.ConnectError("refused"))
    with pytest.raises(HubError, match="unreachable"):
        await hub.create_handoff({})


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, text="boom"),
        httpx.Response(401, json={"error": "unauthorised"}),
        httpx.Response(201, text="not json"),
        httpx.Response(201, json={"position": 1}),
        httpx.Response(201, json={"owner": "queued", "position": "first"}),
    ],
)
async def test_refusals_and_unexpected_bodies_are_hub_errors_not_crashes(response: httpx.Response) -> None:
    hub, seen = client_for(response)
    with pytest.raises(HubError):
        await hub.create_handoff({})
    assert len(seen) == 1  # an answer, even a refusal, is never retried


async def test_handoffs_share_one_http_client_until_it_is_closed() -> None:
    accepted = httpx.Response(201, json={"owner": "queued", "position": 1})
    hub, seen = client_for(accepted, accepted, accepted)
    await hub.create_handoff({})
    first = hub._http()
    await hub.create_handoff({})
    assert hub._http() is first  # built once: its TLS context and connections are kept
    await hub.aclose()
    await hub.create_handoff({})
    assert hub._http() is not first and len(seen) == 3
