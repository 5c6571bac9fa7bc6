"""Security headers on the handoff service's real responses (pages, scripts, JSON, errors) against a real
redis-server: nosniff and the referrer policy everywhere, a framing-proof Content-Security-Policy on every
HTML page that names no other host, exactly one Cache-Control on the console, and /docs served from the
vendored redoc."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sanic import Sanic

from tests.integration.conftest import rasa_stand_in

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / "handoff/static/console"
CONSOLE_MODULES = tuple(
    f"/console/{m.relative_to(MODULES).as_posix()}" for m in sorted(MODULES.rglob("*.js"))
)
STOREFRONT = "https://shop.example"
STUDIO = ROOT / "handoff/static/studio"
STUDIO_MODULES = tuple(f"/studio/{m.relative_to(STUDIO).as_posix()}" for m in sorted(STUDIO.rglob("*.js")))
PAGES = ("/", "/console", "/studio", "/docs", "/docs/redoc")
NOT_PAGES = (
    "/docs/openapi.json",
    "/widget.js",
    "/widget.css",
    "/console/main.js",
    "/console/supervisor/dashboard.js",
    "/studio/main.js",
    "/health",
    "/api/tickets",  # 401 without credentials
    "/no/such/page",  # 404
)


@pytest.fixture
def app(make_app) -> Sanic:  # type: ignore[type-arg]
    return make_app(rasa_stand_in([]), HUB_ALLOWED_ORIGINS=STOREFRONT)


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


class References(HTMLParser):
    """Every URL a page loads or links to (src, href, spec-url), plus the text of its <style> blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href", "spec-url") and value]
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def references(html: str) -> References:
    parser = References()
    parser.feed(html)
    return parser


def test_every_response_says_nosniff_and_limits_the_referrer(app) -> None:
    for path in PAGES + NOT_PAGES:
        _, response = app.test_client.get(path)
        assert response.headers.get_list("x-content-type-options") == ["nosniff"], path
        assert response.headers.get_list("referrer-policy") == ["strict-origin-when-cross-origin"], path
    _, error = app.test_client.get("/api/tickets")
    assert error.status == 401 and error.json["error"] == "unauthorized"
    _, missing = app.test_client.get("/no/such/page")
    assert missing.status == 404


def test_html_pages_cannot_be_framed_and_load_nothing_from_other_hosts(app) -> None:
    for path in PAGES:
        _, response = app.test_client.get(path)
        assert response.status == 200, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert response.headers.get_list("x-frame-options") == ["DENY"], path
        [policy] = response.headers.get_list("content-security-policy")
        parts = directives(policy)
        assert parts["frame-ancestors"] == ["'none'"], path
        assert parts["default-src"] == ["'self'"] and parts["script-src"] == ["'self'"], path
        assert parts["object-src"] == ["'none'"] and parts["base-uri"] == ["'none'"], path
        assert not re.search(r"https?://", policy), (path, policy)
        for url in references(response.text).urls:
            parts_of_url = urlsplit(url)
            assert not parts_of_url.scheme and not parts_of_url.netloc, (path, url)  # this host only


def test_the_console_and_storefront_allow_no_inline_code_and_their_own_websocket(app) -> None:
    request, console = app.test_client.get("/console")
    parts = directives(console.headers["content-security-policy"])
    assert parts["style-src"] == ["'self'"]
    host = request.headers["host"]
    assert parts["connect-src"] == ["'self'", f"ws://{host}", f"wss://{host}"]

    _, storefront = app.test_client.get("/")
    parts = directives(storefront.headers["content-security-policy"])
    page = references(storefront.text)
    assert page.styles, "the demo storefront styles itself inline"
    allowed = {
        f"'sha256-{base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()}'"
        for style in page.styles
    }
    assert set(parts["style-src"]) == {"'self'", *allowed}
    assert "'unsafe-inline'" not in storefront.headers["content-security-policy"]
    assert "ws://" in " ".join(parts["connect-src"])  # the widget talks to this host over a WebSocket


def test_the_console_page_sends_one_cache_control(app) -> None:
    _, page = app.test_client.get("/console")
    assert page.headers.get_list("cache-control") == ["no-store"]
    _, style = app.test_client.get("/console/console.css")
    assert style.headers.get_list("cache-control") == ["no-cache"]
    assert "/console/main.js" in CONSOLE_MODULES
    for module in CONSOLE_MODULES:  # browsers run a module script only with a JavaScript type
        _, response = app.test_client.get(module)
        assert response.status == 200, module
        assert response.headers.get_list("cache-control") == ["no-cache"], module
        assert response.headers["content-type"] == "text/javascript; charset=utf-8", module
        assert response.body == (MODULES / module.removeprefix("/console/")).read_bytes(), module


def test_the_studio_page_and_its_modules_are_served_like_the_consoles(app) -> None:
    _, page = app.test_client.get("/studio")
    assert page.headers.get_list("cache-control") == ["no-store"]
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert "/studio/main.js" in STUDIO_MODULES
    for module in STUDIO_MODULES:
        _, response = app.test_client.get(module)
        assert response.status == 200, module
        assert response.headers.get_list("cache-control") == ["no-cache"], module
        assert response.headers["content-type"] == "text/javascript; charset=utf-8", module
        assert response.body == (STUDIO / module.removeprefix("/studio/")).read_bytes(), module
    _, missing = app.test_client.get("/studio/missing.js")
    assert missing.status == 404


def test_the_widget_script_stays_embeddable(app) -> None:
    _, script = app.test_client.get("/widget.js", headers={"origin": STOREFRONT})
    assert script.status == 200
    assert script.headers["content-type"].startswith("application/javascript")
    for framing in ("content-security-policy", "x-frame-options", "cross-origin-resource-policy"):
        assert framing not in script.headers, framing
    _, preflight = app.test_client.options("/api/widget/session", headers={"origin": STOREFRONT})
    assert preflight.status == 204
    assert preflight.headers["access-control-allow-origin"] == STOREFRONT


def test_docs_run_the_vendored_redoc_with_what_it_needs(app) -> None:
    _, page = app.test_client.get("/docs")
    parts = directives(page.headers["content-security-policy"])
    assert parts["worker-src"] == ["'self'", "blob:"]  # redoc's search index runs in a blob: worker
    assert parts["style-src"] == ["'self'", "'unsafe-inline'"]  # and it injects <style> elements
    scripts = [url for url in references(page.text).urls if url.endswith(".js")]
    assert scripts == ["/docs/vendor/redoc.standalone.js"]
    assert 'spec-url="/docs/openapi.json"' in page.text

    _, script = app.test_client.get(scripts[0])
    assert script.status == 200
    assert script.headers["content-type"].startswith("application/javascript")
    vendored = ROOT / "handoff/static/vendor/redoc/redoc.standalone.js"
    assert hashlib.sha256(script.body).hexdigest() == hashlib.sha256(vendored.read_bytes()).hexdigest()
    _, again = app.test_client.get(scripts[0], headers={"if-modified-since": script.headers["last-modified"]})
    assert again.status == 304

    _, spec = app.test_client.get("/docs/openapi.json")
    assert spec.status == 200 and "content-security-policy" not in spec.headers
    assert not any(path.startswith("/docs") for path in spec.json["paths"])


def test_swagger_ui_is_off_because_it_loads_from_cdns(app) -> None:
    for path in ("/docs/swagger", "/docs/oauth2-redirect.html"):
        _, response = app.test_client.get(path)
        assert response.status == 404, path
