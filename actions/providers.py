"""Lazily created, process-wide dependencies of the actions (nothing opens at import time)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from actions.cues import CueTable
from actions.hub_client import HttpHubClient, HubClient
from actions.orders.attempts import AttemptLimiter, AttemptLimits, RedisAttemptLimiter
from actions.orders.sqlite_store import SqliteOrderStore
from actions.orders.store import OrderStore
from actions.returns.policy import ReturnPolicy

if TYPE_CHECKING:
    from actions.returns.reasons import ReasonClassifier
    from kb_index.service import KnowledgeBase

ROOT = Path(__file__).resolve().parents[1]


@cache
def order_store() -> OrderStore:
    db = Path(os.environ.get("ORDER_DB", ROOT / "var" / "orders.sqlite"))
    seed = Path(os.environ.get("ORDER_SEED", ROOT / "data" / "orders" / "orders.yml"))
    return SqliteOrderStore(db, seed)


@cache
def return_policy() -> ReturnPolicy:
    return ReturnPolicy.from_file(
        Path(os.environ.get("RETURN_POLICY", ROOT / "data" / "policy" / "returns.yml"))
    )


@cache
def hub_client() -> HubClient:
    return HttpHubClient.from_env()


@cache
def knowledge_base() -> KnowledgeBase:
    from kb_index.service import KnowledgeBase  # imports torch and FAISS: only when first needed

    return KnowledgeBase.from_env()


@cache
def attempt_limiter() -> AttemptLimiter:
    from redis.asyncio import Redis

    redis = Redis.from_url(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        decode_responses=True,
        socket_timeout=5,
        socket_connect_timeout=2,
    )
    limits = AttemptLimits(
        per_conversation=int(os.environ.get("ORDER_CHECK_MAX_PER_CONVERSATION", "3")),
        per_address=int(os.environ.get("ORDER_CHECK_MAX_PER_ADDRESS", "10")),
        window_seconds=int(os.environ.get("ORDER_CHECK_WINDOW_SECONDS", "3600")),
    )
    return RedisAttemptLimiter(redis, limits)


@cache
def reason_classifier() -> ReasonClassifier:
    """Return reasons by meaning, in the knowledge base's sentence-vector space."""
    from actions.returns.reasons import ReasonCatalogue, ReasonClassifier

    path = Path(os.environ.get("RETURN_REASONS", ROOT / "data" / "policy" / "return_reasons.yml"))
    return ReasonClassifier(ReasonCatalogue.from_file(path), knowledge_base().embed)


@cache
def handoff_cues() -> CueTable:
    path = Path(os.environ.get("HANDOFF_REASONS", ROOT / "data" / "policy" / "handoff_reasons.yml"))
    return CueTable.from_file(path)
