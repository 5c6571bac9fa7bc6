"""Application factory for the handoff service."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from sanic import Sanic
from sanic.request import Request
from sanic.response import BaseHTTPResponse, HTTPResponse, empty

from common.redis_connect import async_client
from handoff.accounts import Accounts
from handoff.analytics.experiments import ExperimentStore
from handoff.analytics.feed import STREAM_MAX, AnalyticsFeed
from handoff.analytics.writer import open_store
from handoff.blueprints import (
    analytics,
    assist,
    attachments,
    console_events,
    console_page,
    conversations,
    email_inbound,
    experiments,
    handoffs,
    health,
    inbox,
    proactive,
    routing,
    sessions,
    studio_inbox,
    studio_kb,
    studio_nlu,
    studio_page,
    studio_quick_replies,
    studio_training,
    supervisor,
    tickets,
    users,
)
from handoff.bot_client import RasaBot
from handoff.channels.email.channel import EmailChannel
from handoff.channels.email.outbox import deliver_forever
from handoff.channels.email.smtp_server import InboundSmtpServer
from handoff.channels.email.ticket_mail import take_reply
from handoff.channels.rest import routes as rest_routes
from handoff.channels.telegram import routes as telegram_routes
from handoff.channels.widget import routes as widget_routes
from handoff.conversations import RedisConversationStore
from handoff.errors import register_error_handlers
from handoff.fanout import Fanout
from handoff.hub import Hub
from handoff.identity import TokenStore
from handoff.lifecycle import HandoffLifecycle
from handoff.proactive.scheduler import Scheduler
from handoff.proactive.sender import HubSender
from handoff.proactive.store import ProactiveStore
from handoff.proactive.triggers import DEFAULT_PATH as PROACTIVE_PATH
from handoff.proactive.triggers import TriggerConfig
from handoff.quick_replies.live import LiveQuickReplies
from handoff.quick_replies.loader import DEFAULT_DIRECTORY
from handoff.rasa_pool import RasaPool
from handoff.ratelimit import RateLimiter
from handoff.redis_memory import watch_redis_memory
from handoff.routing.config import DEFAULT_PATH, RoutingConfig
from handoff.routing.engine import RoutingEngine
from handoff.security_headers import inline_style_hashes, security_headers
from handoff.settings import Settings
from handoff.static_files import serve_file
from handoff.studio.inbox import StudioInbox
from handoff.tickets.store import TicketStore
from handoff.transcript import RedisTranscriptStore
from kb_index.editing import KbWorkspace

APP_NAME = "handoff"
STATIC = Path(__file__).resolve().parent / "static"
EMAIL_DELIVERY_INTERVAL = 2.0  # seconds between looks at the email outbox
REDOC = STATIC / "vendor" / "redoc"  # the pinned API reference viewer (its README names version and sha256)


def create_app(
    settings: Settings | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
    knowledge_factory: Callable[[], Any] | None = None,
) -> Sanic:  # type: ignore[type-arg]
    """Build the app; `http_transport` lets tests stand in for Rasa and the action server, and
    `knowledge_factory` for the knowledge base behind agents' suggestions."""
    settings = settings or Settings.from_env()
    routing_path = Path(settings.routing_config) if settings.routing_config else DEFAULT_PATH
    routing_config = RoutingConfig.load(routing_path)
    proactive_config = TriggerConfig.load(
        Path(settings.proactive_config) if settings.proactive_config else PROACTIVE_PATH
    )
    app: Sanic = Sanic(APP_NAME)  # type: ignore[type-arg]
    _configure_api_reference(app)
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.WEBSOCKET_MAX_SIZE = 64 * 1024  # widget frames are small; refuse anything that is not
    # Largest body: a Telegram update (1 MB); the public routes stream theirs, a JSON 413 past max_body_bytes
    app.config.REQUEST_MAX_SIZE = 1024 * 1024
    app.ctx.settings = settings
    studio_root = Path(settings.studio_root) if settings.studio_root else None
    # Every worker serves the templates the studio last saved (handoff/quick_replies/live.py); bad files
    # still stop the start.
    app.ctx.quick_replies = LiveQuickReplies(
        studio_root / "data" / "quick_replies" if studio_root else DEFAULT_DIRECTORY
    )
    if studio_root is not None:
        index_dir = os.environ.get("KB_INDEX_DIR") or str(studio_root / "var" / "kb_index")
        app.ctx.studio_kb_workspace = KbWorkspace(studio_root / "data" / "kb", Path(index_dir))
    app.ctx.knowledge = _lazy(knowledge_factory or _knowledge_from_env)
    register_error_handlers(app)
    _add_security_headers(app)
    app.blueprint(health.bp)
    app.blueprint(rest_routes.bp)
    app.blueprint(handoffs.bp)
    app.blueprint(routing.bp)
    app.blueprint(conversations.bp)
    app.blueprint(widget_routes.bp)
    app.blueprint(tickets.bp)
    app.blueprint(console_page.bp)
    app.blueprint(sessions.bp)
    app.blueprint(users.bp)
    app.blueprint(inbox.bp)
    app.blueprint(assist.bp)
    app.blueprint(supervisor.bp)
    app.blueprint(console_events.bp)
    app.blueprint(attachments.bp)  # photos; also turns on packet updates in the hub
    app.blueprint(studio_inbox.bp)
    app.blueprint(studio_kb.bp)
    app.blueprint(studio_nlu.bp)
    app.blueprint(studio_page.bp)
    app.blueprint(studio_quick_replies.bp)
    app.blueprint(studio_training.bp)
    app.blueprint(analytics.bp)  # GET /api/analytics/*: needs app.ctx.analytics (503 without)
    app.blueprint(experiments.bp)  # needs app.ctx.experiments (and app.ctx.analytics for results)
    app.blueprint(proactive.bp)  # the order webhook (503 without ORDER_WEBHOOK_SECRET) and opt-outs
    app.blueprint(email_inbound.bp)  # a mail provider's inbound webhook (503 without email and its token)
    if settings.telegram is not None:
        telegram_routes.register(app, settings.telegram)
    _add_head_routes(app)

    @app.before_server_start
    async def open_clients(app: Sanic) -> None:  # type: ignore[type-arg]
        # One Redis pool and one HTTP client per worker process.
        app.ctx.redis = async_client(
            settings.redis_url,
            settings.redis_sentinel,
            decode_responses=True,
            socket_timeout=5,
            socket_connect_timeout=2,
            health_check_interval=30,
        )
        app.ctx.http = httpx.AsyncClient(timeout=settings.rasa_timeout, transport=http_transport)
        bot = RasaBot(
            app.ctx.http,
            RasaPool(settings.rasa_urls or (settings.rasa_url,)),
            settings.rasa_channel_token,
            settings.rasa_timeout,
            settings.rasa_api_token,
        )
        app.ctx.bot = bot
        app.ctx.routing = RoutingEngine(app.ctx.redis, routing_config)
        await app.ctx.routing.start()
        app.ctx.tokens = TokenStore(
            app.ctx.redis,
            settings.service_token,
            settings.admin_token,
            ttl_seconds=settings.token_ttl_days * 86400,
        )
        app.ctx.accounts = Accounts(app.ctx.redis)
        analytics = settings.analytics
        app.ctx.hub = Hub(
            RedisTranscriptStore(
                app.ctx.redis,
                settings.redis_wait_replicas,
                settings.redis_wait_timeout_ms,
                events_maxlen=analytics.stream_max if analytics else STREAM_MAX,
            ),
            RedisConversationStore(app.ctx.redis),
            bot,
            app.ctx.routing,
        )
        await app.ctx.quick_replies.start(app.ctx.redis)
        app.ctx.studio_inbox = StudioInbox(app.ctx.redis, settings.studio_low_confidence)
        app.ctx.hub.use_studio_inbox(app.ctx.studio_inbox)
        app.ctx.limiter = RateLimiter(app.ctx.redis)
        app.ctx.fanout = Fanout(app.ctx.redis)
        app.ctx.tickets = TicketStore(app.ctx.redis, routing_config)
        app.ctx.lifecycle = HandoffLifecycle(app.ctx.routing, app.ctx.hub, app.ctx.tickets, app.ctx.redis)
        app.ctx.experiments = ExperimentStore(app.ctx.redis)
        app.ctx.email = (
            EmailChannel.open(
                app.ctx.redis, settings.email, settings.redis_wait_replicas, settings.redis_wait_timeout_ms
            )
            if settings.email is not None
            else None
        )
        app.ctx.proactive_store = ProactiveStore(app.ctx.redis)
        app.ctx.proactive_wake = asyncio.Event()
        app.ctx.hub.use_experiments(app.ctx.experiments)
        app.ctx.analytics = None
        if analytics is not None:
            # The hub only appends events; the writer process (handoff/analytics/writer.py) fills the store,
            # which the dashboard reads here.
            feed = AnalyticsFeed(app.ctx.redis, analytics.stream_max)
            app.ctx.hub.use_analytics(feed)
            app.ctx.lifecycle.analytics = feed
            app.ctx.tickets.analytics = feed
            app.ctx.analytics = await asyncio.to_thread(open_store, analytics)

    @app.after_server_start
    async def start_sweeper(app: Sanic) -> None:  # type: ignore[type-arg]
        app.ctx.stopping = asyncio.Event()
        # noeviction keeps conversation state safe, so a filling Redis must be noticed: a log alert.
        app.ctx.memory_watch = asyncio.create_task(watch_redis_memory(app.ctx.redis, app.ctx.stopping))
        sweeper = app.ctx.lifecycle.run_sweeper(settings.sweep_interval, app.ctx.stopping)
        app.ctx.sweeper = asyncio.create_task(sweeper)
        app.ctx.background = []
        if settings.order_webhook_secret:  # order events come only through the webhook
            sender = HubSender(
                app.ctx.hub, app.ctx.redis, app.ctx.email, settings.public_url, settings.widget_secret
            )
            scheduler = Scheduler(app.ctx.proactive_store, proactive_config, sender)
            app.ctx.background.append(
                asyncio.create_task(scheduler.run(app.ctx.stopping, app.ctx.proactive_wake))
            )
        app.ctx.inbound_smtp = None
        if app.ctx.email is not None:
            delivery = deliver_forever(app.ctx.email.outbox, EMAIL_DELIVERY_INTERVAL, app.ctx.stopping)
            app.ctx.background.append(asyncio.create_task(delivery))
            if settings.email_inbound_smtp_port is not None:  # replies by MX straight to the hub
                app.ctx.inbound_smtp = InboundSmtpServer(
                    app.ctx.email.tokens,
                    partial(take_reply, app.ctx),
                    settings.email_inbound_smtp_host,
                    settings.email_inbound_smtp_port,
                )
                await app.ctx.inbound_smtp.start()

    @app.before_server_stop
    async def stop_sweeper(app: Sanic) -> None:  # type: ignore[type-arg]
        # redis-py can turn a cancellation mid-command into a ConnectionError, which the loop survives:
        # the flag ends it, and shutdown never waits on it for more than a moment.
        app.ctx.stopping.set()
        app.ctx.sweeper.cancel()
        app.ctx.memory_watch.cancel()
        await app.ctx.quick_replies.stop()
        # The scheduler gives its lease up on the way out: set `stopping` and let it finish its round.
        await asyncio.wait({app.ctx.sweeper, app.ctx.memory_watch, *app.ctx.background}, timeout=2.0)
        await app.ctx.fanout.stop()
        if app.ctx.inbound_smtp is not None:
            await app.ctx.inbound_smtp.stop()

    @app.after_server_stop
    async def close_clients(app: Sanic) -> None:  # type: ignore[type-arg]
        if getattr(app.ctx, "analytics", None) is not None:
            app.ctx.analytics.close()
        await app.ctx.http.aclose()
        await app.ctx.redis.aclose()

    return app


