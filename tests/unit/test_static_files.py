"""The pages' files: body, type and caching headers, 304 for a client that has the file."""

from __future__ import annotations

import asyncio
import os
from email.utils import formatdate
from pathlib import Path

from sanic.compat import Header

from handoff.static_files import serve_file


def _file(tmp_path: Path, modified: float = 1_700_000_000) -> Path:
    path = tmp_path / "page.css"
    path.write_bytes(b"body { color: black }")
    os.utime(path, (modified, modified))
    return path


def test_the_file_is_served_with_its_type_and_last_modified(tmp_path: Path) -> None:
    response = asyncio.run(serve_file(_file(tmp_path), "text/css; charset=utf-8"))
    assert response.status == 200
    assert response.body == b"body { color: black }"
    assert response.content_type == "text/css; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["last-modified"] == formatdate(1_700_000_000, usegmt=True)


def test_a_client_with_the_current_file_gets_304(tmp_path: Path) -> None:
    path = _file(tmp_path)
    current = Header({"If-Modified-Since": formatdate(1_700_000_000, usegmt=True)})
    older = Header({"If-Modified-Since": formatdate(1_600_000_000, usegmt=True)})
    assert asyncio.run(serve_file(path, "text/css", request_headers=current)).status == 304
    assert asyncio.run(serve_file(path, "text/css", request_headers=older)).status == 200


def test_a_page_never_stored_is_never_revalidated_to_304(tmp_path: Path) -> None:
    current = Header({"If-Modified-Since": formatdate(1_700_000_000, usegmt=True)})
    response = asyncio.run(serve_file(_file(tmp_path), "text/html", no_store=True, request_headers=current))
    assert response.status == 200 and response.headers["cache-control"] == "no-store"
