"""The dashboard's assets under versioned URLs, so that an upgrade is seen at once.

``index.html`` names its assets ``/static/...``; served, it names them
``/static/v/<version>/...``, where the version is a hash of every file under
``wad/static``. The references inside the assets are relative (the modules'
imports, the stylesheet's ``url()``), so they stay under the same prefix: one
version covers them all. A versioned answer may be cached for a year
(``immutable``); the page itself is ``no-cache``, so the browser asks for it
every time and gets the new version's URLs as soon as the files change.

Plain ``/static/...`` URLs keep working (a bookmark, an old page still open),
revalidated on every use. A versioned URL of another version gets today's file,
not cached. A folder named ``v`` under ``wad/static`` would be hidden by the
versioned route.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from quart import Blueprint, Response, current_app, send_from_directory
from quart_schema import hide

bp = Blueprint("assets", __name__)

PREFIX = "/static/v/"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_REFERENCE = re.compile(r"""(\s(?:src|href)=["'])/static/""")


class Assets:
    """The files under ``folder``, their version, and the page that names them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self.version = ""
        self._page = ""

    def _scan(self) -> tuple[tuple[str, int, int], ...]:
        found = []
        for root, dirs, files in os.walk(self.folder):
            dirs.sort()
            for name in sorted(files):
                path = Path(root, name)
                stat = path.stat()
                found.append(
                    (path.relative_to(self.folder).as_posix(), stat.st_size, stat.st_mtime_ns)
                )
        return tuple(found)

    def refresh(self) -> None:
        """Hash the files again when any changed (by name, size or time): a stat of
        each per page load, a read of each only after a change."""
        signature = self._scan()
        if signature == self._signature:
            return
        digest = hashlib.sha256()
        for name, _, _ in signature:
            digest.update(name.encode() + b"\0")
            digest.update((self.folder / name).read_bytes())
            digest.update(b"\0")
        self.version = digest.hexdigest()[:16]
        index = (self.folder / "index.html").read_text(encoding="utf-8")
        self._page = _REFERENCE.sub(rf"\g<1>{PREFIX}{self.version}/", index)
        self._signature = signature

    def page(self) -> str:
        """``index.html`` with every asset under the current version's prefix."""
        self.refresh()
        return self._page


def assets() -> Assets:
    found: Assets = current_app.config["WAD_ASSETS"]
    return found


@bp.get(PREFIX + "<version>/<path:name>")
@hide
async def versioned(version: str, name: str) -> Response:
    """An asset by its versioned URL: cached for good when it is today's version."""
    found = assets()
    response = await send_from_directory(found.folder, name)
    response.headers["Cache-Control"] = IMMUTABLE if version == found.version else REVALIDATE
    return response


def static_headers(response: Response) -> None:
    """The headers of every answer under ``/static/`` (called from
    :mod:`wad.http.around`, which runs one hook after every request): no sniffing,
    and no caching without asking, unless the URL is versioned."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.headers.get("Cache-Control") != IMMUTABLE:
        response.headers["Cache-Control"] = REVALIDATE
        response.headers.pop("Expires", None)
