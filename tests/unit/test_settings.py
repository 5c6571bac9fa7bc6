import pytest

from common.env import SettingsError
from handoff.settings import Settings, token_ttl_days

TOKEN = "x" * 32
ENV = {
    "RASA_CHANNEL_TOKEN": TOKEN,
    "HUB_SERVICE_TOKEN": "y" * 32,
    "HUB_ADMIN_TOKEN": "z" * 32,
    "RASA_AUTH_TOKEN": "w" * 32,
    "HUB_WIDGET_SECRET": "v" * 32,
    "HUB_IDENTITY_SECRET": "storefront-identity-key-0123",
}


def test_defaults_match_the_documented_ports() -> None:
    settings = Settings.from_env(ENV)
    assert settings.port == 8000
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.rasa_url == "http://127.0.0.1:5005"
    assert settings.rest_token is None
    assert settings.rest_open is False  # the REST channel needs HUB_REST_TOKEN unless opened on purpose
    assert settings.messages_per_minute_per_address == 120
    assert settings.max_body_bytes == 64 * 1024
    assert settings.token_ttl_days == 90


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HUB_PORT", "eighty", "HUB_PORT='eighty' is not an integer"),
        ("HUB_PORT", "70000", "HUB_PORT=70000 is outside"),
        ("REDIS_URL", "http://localhost", "REDIS_URL='http://localhost' is not a redis"),
        ("RASA_URL", "localhost:5005", "RASA_URL"),
        ("RASA_TIMEOUT", "0", "RASA_TIMEOUT=0.0 is outside"),
        ("HUB_REST_TOKEN", "short", "HUB_REST_TOKEN must be set to a secret of at least 16"),
        ("HUB_REST_OPEN", "maybe", "HUB_REST_OPEN must be 1 or 0"),
        ("HUB_MESSAGES_PER_MINUTE_PER_ADDRESS", "0", "HUB_MESSAGES_PER_MINUTE_PER_ADDRESS=0 is outside"),
        ("HUB_MESSAGES_PER_MINUTE_PER_ADDRESS", "lots", "HUB_MESSAGES_PER_MINUTE_PER_ADDRESS='lots' is not"),
        ("HUB_MAX_BODY_BYTES", "100", "HUB_MAX_BODY_BYTES=100 is outside"),
        ("HUB_MAX_BODY_BYTES", "2000000", "HUB_MAX_BODY_BYTES=2000000 is outside"),
        ("HUB_MAX_BODY_BYTES", "64k", "HUB_MAX_BODY_BYTES='64k' is not an integer"),
        ("HUB_TOKEN_TTL_DAYS", "0", "HUB_TOKEN_TTL_DAYS=0 is outside 1..3650"),
        ("HUB_TOKEN_TTL_DAYS", "3651", "HUB_TOKEN_TTL_DAYS=3651 is outside 1..3650"),
        ("HUB_TOKEN_TTL_DAYS", "90d", "HUB_TOKEN_TTL_DAYS='90d' is not an integer"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({**ENV, name: value})


def test_short_channel_token_is_refused() -> None:
    with pytest.raises(SettingsError, match="RASA_CHANNEL_TOKEN"):
        Settings.from_env({**ENV, "RASA_CHANNEL_TOKEN": "short"})


def test_settings_are_frozen() -> None:
    settings = Settings.from_env(ENV)
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


def test_rest_settings_are_read() -> None:
    env = {
        **ENV,
        "HUB_REST_TOKEN": "r" * 32,
        "HUB_REST_OPEN": "1",
        "HUB_MESSAGES_PER_MINUTE_PER_ADDRESS": "7",
        "HUB_MAX_BODY_BYTES": "32768",
    }
    settings = Settings.from_env(env)
    assert (settings.rest_token, settings.rest_open) == ("r" * 32, True)
    assert (settings.messages_per_minute_per_address, settings.max_body_bytes) == (7, 32768)


def test_an_empty_rest_token_is_unset() -> None:
    assert Settings.from_env({**ENV, "HUB_REST_TOKEN": ""}).rest_token is None


def test_the_body_limit_must_hold_the_longest_message() -> None:
    with pytest.raises(
        SettingsError, match=r"HUB_MAX_BODY_BYTES=65536 cannot hold .* HUB_MAX_MESSAGE_CHARS=20000"
    ):
        Settings.from_env({**ENV, "HUB_MAX_MESSAGE_CHARS": "20000"})
    raised = Settings.from_env({**ENV, "HUB_MAX_MESSAGE_CHARS": "20000", "HUB_MAX_BODY_BYTES": "200000"})
    assert raised.max_body_bytes == 200000


def test_the_token_lifetime_is_read() -> None:
    assert Settings.from_env({**ENV, "HUB_TOKEN_TTL_DAYS": "30"}).token_ttl_days == 30
    assert Settings.from_env({**ENV, "HUB_TOKEN_TTL_DAYS": "3650"}).token_ttl_days == 3650
    # The command line reads it alone: it issues tokens without the hub's other settings.
    assert token_ttl_days({"HUB_TOKEN_TTL_DAYS": "1"}) == 1
    assert token_ttl_days({}) == 90


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://:s3cret-pw@localhost:6379/0", "'http://***@localhost:6379/0'"),
        ("redis://user:s3cret-pw@localhost:99999/0", "'redis://***@localhost:99999/0'"),
        ("redis://:s3cret-pw@localhost:port/0", "'redis://***@localhost:port/0'"),
        ("redis://:s3cret-pw@[::1/0", "'redis://***@[::1/0'"),
        ("redis://:s3cret@pw@/0", "'redis://***@/0'"),  # an unescaped @ in the password
        (":s3cret-pw@localhost:6379/0", "'***@localhost:6379/0'"),
        ("redis:///0?password=s3cret-pw", "'redis:///0?***'"),
    ],
)
def test_a_refused_redis_url_never_shows_its_password(url: str, shown: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({**ENV, "REDIS_URL": url})
    assert "s3cret" not in str(refused.value)
    assert str(refused.value) == f"REDIS_URL={shown} is not a redis/rediss/unix URL"


@pytest.mark.parametrize(
    "url",
    [
        "redis://:s3cret-pw@127.0.0.1:6379/0",
        "rediss://user:s3cret-pw@redis.example.com:6380/1",
        "unix:///run/redis/redis.sock?db=0",
    ],
)
def test_good_redis_urls_are_kept_as_given(url: str) -> None:
    assert Settings.from_env({**ENV, "REDIS_URL": url}).redis_url == url


def test_the_command_line_issues_tokens_with_the_configured_lifetime(monkeypatch: pytest.MonkeyPatch) -> None:
    from handoff import cli

    monkeypatch.setenv("HUB_TOKEN_TTL_DAYS", "7")
    assert cli._token_store(object()).ttl_seconds == 7 * 86400  # type: ignore[arg-type]


def test_the_command_line_refuses_a_bad_token_lifetime(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from handoff import cli

    monkeypatch.setenv("HUB_TOKEN_TTL_DAYS", "0")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # never reached
    assert cli.main(["token", "revoke", "ana"]) == 2
    assert "HUB_TOKEN_TTL_DAYS=0 is outside 1..3650" in capsys.readouterr().err
