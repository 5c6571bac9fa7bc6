"""`python -m bot.serve`: start the Rasa server the way the stack needs it.

- binds to loopback (RASA_HOST) and protects the HTTP API with RASA_AUTH_TOKEN;
- points the tracker and lock stores at the same Redis as the rest of the stack (REDIS_URL);
- resolves ${VARS} in endpoints.yml with typed values (Rasa's own substitution yields strings, so
  `use_ssl: false` would read as true);
- serves the newest models/*.tar.gz;
- runs Rasa's command line through bot.rasa_main, which installs bot.rasa_fixes in the server process.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[1]
VAR_PATTERN = re.compile(r"\$\{([A-Z0-9_]+)\}")


class ConfigError(Exception):
    pass


def redis_settings(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ConfigError(f"REDIS_URL={url!r} is not a redis:// or rediss:// URL")
    db = (parts.path or "/0").lstrip("/") or "0"
    if not db.isdigit():
        raise ConfigError(f"REDIS_URL={url!r} has a database '{db}' that is not a number")
    return {
        "RASA_REDIS_HOST": parts.hostname,
        "RASA_REDIS_PORT": str(parts.port or 6379),
        "RASA_REDIS_DB": db,
        "RASA_REDIS_PASSWORD": unquote(parts.password or ""),
        "RASA_REDIS_SSL": "true" if parts.scheme == "rediss" else "false",
    }


def resolve_template(text: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(f"endpoints.yml needs the environment variable {name}")
        return env[name]

    resolved = VAR_PATTERN.sub(replace, text)
    yaml.safe_load(resolved)  # fail here, with the file named, rather than inside Rasa
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


def build_command(env: dict[str, str]) -> list[str]:
    token = env.get("RASA_AUTH_TOKEN", "")
    if len(token) < 16:
        raise ConfigError("RASA_AUTH_TOKEN must be set to a secret of at least 16 characters")
    if len(env.get("RASA_CHANNEL_TOKEN", "")) < 16:
        raise ConfigError("RASA_CHANNEL_TOKEN must be set to a secret of at least 16 characters")
    env.update(redis_settings(env.get("REDIS_URL", "redis://127.0.0.1:6379/0")))
    env.setdefault("ACTIONS_URL", "http://127.0.0.1:5055")
    host = env.get("RASA_HOST", "127.0.0.1")
    port = env.get("RASA_PORT", "5005")
    if not port.isdigit():
        raise ConfigError(f"RASA_PORT={port!r} is not a port number")
    check_port_free(host, int(port))
    run_dir = ROOT / "var" / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    # One file per port: stacks started side by side (tests, benchmarks) must not read each other's.
    endpoints = run_dir / f"endpoints-{port}.yml"
    endpoints.write_text(resolve_template((ROOT / "endpoints.yml").read_text(), env))
    endpoints.chmod(0o600)  # it holds the action server token and the Redis password
    models_dir = Path(env.get("RASA_MODELS_DIR") or ROOT / "models")
    model = Path(env["RASA_MODEL"]) if env.get("RASA_MODEL") else newest_model(models_dir)
    return [
        sys.executable, "-m", "bot.rasa_main", "run",
        "--model", str(model),
        "--endpoints", str(endpoints),
        "--credentials", str(ROOT / "credentials.yml"),
        "--interface", host,
        "--port", port,
        "--enable-api",
        f"--auth-token={token}",  # "=" form: a token may start with "-"
    ]  # fmt: skip


def main() -> int:
    env = dict(os.environ)
    try:
        command = build_command(env)
    except (ConfigError, yaml.YAMLError) as exc:
        print(f"rasa: {exc}", file=sys.stderr)
        return 2
    os.chdir(ROOT)
    os.execve(sys.executable, command, env)  # noqa: S606 - replace this launcher with the Rasa server
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
