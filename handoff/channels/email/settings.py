"""The email channel's settings: the SMTP relay that sends, the From address, and the reply domain whose
signed addresses bring customers' replies back to their ticket."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from enum import StrEnum

from common.env import SettingsError, read_float, read_int, read_secret


class SmtpSecurity(StrEnum):
    NONE = "none"  # plain SMTP: a relay on the same host or private network only
    STARTTLS = "starttls"  # submission (587): upgrade to TLS before any credential or message is sent
    TLS = "tls"  # implicit TLS (465)


DEFAULT_PORTS = {SmtpSecurity.NONE: 25, SmtpSecurity.STARTTLS: 587, SmtpSecurity.TLS: 465}

_HOSTNAME = re.compile(
    r"^(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\Z"
)
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253}\Z")


@dataclass(frozen=True)
class EmailSettings:
    smtp_host: str
    smtp_port: int
    security: SmtpSecurity
    from_header: str  # EMAIL_FROM as given, display name included ("Shop Support <support@shop.example>")
    from_address: str  # its address alone: the envelope sender, where bounces go
    reply_domain: str  # lower case; MX (or the provider's inbound route) points here
    token_secret: str = field(repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    max_attempts: int = 6
    retry_base_seconds: float = 30.0
    timeout_seconds: float = 30.0  # each SMTP connect and command

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EmailSettings | None:
        """None when SMTP_HOST is unset (the channel is off); SettingsError naming the variable when it is
        misconfigured. Errors never echo a password or secret."""
        env = os.environ if env is None else env
        host = env.get("SMTP_HOST", "").strip().lower()
        if not host:
            return None
        if not _HOSTNAME.match(host):
            raise SettingsError(f"SMTP_HOST={host!r} is not a host name or address")
        raw_security = env.get("SMTP_SECURITY", SmtpSecurity.STARTTLS.value).strip().lower()
        try:
            security = SmtpSecurity(raw_security)
        except ValueError:
            raise SettingsError(f"SMTP_SECURITY={raw_security!r} is not one of none, starttls, tls") from None
        username = env.get("SMTP_USERNAME", "") or None
        password = env.get("SMTP_PASSWORD", "") or None
        if (username is None) != (password is None):
            raise SettingsError("SMTP_USERNAME and SMTP_PASSWORD must be set together")
        if username is not None and security is SmtpSecurity.NONE:
            raise SettingsError(
                "SMTP_USERNAME needs SMTP_SECURITY=starttls or tls: the password would cross in clear"
            )
        from_header, from_address = _sender(env)
        reply_domain = env.get("EMAIL_REPLY_DOMAIN", "").strip().lower()
        if not reply_domain:
            raise SettingsError("EMAIL_REPLY_DOMAIN must be set when SMTP_HOST is (replies come back to it)")
        if not _HOSTNAME.match(reply_domain) or "." not in reply_domain:
            raise SettingsError(f"EMAIL_REPLY_DOMAIN={reply_domain!r} is not a domain name")
        return cls(
            smtp_host=host,
            smtp_port=read_int(env, "SMTP_PORT", DEFAULT_PORTS[security], 1, 65535),
            security=security,
            username=username,
            password=password,
            from_header=from_header,
            from_address=from_address,
            reply_domain=reply_domain,
            token_secret=read_secret(env, "EMAIL_TOKEN_SECRET"),
            max_attempts=read_int(env, "EMAIL_MAX_ATTEMPTS", 6, 1, 30),
            retry_base_seconds=read_float(env, "EMAIL_RETRY_BASE_SECONDS", 30.0, 1.0, 3600.0),
            timeout_seconds=read_float(env, "SMTP_TIMEOUT_SECONDS", 30.0, 1.0, 300.0),
        )


def _sender(env: Mapping[str, str]) -> tuple[str, str]:
    raw = env.get("EMAIL_FROM", "").strip()
    if not raw:
        raise SettingsError("EMAIL_FROM must be set when SMTP_HOST is")
    if any(c in raw for c in "\r\n\0") or not raw.isprintable():
        raise SettingsError("EMAIL_FROM must be one line without control characters")
    _, address = parseaddr(raw)
    if not address.isascii() or not _ADDRESS.match(address):
        raise SettingsError(
            f"EMAIL_FROM={raw!r} is not an address such as 'Shop Support <support@shop.example>'"
        )
    return raw, address
