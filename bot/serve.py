"""`python -m bot.serve`: start the Rasa server the way the stack needs it.

- binds to loopback (RASA_HOST) and protects the HTTP API with RASA_AUTH_TOKEN;
- points the tracker and lock stores at the same Redis as the rest of the stack (REDIS_URL, with its
  password), or at the master the sentinels name (REDIS_SENTINELS, asked once before the start);
- resolves ${VARS} in endpoints.yml with typed values (Rasa's own substitution yields strings, so
  `use_ssl: false` would read as true); a value inside a double-quoted scalar is escaped, so a password
  with quotes or `#` stays one string;
- serves the newest models/*.tar.gz;
- runs Rasa's command line in this process, through bot.rasa_main (which installs bot.rasa_fixes): the
  token is handed to Rasa's argument parser in `sys.argv` and never appears in any process's argv, which
  every user of the machine can read (/proc/<pid>/cmdline, ps). Sanic's access log, which would print
  the API's `?token=` URLs, is switched off, and Sanic's error lines are redacted.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

from common.env import SettingsError
from common.redis_connect import SentinelConfig, find_master, read_sentinel

ROOT = Path(__file__).resolve().parents[1]
VAR_PATTERN = re.compile(r"\$\{([A-Z0-9_]+)\}")
# The same rule as handoff.bot_client.redact_tokens: this environment cannot import the hub's modules.
TOKEN_VALUE = re.compile(r"(?i)(token=)[^&#\s'\"]+")
SANIC_LOGGERS = ("sanic.root", "sanic.error", "sanic.access")


class ConfigError(Exception):
    pass


def redis_settings(url: str, sentinel: SentinelConfig | None = None) -> dict[str, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ConfigError(f"REDIS_URL={redact_url(url)!r} is not a redis:// or rediss:// URL")
    db = (parts.path or "/0").lstrip("/") or "0"
    if not db.isdigit():
        raise ConfigError(f"REDIS_URL={redact_url(url)!r} has a database '{db}' that is not a number")
    return {
        "RASA_REDIS_HOST": parts.hostname,
        "RASA_REDIS_PORT": str(parts.port or 6379),
        "RASA_REDIS_DB": db,
        "RASA_REDIS_USERNAME": unquote(parts.username or ""),
        "RASA_REDIS_PASSWORD": unquote(parts.password or ""),
        "RASA_REDIS_SSL": "true" if parts.scheme == "rediss" else "false",
        # Empty: no sentinels, the stores connect to host and port above; else those are not used.
        "RASA_REDIS_SENTINELS": sentinel.addresses_text() if sentinel else "",
        "RASA_REDIS_SENTINEL_MASTER": sentinel.master if sentinel else "",
        "RASA_REDIS_SENTINEL_PASSWORD": (sentinel.password or "") if sentinel else "",
    }


def sentinel_settings(env: Mapping[str, str]) -> SentinelConfig | None:
    """REDIS_SENTINELS and the rest, checked against the sentinels themselves: they must know the master."""
    try:
        sentinel = read_sentinel(env)
        if sentinel is not None and env.get("RASA_TRACKER_STORE") == "rasa":
            raise ConfigError(
                "RASA_TRACKER_STORE=rasa cannot follow a failover: unset it with REDIS_SENTINELS"
            )
        if sentinel is not None:
            find_master(sentinel)
    except SettingsError as exc:
        raise ConfigError(str(exc)) from None
    return sentinel


DEFAULT_RETENTION_DAYS = 30


def retention_seconds(env: Mapping[str, str]) -> int:
    """How long an idle conversation's tracker is kept (RASA_TRACKER_RETENTION_DAYS, default 30): Redis
    expires it after that long without a message, so customer data does not pile up for ever."""
    raw = env.get("RASA_TRACKER_RETENTION_DAYS", str(DEFAULT_RETENTION_DAYS))
    if not raw.isdigit() or not 1 <= int(raw) <= 3650:
        raise ConfigError(f"RASA_TRACKER_RETENTION_DAYS={raw!r} must be a number of days from 1 to 3650")
    return int(raw) * 86400


TRACKER_STORES = {"windowed": "bot.tracker_store.WindowedRedisTrackerStore", "rasa": "redis"}


def tracker_store_settings(env: Mapping[str, str]) -> dict[str, str]:
    """RASA_TRACKER_STORE (windowed, the default, or rasa: Rasa's own Redis store, the baseline of
    bench/turn_cost.py) and RASA_TRACKER_WINDOW_TURNS (10: how many recent customer turns a turn loads)."""
    kind = env.get("RASA_TRACKER_STORE", "windowed")
    if kind not in TRACKER_STORES:
        raise ConfigError(f"RASA_TRACKER_STORE={kind!r} must be one of: {', '.join(TRACKER_STORES)}")
    window = env.get("RASA_TRACKER_WINDOW_TURNS", "10")
    if not window.isdigit() or not 4 <= int(window) <= 1000:
        raise ConfigError(f"RASA_TRACKER_WINDOW_TURNS={window!r} must be a number from 4 to 1000")
    return {"RASA_TRACKER_STORE_TYPE": TRACKER_STORES[kind], "RASA_TRACKER_WINDOW_TURNS": window}


def redact_url(url: str) -> str:
    """A URL fit for a message: the credentials before '@' replaced."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


