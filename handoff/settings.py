"""Service settings, read from the environment once and validated up front."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from common.env import (
    SettingsError,
    processes_per_core_pair,
    read_bool,
    read_float,
    read_int,
    read_optional_secret,
    read_secret,
    read_url,
)
from common.redis_connect import SentinelConfig, read_replica_wait, read_sentinel
from handoff.analytics.settings import AnalyticsSettings, ServiceLevelTarget
from handoff.channels.email.settings import EmailSettings
from handoff.channels.telegram.settings import TelegramSettings

MIB = 1024 * 1024


def token_ttl_days(env: Mapping[str, str] | None = None) -> int:
    """How many days issued API tokens live (HUB_TOKEN_TTL_DAYS). Its own function: the command line
    issues and rotates tokens without the hub's other settings."""
    return read_int(os.environ if env is None else env, "HUB_TOKEN_TTL_DAYS", 90, 1, 3650)


# The longest JSON a message of `chars` characters takes with each character escaped as one \uXXXX (what
# Python's json.dumps sends for Chinese), plus room for the sender and the metadata.
def _body_for(chars: int) -> int:
    return 6 * chars + 2048


def _max_body_bytes(env: Mapping[str, str], max_message_chars: int) -> int:
    value = read_int(env, "HUB_MAX_BODY_BYTES", 64 * 1024, 1024, 1024 * 1024)
    if value < _body_for(max_message_chars):
        raise SettingsError(
            f"HUB_MAX_BODY_BYTES={value} cannot hold a message of HUB_MAX_MESSAGE_CHARS={max_message_chars} "
            f"characters; it needs at least {_body_for(max_message_chars)}"
        )
    return value