def _add_head_routes(app: Sanic) -> None:  # type: ignore[type-arg]
    """HEAD for every GET route and OPTIONS for every path, as sanic-ext's HTTP_AUTO_HEAD and
    HTTP_AUTO_OPTIONS give them, but added here, before the app starts: sanic-ext adds them at start-up one
    route at a time, and each addition to a started app rebuilds the signal router (about 2 s per app start
    for these ~170 paths, in every worker and every test that serves the app). Marked `__auto_handler__`
    like sanic-ext's, so the authorisation tests treat them the same way. sanic-ext's OPTIONS step stays on
    (its CORS preflight answers need it) and finds nothing left to add but the API reference's routes,
    which it adds at start-up; those get their HEAD in one amendment."""
    app.config.HTTP_AUTO_HEAD = False
    _head_for_get_routes(app)
    _options_for_paths(app)

    @app.before_server_start
    async def head_for_late_routes(app: Sanic) -> None:  # type: ignore[type-arg]
        with app.amend():
            _head_for_get_routes(app)


async def _head_handler(request: Request, get_handler: Any, *args: Any, **kwargs: Any) -> Any:
    answer = get_handler(request, *args, **kwargs)
    return await answer if inspect.isawaitable(answer) else answer


def _head_for_get_routes(app: Sanic) -> None:  # type: ignore[type-arg]
    for group in list(app.router.groups.values()):
        if "GET" in group.methods and "HEAD" not in group.methods:
            for route in group:
                if "GET" in route.methods:
                    head: Any = partial(_head_handler, get_handler=route.handler)
                    head.__auto_handler__ = True
                    head.__route_handler__ = route.handler
                    app.add_route(
                        head, group.uri, methods=["HEAD"], strict_slashes=group.strict,
                        name=f"{route.name}_head", host=route.requirements.get("host"),
                        unquote=group.unquote,
                    )  # fmt: skip


