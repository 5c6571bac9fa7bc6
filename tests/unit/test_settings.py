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


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HUB_PORT", "eighty", "HUB_PORT='eighty' is not an integer"),
        ("HUB_PORT", "70000", "HUB_PORT=70000 is outside"),
        ("REDIS_URL", "http://localhost", "REDIS_URL='http://localhost' is not a redis"),
        ("RASA_URL", "localhost:5005", "RASA_URL"),
        ("RASA_TIMEOUT", "0", "RASA_TIMEOUT=0.0 is outside"),
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
