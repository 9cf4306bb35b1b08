"""Request bodies: 64 KiB by default, more only where media is sent.

Quart fixes a request's size limit when the request is created, and answers
413 at once when the declared Content-Length is over it, without reading the
body. The send endpoint takes media: multipart uploads (streamed to a spooled
temporary file by Quart's parser, never held whole in memory) up to the
largest media type's limit, and JSON with base64 media up to ``max_json_media``
(5 MiB by default). A JSON body is held whole in memory, then parsed, then
decoded (three copies at least): that is why its limit is far below the
multipart one, and why :mod:`wad.http.guard` lets only a few large bodies in
at once.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

from quart import request
from quart_trio.wrappers import TrioRequest

from wad.config import Config
from wad.services.outbound import LARGEST_MEDIA

# Where media travels: the send endpoint, and the simulator's phone sending media in.
SEND_PATH = re.compile(r"^/api/(sessions/[^/]+/messages|simulator/sessions/[^/]+/incoming)$")
MULTIPART_LIMIT = LARGEST_MEDIA + 64 * 1024
MiB = 1024 * 1024


def is_multipart(content_type: str) -> bool:
    return content_type.lower().startswith("multipart/form-data")


def body_limit(config: Config, method: str, path: str, content_type: str) -> int:
    """The largest body a request to ``path`` may have, in bytes."""
    if method == "POST" and SEND_PATH.match(path):
        return MULTIPART_LIMIT if is_multipart(content_type) else config.max_json_media
    return config.max_body


def buffered(config: Config, scope: MutableMapping[str, Any]) -> bool:
    """Whether the app will read this request's body (an ASGI scope) whole into
    memory: not multipart, and declared within its path's limit (over it, the
    answer is 413 from the headers alone)."""
    headers = {name.lower(): value for name, value in scope["headers"]}
    content_type = headers.get(b"content-type", b"").decode("latin-1")
    if is_multipart(content_type):
        return False
    length = headers.get(b"content-length")
    limit = body_limit(config, scope["method"], scope["path"], content_type)
    return length is None or int(length) <= limit


def too_large_message() -> str:
    """What a 413 says: for a JSON send, the limit and what to do instead."""
    if (
        request.method == "POST"
        and SEND_PATH.match(request.path)
        and not is_multipart(request.content_type or "")
    ):
        limit = request.max_content_length or 0
        return (
            f"JSON bodies that carry media are limited to {limit / MiB:g} MiB "
            "(max_json_media); send larger media as multipart/form-data"
        )
    return "Request body too large"


class WadRequest(TrioRequest):
    """A request whose body limit depends on its path (see :func:`body_limit`)."""

    config: Config  # set on the subclass that :func:`request_class` makes

    def __init__(self, method: str, scheme: str, path: str, *args: Any, **kwargs: Any) -> None:
        headers = args[1] if len(args) > 1 else kwargs.get("headers")
        content_type = headers.get("Content-Type", "") if headers is not None else ""
        kwargs["max_content_length"] = body_limit(self.config, method, path, content_type)
        super().__init__(method, scheme, path, *args, **kwargs)
        # The form parser reads the limit from here, not from the body.
        self.max_content_length = kwargs["max_content_length"]


def request_class(config: Config) -> type[WadRequest]:
    """The app's request class, reading its limits from ``config``."""
    return type("WadRequest", (WadRequest,), {"config": config})