def _inside_double_quotes(line_before: str) -> bool:
    quotes = len(re.findall(r'(?<!\\)"', line_before))
    return quotes % 2 == 1


def resolve_template(text: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(f"endpoints.yml needs the environment variable {name}")
        line_before = text[text.rfind("\n", 0, match.start()) + 1 : match.start()]
        if _inside_double_quotes(line_before):
            return json.dumps(env[name], ensure_ascii=False)[1:-1]  # JSON escapes are YAML escapes
        return env[name]

    resolved = VAR_PATTERN.sub(replace, text)
    try:
        yaml.safe_load(resolved)  # fail here, with the file named, rather than inside Rasa
    except yaml.YAMLError as exc:
        # The parser quotes the offending text, which may be a secret: name the place only.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"endpoints.yml is not valid YAML once resolved{where}") from None
    return resolved


def newest_model(models_dir: Path) -> Path:
    models = sorted(models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise ConfigError(f"no trained model in {models_dir}/ (run `make train`)")
    return models[-1]


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise ConfigError(f"port {port} on {host} is already in use (set RASA_PORT)") from None


def rasa_arguments(env: dict[str, str]) -> list[str]:
    """Arguments for Rasa's command line (`rasa run ...`), token included: for this process only.

    Also completes `env` with what the Rasa server process needs (Redis settings, no access log).
    """
    token = env.get("RASA_AUTH_TOKEN", "")
    if len(token) < 16:
        raise ConfigError("RASA_AUTH_TOKEN must be set to a secret of at least 16 characters")
    if len(env.get("RASA_CHANNEL_TOKEN", "")) < 16:
        raise ConfigError("RASA_CHANNEL_TOKEN must be set to a secret of at least 16 characters")
    env.update(redis_settings(env.get("REDIS_URL", "redis://127.0.0.1:6379/0"), sentinel_settings(env)))
    env.setdefault("ACTIONS_URL", "http://127.0.0.1:5055")
    env["RASA_TRACKER_RETENTION_SECONDS"] = str(retention_seconds(env))
    env.update(tracker_store_settings(env))
    env["SANIC_ACCESS_LOG"] = "false"  # it prints every request URL, and API URLs carry ?token=
    host = env.get("RASA_HOST", "127.0.0.1")
    port = env.get("RASA_PORT", "5005")
    if not port.isdigit():
        raise ConfigError(f"RASA_PORT={port!r} is not a port number")
    check_port_free(host, int(port))
    run_dir = ROOT / "var" / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    # One file per port: stacks started side by side (tests, benchmarks) must not read each other's.
    endpoints = run_dir / f"endpoints-{port}.yml"
    write_private(endpoints, resolve_template((ROOT / "endpoints.yml").read_text(), env))
    models_dir = Path(env.get("RASA_MODELS_DIR") or ROOT / "models")
    model = Path(env["RASA_MODEL"]) if env.get("RASA_MODEL") else newest_model(models_dir)
    return [
        "run",
        "--model", str(model),
        "--endpoints", str(endpoints),
        "--credentials", str(ROOT / "credentials.yml"),
        "--interface", host,
        "--port", port,
        "--enable-api",
        f"--auth-token={token}",  # "=" form: a token may start with "-"
    ]  # fmt: skip


def write_private(path: Path, text: str) -> None:
    """Write a file that holds secrets (the action server token, the Redis password): mode 600 from
    the first byte, then moved into place."""
    partial = path.with_suffix(path.suffix + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(partial, path)


class RedactTokens(logging.Filter):
    """Replaces `token=<value>` in a record's message, e.g. Sanic's "while handling uri" error line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = TOKEN_VALUE.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def run_rasa(arguments: list[str]) -> None:
    """Rasa's command line in this process: the arguments live in `sys.argv` only, so the kernel's
    copy of this process's argv stays `python -m bot.serve`."""
    from bot import rasa_main

    for name in SANIC_LOGGERS:
        logging.getLogger(name).addFilter(RedactTokens())  # Sanic's logging setup keeps logger filters
    sys.argv = ["rasa", *arguments]
    rasa_main.main()


def main() -> int:
    env = dict(os.environ)
    try:
        arguments = rasa_arguments(env)
    except (ConfigError, OSError) as exc:
        print(f"rasa: {exc}", file=sys.stderr)
        return 2
    os.chdir(ROOT)
    os.environ.update(env)
    run_rasa(arguments)
    return 0


if __name__ == "__main__":
    sys.exit(main())
