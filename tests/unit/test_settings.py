import pytest

from handoff.settings import Settings, SettingsError

TOKEN = "x" * 32
ENV = {
    "RASA_CHANNEL_TOKEN": TOKEN,
    "HUB_SERVICE_TOKEN": "y" * 32,
    "HUB_ADMIN_TOKEN": "z" * 32,
    "RASA_AUTH_TOKEN": "w" * 32,
    "HUB_WIDGET_SECRET": "v" * 32,
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
