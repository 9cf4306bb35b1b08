"""Media by URL: the file is fetched (:mod:`wad.net.fetch`) into the session's media
folder, then sent like an upload.

Each way a fetch can fail answers its own status, with the error envelope:

- 400 ``bad_request``: not an http(s) URL, a host that does not resolve, a
  redirect (not followed: the message names its target), an answer 4xx from the
  server, a mimetype that the message type does not take;
- 403 ``forbidden``: the host is (or resolves to) an address that is not public
  and not in ``media_allow_networks``;
- 413 ``too_large``: over the type's limit, by ``Content-Length`` (nothing read)
  or while reading;
- 408 ``timeout``: the whole fetch took longer than ``media_fetch_timeout``;
- 502 ``bad_gateway``: the server failed (5xx, no connection, TLS, a broken answer).

The partial file is deleted whichever way it failed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from wad.config import Config
from wad.errors import WadError
from wad.net.fetch import Fetcher, FetchError, parse_url, shown
from wad.net.guard import Guard, parse_networks
from wad.services import media, outbound
from wad.services.outbound import MediaFile

log = logging.getLogger(__name__)

_CODES = {
    "url": "bad_request",
    "redirect": "bad_request",
    "refused": "forbidden",
    "too_large": "too_large",
    "timeout": "timeout",
    "remote": "bad_gateway",
}


def fetcher(config: Config) -> Fetcher:
    """The fetcher the configuration asks for (read at each send: cheap, and current)."""
    return Fetcher(Guard(parse_networks(config.media_allow_networks)), config.media_fetch_timeout)


async def fetch(
    url: object,
    dest: Path,
    type_: str,
    mimetype: object,
    file_name: str | None,
    using: Fetcher,
) -> MediaFile:
    """Fetch ``url`` into ``dest`` as a ``type_`` message's media; WadError when refused.
    The mimetype is the caller's, else the server's ``Content-Type``."""
    given = None if mimetype is None else outbound.mimetype(mimetype, type_)
    try:
        target = parse_url(url, "media.url")
    except FetchError as exc:
        raise WadError("bad_request", exc.message) from None
    limit = outbound.media_limit(type_)
    try:
        async with using.open(target, limit) as body:
            mime = given or _served_type(body.content_type, type_)
            stored = await media.save_stream(body.chunks, dest, mime, limit, file_name)
    except FetchError as exc:
        media.discard(dest)
        log.info("media by URL refused (%s): %s", exc.reason, exc.message)
        if exc.reason == "too_large":
            raise media.too_large(limit) from None
        if exc.reason == "refused":
            raise WadError(
                "forbidden", f"media.url: {exc.message} (media_allow_networks)"
            ) from None
        raise WadError(_CODES[exc.reason], f"media.url: {exc.message}") from None
    except BaseException:
        media.discard(dest)  # a refused type, the time limit at the last byte, a cancel
        raise
    log.debug("media by URL: %d bytes from %s", stored.size, shown(target))
    return stored


def _served_type(content_type: str | None, type_: str) -> str:
    if content_type is None:
        raise WadError(
            "bad_request", "media.url: the server sent no Content-Type; give media.mimetype"
        )
    try:
        return outbound.mimetype(content_type, type_)
    except WadError as exc:
        raise WadError(
            "bad_request", f"media.url: the server's Content-Type: {exc.message}"
        ) from None
