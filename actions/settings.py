"""The action server's settings, read from the environment once and validated at start (common.env): a
bad value stops the server with an error naming the variable, instead of failing on a customer's turn."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from actions.orders.attempts import AttemptLimits
from common.env import processes_per_core_pair, read_int, read_secret, read_url
from common.redis_connect import SentinelConfig, read_sentinel

ROOT = Path(__file__).resolve().parents[1]
# Rasa 3.6 posts the whole tracker of the current session plus the domain. Measured with Rasa's own
# classes: the domain is about 23 KB, a turn in Chinese about 3.2 KB (JSON escapes every character),
# so 1 MiB holds some 300 turns of one session, ten times a long customer conversation.
MAX_BODY_BYTES = 1024 * 1024
MIN_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class ActionSettings:
    token: str  # ACTIONS_TOKEN: Rasa sends it on every call
    host: str
    port: int
    workers: int
    max_body_bytes: int
    hub_url: str
    hub_service_token: str  # HUB_SERVICE_TOKEN: the handoff action posts packets with it
    redis_url: str  # the order-check attempt counters
    attempts: AttemptLimits
    order_db: Path
    order_seed: Path
    return_policy: Path
    return_reasons: Path
    handoff_reasons: Path
    redis_sentinel: SentinelConfig | None = None  # REDIS_SENTINELS; redis_url's host and port then unused

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ActionSettings:
        def path(name: str, default: Path) -> Path:
            return Path(env.get(name) or default)

        return cls(
            token=read_secret(env, "ACTIONS_TOKEN"),
            host=env.get("ACTIONS_HOST", "127.0.0.1"),
            port=read_int(env, "ACTIONS_PORT", 5055, 1, 65535),
            # ACTIONS_WORKERS is the setting's earlier name.
            workers=read_int(
                env, "ACTION_PROCESSES", int(env.get("ACTIONS_WORKERS") or processes_per_core_pair()), 1, 64
            ),
            max_body_bytes=read_int(env, "ACTIONS_MAX_BODY_BYTES", MAX_BODY_BYTES, MIN_BODY_BYTES, 2**31 - 1),
            hub_url=read_url(env, "HUB_URL", "http://127.0.0.1:8000", ("http", "https")),
            hub_service_token=read_secret(env, "HUB_SERVICE_TOKEN"),
            redis_url=read_url(env, "REDIS_URL", "redis://127.0.0.1:6379/0", ("redis", "rediss", "unix")),
            redis_sentinel=read_sentinel(env),
            attempts=AttemptLimits(
                per_conversation=read_int(env, "ORDER_CHECK_MAX_PER_CONVERSATION", 3, 1, 100),
                per_address=read_int(env, "ORDER_CHECK_MAX_PER_ADDRESS", 10, 1, 10_000_000),
                window_seconds=read_int(env, "ORDER_CHECK_WINDOW_SECONDS", 3600, 60, 30 * 86400),
            ),
            order_db=path("ORDER_DB", ROOT / "var" / "orders.sqlite"),
            order_seed=path("ORDER_SEED", ROOT / "data" / "orders" / "orders.yml"),
            return_policy=path("RETURN_POLICY", ROOT / "data" / "policy" / "returns.yml"),
            return_reasons=path("RETURN_REASONS", ROOT / "data" / "policy" / "return_reasons.yml"),
            handoff_reasons=path("HANDOFF_REASONS", ROOT / "data" / "policy" / "handoff_reasons.yml"),
        )


@cache
def action_settings() -> ActionSettings:
    """The running server's settings (checked once more by `actions.server.main` before it serves)."""
    return ActionSettings.from_env(os.environ)
