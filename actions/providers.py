"""Lazily created, process-wide dependencies of the actions (nothing opens at import time), configured by
the action server's settings (actions.settings)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from actions.cues import CueTable
from actions.hub_client import HttpHubClient, HubClient
from actions.orders.attempts import AttemptLimiter, RedisAttemptLimiter
from actions.orders.sqlite_store import SqliteOrderStore
from actions.orders.store import OrderStore
from actions.returns.policy import ReturnPolicy
from actions.settings import action_settings

if TYPE_CHECKING:
    from actions.returns.reasons import ReasonClassifier
    from kb_index.service import KnowledgeBase


@cache
def order_store() -> OrderStore:
    settings = action_settings()
    return SqliteOrderStore(settings.order_db, settings.order_seed)


@cache
def return_policy() -> ReturnPolicy:
    return ReturnPolicy.from_file(action_settings().return_policy)


@cache
def hub_client() -> HubClient:
    settings = action_settings()
    return HttpHubClient(settings.hub_url, settings.hub_service_token)


@cache
def knowledge_base() -> KnowledgeBase:
    from kb_index.service import KnowledgeBase  # imports torch and FAISS: only when first needed

    return KnowledgeBase.from_env()


@cache
def attempt_limiter() -> AttemptLimiter:
    from common.redis_connect import async_client

    settings = action_settings()
    redis = async_client(
        settings.redis_url,
        settings.redis_sentinel,
        decode_responses=True,
        socket_timeout=5,
        socket_connect_timeout=2,
    )
    return RedisAttemptLimiter(redis, settings.attempts)


@cache
def reason_classifier() -> ReasonClassifier:
    """Return reasons by meaning, in the knowledge base's sentence-vector space."""
    from actions.returns.reasons import ReasonCatalogue, ReasonClassifier

    catalogue = ReasonCatalogue.from_file(action_settings().return_reasons)
    return ReasonClassifier(catalogue, knowledge_base().embed)


@cache
def handoff_cues() -> CueTable:
    return CueTable.from_file(action_settings().handoff_reasons)
