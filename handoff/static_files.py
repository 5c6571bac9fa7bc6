"""Files of the pages (HTML, CSS, ES modules, vendored bundles), read once per process and served from
memory.

Not through sanic's file(): its reader opens the file in a worker thread, and a request cancelled
meanwhile (a page left while loading) leaves that file open. These files ship with the release and
change only with it, so a restart serves a new one; together they are a few megabytes.
"""

from __future__ import annotations

from email.utils import formatdate
from functools import cache
from pathlib import Path

from sanic.compat import Header
from sanic.response import HTTPResponse, raw, validate_file


@cache
def _read(path: Path) -> tuple[bytes, float]:
    return path.read_bytes(), path.stat().st_mtime


async def serve_file(
    path: Path, mime: str, *, no_store: bool = False, request_headers: Header | None = None
) -> HTTPResponse:
    """The file with Last-Modified and Cache-Control ("no-store", else "no-cache": revalidate each time);
    304 when the request's If-Modified-Since shows the client already has it."""
    body, modified = _read(path)
    if request_headers is not None and not no_store:
        not_modified = await validate_file(request_headers, modified)
        if not_modified is not None:
            return not_modified
    headers = {
        "Cache-Control": "no-store" if no_store else "no-cache",
        "Last-Modified": formatdate(modified, usegmt=True),
    }
    return raw(body, content_type=mime, headers=headers)
