"""Security headers for every response of the handoff service: which headers a response gets, from its path,
content type and the host it was asked for. Pure rules; the app applies them in one response middleware.

- Every response: `X-Content-Type-Options: nosniff` and `Referrer-Policy: strict-origin-when-cross-origin`.
  Not `no-referrer`: under it browsers send `Origin: null` on same-origin POSTs, and the console's sign-in
  accepts only its own origin.
- HTML pages: a Content-Security-Policy that allows nothing from other hosts, with `frame-ancestors 'none'`
  and `X-Frame-Options: DENY` (no site may frame the storefront, the console or the API reference).
- Scripts and stylesheets (`/widget.js` is embedded by storefronts) get no framing or CSP headers: those
  apply to documents only, and cross-origin embedding must keep working.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
DOCS_PREFIX = "/docs"
STOREFRONT_PATH = "/"
# A Host header as browsers send it: a name or IPv4 address, or a bracketed IPv6 address, with a port.
_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?\Z"
)
_STYLE_BLOCK = re.compile(r"<style(?:\s[^>]*)?>(.*?)</style>", re.DOTALL | re.IGNORECASE)


def inline_style_hashes(html: str) -> tuple[str, ...]:
    """CSP sources ('sha256-...') for the page's inline <style> blocks, so they are allowed and nothing else
    inline is."""
    return tuple(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in _STYLE_BLOCK.findall(html)
    )


def websocket_sources(host: str) -> tuple[str, ...]:
    """The page's own WebSocket origins. CSP Level 3 browsers match them with 'self' already; older ones
    (Safari before 15.4) need them named. A Host that is not a plain host[:port] is left out, never echoed."""
    if not _HOST.match(host):
        return ()
    return (f"ws://{host}", f"wss://{host}")


def _policy(directives: Iterable[tuple[str, Iterable[str]]]) -> str:
    return "; ".join(" ".join((name, *sources)) for name, sources in directives)


def page_policy(path: str, host: str, storefront_styles: tuple[str, ...] = ()) -> str:
    """The Content-Security-Policy of the HTML page at `path`.

    The console and the storefront load only their own scripts and stylesheets (the storefront's inline
    <style> by hash) and open WebSockets to this host. The API reference (redoc, served from a pinned
    local copy) injects <style> elements at run time and runs its search index in a blob: worker."""
    docs = path == DOCS_PREFIX or path.startswith(DOCS_PREFIX + "/")
    styles: tuple[str, ...] = ("'self'",)
    if docs:
        styles += ("'unsafe-inline'",)
    elif path == STOREFRONT_PATH:
        styles += storefront_styles
    directives: list[tuple[str, Iterable[str]]] = [
        ("default-src", ("'self'",)),
        ("script-src", ("'self'",)),
        ("style-src", styles),
        ("img-src", ("'self'", "data:", "blob:")),  # blob: the widget's photos, fetched with its token
        ("connect-src", ("'self'",) if docs else ("'self'", *websocket_sources(host))),
    ]
    if docs:
        directives.append(("worker-src", ("'self'", "blob:")))
    directives += [
        ("object-src", ("'none'",)),
        ("base-uri", ("'none'",)),
        ("frame-ancestors", ("'none'",)),
        ("form-action", ("'self'",)),
    ]
    return _policy(directives)


def is_html(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == "text/html"


def security_headers(
    path: str, content_type: str | None, host: str, storefront_styles: tuple[str, ...] = ()
) -> dict[str, str]:
    """The security headers one response carries (they replace any of the same name)."""
    headers = dict(COMMON)
    if is_html(content_type):
        headers["Content-Security-Policy"] = page_policy(path, host, storefront_styles)
        headers["X-Frame-Options"] = "DENY"
    return headers
