"""The security header policy (handoff/security_headers.py) and the vendored API reference viewer."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

from handoff.security_headers import inline_style_hashes, page_policy, security_headers, websocket_sources

VENDOR = Path(__file__).resolve().parents[2] / "handoff" / "static" / "vendor" / "redoc"


def directives(policy: str) -> dict[str, list[str]]:
    return {name: sources for name, *sources in (part.split() for part in policy.split(";"))}


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/javascript; charset=utf-8", "text/css", None]
)
def test_every_response_gets_nosniff_and_the_referrer_policy_but_only_pages_get_framing_rules(
    content_type: str | None,
) -> None:
    headers = security_headers("/widget.js", content_type, "hub.example")
    assert headers == {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }


@pytest.mark.parametrize("path", ["/", "/console", "/docs", "/docs/redoc", "/anything"])
def test_every_html_page_refuses_framing(path: str) -> None:
    headers = security_headers(path, "text/html; charset=utf-8", "hub.example")
    assert headers["X-Frame-Options"] == "DENY"
    assert directives(headers["Content-Security-Policy"])["frame-ancestors"] == ["'none'"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_console_allows_only_its_own_files_and_websocket() -> None:
    parts = directives(page_policy("/console", "hub.example:8000"))
    assert parts["script-src"] == ["'self'"] and parts["style-src"] == ["'self'"]
    assert parts["connect-src"] == ["'self'", "ws://hub.example:8000", "wss://hub.example:8000"]
    assert "worker-src" not in parts


def test_only_the_docs_allow_inline_styles_and_blob_workers() -> None:
    docs = directives(page_policy("/docs/redoc", "hub.example"))
    assert docs["style-src"] == ["'self'", "'unsafe-inline'"]
    assert docs["worker-src"] == ["'self'", "blob:"]
    assert docs["script-src"] == ["'self'"]
    lookalike = directives(page_policy("/docsearch", "hub.example"))
    assert lookalike["style-src"] == ["'self'"] and "worker-src" not in lookalike


def test_the_storefront_allows_its_inline_style_by_hash_only() -> None:
    html = "<html><head><style>\n  body { margin: 0 }\n</style><STYLE media='x'>p{}</STYLE></head></html>"
    hashes = inline_style_hashes(html)
    assert hashes == (sha256_source("\n  body { margin: 0 }\n"), sha256_source("p{}"))
    storefront = directives(page_policy("/", "hub.example", hashes))
    assert storefront["style-src"] == ["'self'", *hashes]
    assert directives(page_policy("/console", "hub.example", hashes))["style-src"] == ["'self'"]


@pytest.mark.parametrize(
    "host",
    ["evil.example; script-src *", "a b", "", "hub.example/path", "-bad.example", "[::1", "x" * 300],
)
def test_a_strange_host_header_is_never_echoed_into_the_policy(host: str) -> None:
    assert websocket_sources(host) == ()
    policy = page_policy("/console", host)
    assert directives(policy)["connect-src"] == ["'self'"]
    assert "*" not in policy


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1", "[::1]:8000", "support.example.com"])
def test_plain_hosts_name_their_websocket(host: str) -> None:
    assert websocket_sources(host) == (f"ws://{host}", f"wss://{host}")


def test_no_policy_names_another_host() -> None:
    for path in ("/", "/console", "/docs"):
        assert not re.search(r"https?://", page_policy(path, "hub.example")), path


def test_the_vendored_redoc_is_the_version_its_readme_names() -> None:
    readme = (VENDOR / "README.md").read_text()
    version = re.search(r"redoc \*\*(\d+\.\d+\.\d+)\*\*", readme)
    digest = re.search(r"sha256\s+`([0-9a-f]{64})`", readme)
    assert version and digest, "the README names the exact version and the sha256"
    script = (VENDOR / "redoc.standalone.js").read_bytes()
    assert hashlib.sha256(script).hexdigest() == digest.group(1)
    assert f'Version: "{version.group(1)}"' in (VENDOR / "redoc.standalone.js.LICENSE.txt").read_text()
    assert "MIT License" in (VENDOR / "LICENSE").read_text()
    page = (VENDOR / "page.html").read_text()
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert '<script src="__URL_PREFIX__/vendor/redoc.standalone.js"></script>' in page
