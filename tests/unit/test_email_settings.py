"""The email channel's settings: off without SMTP_HOST, and each misconfiguration named."""

from __future__ import annotations

import pytest

from common.env import SettingsError
from handoff.channels.email.settings import EmailSettings, SmtpSecurity

SECRET = "reply-token-secret-0123456789"
BASE = {
    "SMTP_HOST": "smtp.shop.example",
    "EMAIL_FROM": "Shop Support <support@shop.example>",
    "EMAIL_REPLY_DOMAIN": "Reply.Shop.Example",
    "EMAIL_TOKEN_SECRET": SECRET,
}


def test_off_without_smtp_host() -> None:
    assert EmailSettings.from_env({}) is None
    assert EmailSettings.from_env({"EMAIL_FROM": "x@y.example"}) is None


def test_defaults_are_starttls_on_587() -> None:
    settings = EmailSettings.from_env(BASE)
    assert settings is not None
    assert settings.security is SmtpSecurity.STARTTLS
    assert settings.smtp_port == 587
    assert settings.from_address == "support@shop.example"
    assert settings.from_header == "Shop Support <support@shop.example>"
    assert settings.reply_domain == "reply.shop.example"
    assert (settings.max_attempts, settings.retry_base_seconds) == (6, 30.0)
    assert settings.username is None and settings.password is None


@pytest.mark.parametrize(("security", "port"), [("none", 25), ("tls", 465), ("STARTTLS", 587)])
def test_port_follows_security(security: str, port: int) -> None:
    settings = EmailSettings.from_env({**BASE, "SMTP_SECURITY": security})
    assert settings is not None and settings.smtp_port == port


def test_everything_set() -> None:
    env = {
        **BASE,
        "SMTP_PORT": "2587",
        "SMTP_SECURITY": "tls",
        "SMTP_USERNAME": "mailer",
        "SMTP_PASSWORD": "hunter2-long-password",
        "EMAIL_MAX_ATTEMPTS": "3",
        "EMAIL_RETRY_BASE_SECONDS": "5",
        "SMTP_TIMEOUT_SECONDS": "10",
    }
    settings = EmailSettings.from_env(env)
    assert settings is not None
    assert (settings.smtp_port, settings.security, settings.username) == (2587, SmtpSecurity.TLS, "mailer")
    assert (settings.max_attempts, settings.retry_base_seconds, settings.timeout_seconds) == (3, 5.0, 10.0)
    assert "hunter2" not in repr(settings) and SECRET not in repr(settings)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"SMTP_HOST": "smtp host"}, "SMTP_HOST"),
        ({"SMTP_PORT": "0"}, "SMTP_PORT"),
        ({"SMTP_PORT": "smtp"}, "SMTP_PORT"),
        ({"SMTP_SECURITY": "ssl"}, "SMTP_SECURITY"),
        ({"SMTP_USERNAME": "mailer"}, "SMTP_USERNAME and SMTP_PASSWORD"),
        ({"SMTP_PASSWORD": "secret-password"}, "SMTP_USERNAME and SMTP_PASSWORD"),
        (
            {"SMTP_SECURITY": "none", "SMTP_USERNAME": "mailer", "SMTP_PASSWORD": "secret-password"},
            "SMTP_USERNAME needs SMTP_SECURITY",
        ),
        ({"EMAIL_FROM": ""}, "EMAIL_FROM"),
        ({"EMAIL_FROM": "support"}, "EMAIL_FROM"),
        ({"EMAIL_FROM": "Support <support@shop.example>\r\nBcc: x@evil.example"}, "EMAIL_FROM"),
        ({"EMAIL_REPLY_DOMAIN": ""}, "EMAIL_REPLY_DOMAIN"),
        ({"EMAIL_REPLY_DOMAIN": "localhost"}, "EMAIL_REPLY_DOMAIN"),
        ({"EMAIL_REPLY_DOMAIN": "reply@shop.example"}, "EMAIL_REPLY_DOMAIN"),
        ({"EMAIL_TOKEN_SECRET": "short"}, "EMAIL_TOKEN_SECRET"),
        ({"EMAIL_MAX_ATTEMPTS": "0"}, "EMAIL_MAX_ATTEMPTS"),
        ({"EMAIL_RETRY_BASE_SECONDS": "soon"}, "EMAIL_RETRY_BASE_SECONDS"),
    ],
)
def test_misconfiguration_names_the_variable(overrides: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        EmailSettings.from_env({**BASE, **overrides})


def test_errors_do_not_echo_the_password() -> None:
    env = {**BASE, "SMTP_SECURITY": "none", "SMTP_USERNAME": "mailer", "SMTP_PASSWORD": "hunter2-long"}
    with pytest.raises(SettingsError) as refused:
        EmailSettings.from_env(env)
    assert "hunter2" not in str(refused.value)