async def _options_handler(request: Request, methods: frozenset[str], *args: Any, **kwargs: Any) -> Any:
    response = empty()
    response.headers["allow"] = ",".join([*methods, "OPTIONS"])
    return response


def _options_for_paths(app: Sanic) -> None:  # type: ignore[type-arg]
    """sanic-ext's automatic OPTIONS answer (the path's methods in `allow`), for every path without one."""
    for group in list(app.router.groups.values()):
        if "OPTIONS" in group.methods:
            continue
        hosts = sorted({str(r["host"]) for r in group.requirements if r.get("host")})
        base = next((r for r in group if not r.name.endswith("_head")), group[0])
        options: Any = partial(_options_handler, methods=frozenset(group.methods))
        options.__auto_handler__ = True
        app.add_route(
            options, group.uri, methods=["OPTIONS"], strict_slashes=group.strict,
            name=f"{base.name}_options", host=hosts or None,
            unquote=group.unquote,
        )  # fmt: skip


def _configure_api_reference(app: Sanic) -> None:  # type: ignore[type-arg]
    """/docs renders with the vendored redoc, never a CDN build; Swagger UI is off because sanic-ext loads it,
    and its OAuth2 redirect page, from CDNs."""
    app.config.OAS_URL_PREFIX = "/docs"
    app.config.OAS_UI_DEFAULT = "redoc"
    app.config.OAS_UI_SWAGGER = False
    app.config.OAS_UI_REDOC_HTML_TITLE = "Storefront Assist API"
    app.config.OAS_PATH_TO_REDOC_HTML = str(REDOC / "page.html")

    async def redoc_script(request: Request) -> HTTPResponse:
        return await serve_file(
            REDOC / "redoc.standalone.js",
            "application/javascript; charset=utf-8",
            request_headers=request.headers,  # 304 while unchanged: the bundle is over a megabyte
        )

    app.add_route(redoc_script, "/docs/vendor/redoc.standalone.js", methods=["GET"], name="redoc_script")


def _add_security_headers(app: Sanic) -> None:  # type: ignore[type-arg]
    """Every response, errors included, gets the headers of handoff/security_headers.py."""
    storefront_styles = inline_style_hashes((STATIC / "index.html").read_text(encoding="utf-8"))

    async def add_security_headers(request: Request, response: BaseHTTPResponse) -> None:
        headers = security_headers(request.path, response.content_type, request.host, storefront_styles)
        for name, value in headers.items():
            response.headers[name] = value

    app.register_middleware(add_security_headers, "response")


def _knowledge_from_env() -> Any:
    from kb_index.service import KnowledgeBase  # torch and FAISS: only in workers that search

    return KnowledgeBase.from_env()


def _lazy(factory: Callable[[], Any]) -> Callable[[], Any]:
    """Built on first use: a worker that never serves a suggestion never loads the encoders."""
    made: list[Any] = []

    def get() -> Any:
        if not made:
            made.append(factory())
        return made[0]

    return get