def _rasa_urls(env: Mapping[str, str]) -> tuple[str, ...]:
    """RASA_URLS (comma-separated, one per Rasa process) or else RASA_URL."""
    raw = env.get("RASA_URLS", "").strip()
    if not raw:
        return (read_url(env, "RASA_URL", "http://127.0.0.1:5005", ("http", "https")),)
    urls = tuple(
        read_url({"RASA_URLS": u.strip()}, "RASA_URLS", "", ("http", "https")) for u in raw.split(",")
    )
    if len(set(urls)) != len(urls):
        raise SettingsError(f"RASA_URLS names a process twice: {raw!r}")
    return urls


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    workers: int
    redis_url: str
    rasa_url: str  # the first of rasa_urls
    rasa_channel_token: str
    rasa_timeout: float
    actions_url: str
    max_message_chars: int
    rest_token: str | None  # a caller with it is trusted to name the customer (`metadata.customer_id`)
    service_token: str
    admin_token: str
    rasa_api_token: str
    routing_config: str
    sweep_interval: float
    widget_secret: str = ""  # signs widget sessions; never leaves the hub
    identity_secret: str = ""  # storefronts sign identity assertions with it; the hub never signs with it
    allowed_origins: tuple[str, ...] = ()
    messages_per_minute: int = 20  # per conversation (a REST sender, a widget session, a Telegram chat)
    rest_open: bool = False  # REST without the token, for Rasa REST clients; such callers stay anonymous
    messages_per_minute_per_address: int = 120  # REST messages per client address, whatever the sender
    max_body_bytes: int = 64 * 1024  # request bodies of the public routes (REST channel, widget session)
    cookie_secure: bool = False
    token_ttl_days: int = 90  # issued API tokens expire this many days after issue or rotation
    attachments_dir: str = "var/attachments"  # customers' photos (handoff/attachments.py)
    attachment_max_bytes: int = 5 * MIB
    attachment_retention_days: int = 90
    telegram: TelegramSettings | None = None
    redis_sentinel: SentinelConfig | None = None  # REDIS_SENTINELS; redis_url's host and port then unused
    redis_wait_replicas: int = 0  # replicas that must have a message people wrote before it is acknowledged
    redis_wait_timeout_ms: int = 200
    rasa_urls: tuple[str, ...] = ()  # every Rasa process (RASA_URLS), conversations spread among them
    studio_low_confidence: float = 0.4  # a message whose best intent scores below this goes to the studio
    studio_root: str = ""  # the project whose data/ and models/ the studio edits (default: this checkout)
    analytics: AnalyticsSettings | None = None  # None: off (ANALYTICS_DB=off; tests built without it)
    service_level: ServiceLevelTarget = field(default_factory=ServiceLevelTarget)  # "80% within 20 s"
    service_level_alert_minutes: int = 10  # missed this long: the supervisors' dashboard alerts
    email: EmailSettings | None = None  # None: no email channel (SMTP_HOST unset)
    email_inbound_token: str | None = None  # bearer token of a mail provider's inbound webhook
    email_inbound_smtp_port: int | None = None  # the built-in reply receiver's port; None: not started
    email_inbound_smtp_host: str = "127.0.0.1"
    order_webhook_secret: str | None = None  # signs order events; None: the order webhook answers 503
    proactive_config: str = ""  # the triggers' file (default handoff/proactive.yml)
    public_url: str | None = None  # where customers reach the hub (https), for links in emails

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        max_message_chars = read_int(env, "HUB_MAX_MESSAGE_CHARS", 4000, 1, 100_000)
        redis_sentinel = read_sentinel(env)
        redis_wait = read_replica_wait(env, redis_sentinel)
        rasa_urls = _rasa_urls(env)
        return cls(
            host=env.get("HUB_HOST", "127.0.0.1"),
            port=read_int(env, "HUB_PORT", 8000, 1, 65535),
            workers=read_int(env, "HUB_WORKERS", processes_per_core_pair(), 1, 64),
            redis_url=read_url(env, "REDIS_URL", "redis://127.0.0.1:6379/0", ("redis", "rediss", "unix")),
            redis_sentinel=redis_sentinel,
            redis_wait_replicas=redis_wait.replicas,
            redis_wait_timeout_ms=redis_wait.timeout_ms,
            rasa_url=rasa_urls[0],
            rasa_urls=rasa_urls,
            studio_low_confidence=read_float(env, "STUDIO_LOW_CONFIDENCE", 0.4, 0.0, 1.0),
            studio_root=env.get("STUDIO_ROOT", ""),
            rasa_channel_token=read_secret(env, "RASA_CHANNEL_TOKEN"),
            rasa_timeout=read_float(env, "RASA_TIMEOUT", 10.0, 0.1, 300.0),
            actions_url=read_url(env, "ACTIONS_URL", "http://127.0.0.1:5055", ("http", "https")),
            max_message_chars=max_message_chars,
            rest_token=read_optional_secret(env, "HUB_REST_TOKEN"),
            service_token=read_secret(env, "HUB_SERVICE_TOKEN"),
            admin_token=read_secret(env, "HUB_ADMIN_TOKEN"),
            rasa_api_token=read_secret(env, "RASA_AUTH_TOKEN"),
            routing_config=env.get("HUB_ROUTING_CONFIG", ""),
            sweep_interval=read_float(env, "HUB_SWEEP_INTERVAL", 0.5, 0.01, 60.0),
            widget_secret=read_secret(env, "HUB_WIDGET_SECRET"),
            identity_secret=read_secret(env, "HUB_IDENTITY_SECRET"),
            allowed_origins=_origins(env, "HUB_ALLOWED_ORIGINS"),
            messages_per_minute=read_int(env, "HUB_MESSAGES_PER_MINUTE", 20, 1, 1_000_000),
            rest_open=read_bool(env, "HUB_REST_OPEN"),
            messages_per_minute_per_address=read_int(
                env, "HUB_MESSAGES_PER_MINUTE_PER_ADDRESS", 120, 1, 1_000_000
            ),
            max_body_bytes=_max_body_bytes(env, max_message_chars),
            cookie_secure=read_bool(env, "HUB_COOKIE_SECURE"),
            token_ttl_days=token_ttl_days(env),
            attachments_dir=env.get("HUB_ATTACHMENTS_DIR", "var/attachments"),
            attachment_max_bytes=read_int(
                env, "HUB_ATTACHMENT_MAX_BYTES", 5 * 1024 * 1024, 65_536, 20 * 1024 * 1024
            ),
            attachment_retention_days=read_int(env, "HUB_ATTACHMENT_RETENTION_DAYS", 90, 1, 3650),
            telegram=TelegramSettings.from_env(env),
            analytics=AnalyticsSettings.from_env(env),
            service_level=ServiceLevelTarget.from_env(env),
            service_level_alert_minutes=read_int(env, "SERVICE_LEVEL_ALERT_MINUTES", 10, 1, 1440),
            email=EmailSettings.from_env(env),
            email_inbound_token=read_optional_secret(env, "EMAIL_INBOUND_TOKEN"),
            email_inbound_smtp_port=(
                read_int(env, "EMAIL_INBOUND_SMTP_PORT", 2525, 0, 65535)
                if env.get("EMAIL_INBOUND_SMTP_PORT")
                else None
            ),
            email_inbound_smtp_host=env.get("EMAIL_INBOUND_SMTP_HOST", "127.0.0.1"),
            order_webhook_secret=read_optional_secret(env, "ORDER_WEBHOOK_SECRET"),
            proactive_config=env.get("PROACTIVE_CONFIG", ""),
            public_url=read_url(env, "HUB_PUBLIC_URL", "", ("https", "http"))
            if env.get("HUB_PUBLIC_URL")
            else None,
        )


def _origins(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Storefront origins allowed to embed the widget (CORS and WebSocket Origin checks)."""
    origins = []
    for raw in env.get(name, "").split(","):
        origin = raw.strip().rstrip("/")
        if not origin:
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
            raise SettingsError(f"{name}: {origin!r} is not an origin like https://shop.example.com")
        origins.append(origin)
    return tuple(origins)
