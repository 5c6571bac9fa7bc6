"""`python -m handoff user ...`, `python -m handoff token ...` and `python -m handoff demo-team`: console
users and API tokens from the command line.

Talks to Redis directly (REDIS_URL, or the master REDIS_SENTINELS name), so the first admin can be created
before anyone can sign in.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import secrets
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from common.env import SettingsError, read_url
from common.redis_connect import async_client, read_sentinel
from handoff.accounts import Accounts
from handoff.errors import BadRequest, Conflict, NotFoundError, Unauthorized
from handoff.identity import ROTATION_GRACE_SECONDS, Role, TokenStore
from handoff.routing.config import DEFAULT_PATH, RoutingConfig
from handoff.routing.engine import RoutingEngine, validate_agent_spec
from handoff.settings import token_ttl_days

# The demo team behind `make run`: two agents per language area, a supervisor, an admin, an editor.
DEMO_AGENTS: dict[str, dict[str, Any]] = {
    "ana": {"name": "Ana Torres", "languages": ["en"], "capacity": 3,
            "skills": {"general": 0.8, "returns": 0.9, "orders": 0.7, "complaints": 0.6, "presales": 0.8}},
    "ben": {"name": "Ben Walker", "languages": ["en", "zh"], "capacity": 2,
            "skills": {"general": 0.7, "payments": 0.9, "shipping": 0.8, "orders": 0.6, "presales": 0.6}},
    "li": {"name": "李娜", "languages": ["zh"], "capacity": 3,
           "skills": {"general": 0.8, "returns": 0.8, "orders": 0.8, "complaints": 0.7, "presales": 0.8}},
    "wang": {"name": "王强", "languages": ["zh", "en"], "capacity": 2,
             "skills": {"general": 0.6, "payments": 0.7, "shipping": 0.9, "returns": 0.5, "presales": 0.7}},
}  # fmt: skip
DEMO_STAFF = {
    "sam": (Role.SUPERVISOR, "Sam Lee", "en"),
    "admin": (Role.ADMIN, "Administrator", "en"),
    "mei": (Role.EDITOR, "陈美", "zh"),
}


def _redis() -> Redis:
    url = read_url(os.environ, "REDIS_URL", "redis://127.0.0.1:6379/0", ("redis", "rediss", "unix"))
    return async_client(url, read_sentinel(os.environ), decode_responses=True)


def _password(prompt: str) -> str:
    from_env = os.environ.get("HUB_USER_PASSWORD")
    if from_env:
        return from_env
    first = getpass.getpass(prompt)
    if getpass.getpass("again: ") != first:
        raise BadRequest("the passwords differ")
    return first


async def add_user(args: argparse.Namespace) -> int:
    redis = _redis()
    try:
        user = await Accounts(redis).create_user(
            args.id,
            _password(f"password for {args.id}: "),
            Role(args.role),
            name=args.name,
            agent_id=args.agent_id,
            language=args.language,
        )
    finally:
        await redis.aclose()
    print(f"created {user.role.value} '{user.user_id}'")
    return 0


async def set_password(args: argparse.Namespace) -> int:
    redis = _redis()
    try:
        await Accounts(redis).set_password(args.id, _password(f"new password for {args.id}: "))
    finally:
        await redis.aclose()
    print(f"password changed for '{args.id}'; their sessions have ended")
    return 0


def _current_token() -> str:
    """The token to rotate: from HUB_TOKEN or a prompt, never the command line (shell history, ps)."""
    return (os.environ.get("HUB_TOKEN") or getpass.getpass("current token: ")).strip()


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _token_store(redis: Redis) -> TokenStore:
    # The configured tokens are only recognised, so rotating one is refused with the reason. A new token
    # lives as long as the hub's would (HUB_TOKEN_TTL_DAYS).
    return TokenStore(
        redis,
        os.environ.get("HUB_SERVICE_TOKEN", ""),
        os.environ.get("HUB_ADMIN_TOKEN", ""),
        ttl_seconds=token_ttl_days() * 86400,
    )


async def rotate_token(args: argparse.Namespace) -> int:
    """Prints the new token alone on stdout (for scripts); what happened goes to stderr."""
    redis = _redis()
    try:
        tokens = _token_store(redis)
        issued = await tokens.rotate(_current_token(), args.grace_minutes * 60)
    finally:
        await redis.aclose()
    who = issued.principal
    agent = f", agent {who.agent_id}" if who.agent_id else ""
    print(issued.token)
    print(
        f"new {who.role.value} token for '{who.user_id}'{agent}, valid until {_utc(issued.expires_at)}; "
        f"the old one keeps working for {args.grace_minutes:g} more minutes at most",
        file=sys.stderr,
    )
    return 0


async def revoke_tokens(args: argparse.Namespace) -> int:
    redis = _redis()
    try:
        revoked = await _token_store(redis).revoke_all(args.user_id)
    finally:
        await redis.aclose()
    print(f"revoked {revoked} token(s) of '{args.user_id}'")
    return 0


async def demo_team(args: argparse.Namespace) -> int:
    """Routing agents plus console users with fresh random passwords, written to a private file."""
    redis = _redis()
    lines = []
    try:
        engine = RoutingEngine(redis, RoutingConfig.load(DEFAULT_PATH))
        await engine.start()
        accounts = Accounts(redis)
        for agent_id, spec in DEMO_AGENTS.items():
            try:
                await engine.get_agent(agent_id)
            except NotFoundError:
                await engine.put_agent(agent_id, validate_agent_spec(spec), create=True)
        people: list[tuple[str, Role, str, str | None, str]] = [
            (aid, Role.AGENT, str(spec["name"]), aid, "zh" if spec["languages"] == ["zh"] else "en")
            for aid, spec in DEMO_AGENTS.items()
        ]
        people += [(uid, role, name, None, lang) for uid, (role, name, lang) in DEMO_STAFF.items()]
        for user_id, role, name, agent_ref, language in people:
            password = secrets.token_urlsafe(12)
            try:
                await accounts.get_user(user_id)
                await accounts.set_password(user_id, password)
            except NotFoundError:
                await accounts.create_user(user_id, password, role, name, agent_ref, language)
            lines.append(f"{user_id}\t{role.value}\t{password}")
    finally:
        await redis.aclose()
    out = Path(args.output)
    _write_private(out, "user\trole\tpassword\n" + "\n".join(lines) + "\n")
    print(f"demo team ready; sign in at /console with the passwords in {out}")
    return 0


def _write_private(path: Path, text: str) -> None:
    """Passwords: readable by the operator only, from the moment the file exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handoff", description="Console users and API tokens.")
    sub = parser.add_subparsers(dest="command", required=True)
    user = sub.add_parser("user", help="add a user or change a password").add_subparsers(
        dest="action", required=True
    )
    add = user.add_parser("add", help="create a console user (password from HUB_USER_PASSWORD or a prompt)")
    add.add_argument("id")
    add.add_argument("--role", required=True, choices=[r.value for r in Role if r is not Role.SERVICE])
    add.add_argument("--agent-id", help="the routing agent this user answers as (role agent)")
    add.add_argument("--name")
    add.add_argument("--language", default="en", choices=["en", "zh"])
    add.set_defaults(run=add_user)
    passwd = user.add_parser("passwd", help="set a new password; ends the user's sessions")
    passwd.add_argument("id")
    passwd.set_defaults(run=set_password)
    token = sub.add_parser("token", help="rotate or revoke API tokens").add_subparsers(
        dest="action", required=True
    )
    rotate = token.add_parser(
        "rotate",
        help="a new token for the same user, role and agent (current token from HUB_TOKEN or a prompt); "
        "the old one keeps working for the grace period",
    )
    rotate.add_argument(
        "--grace-minutes",
        type=float,
        default=ROTATION_GRACE_SECONDS / 60,
        help="how long the old token still works (default %(default)g)",
    )
    rotate.set_defaults(run=rotate_token)
    revoke = token.add_parser("revoke", help="revoke every API token of a user")
    revoke.add_argument("user_id")
    revoke.set_defaults(run=revoke_tokens)
    demo = sub.add_parser("demo-team", help="create the demo agents and users with new passwords")
    demo.add_argument("--output", default="var/demo-team.tsv")
    demo.set_defaults(run=demo_team)
    args = parser.parse_args(argv)
    try:
        code: int = asyncio.run(args.run(args))
        return code
    except (BadRequest, NotFoundError, Unauthorized, Conflict, SettingsError) as exc:
        print(f"handoff: {exc}", file=sys.stderr)
        return 2
    except (OSError, RedisConnectionError) as exc:
        print(f"handoff: cannot reach Redis at REDIS_URL: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
