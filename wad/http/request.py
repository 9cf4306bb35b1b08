"""Request bodies: 64 KiB by default, more only where media is sent.

Quart fixes a request's size limit when the request is created, and answers
413 at once when the declared Content-Length is over it, without reading the
body. The send endpoint takes media: multipart uploads (streamed to a spooled
temporary file by Quart's parser, never held whole in memory) up to the
largest media type's limit, JSON with base64 media up to 24 MiB.
"""

from __future__ import annotations

import re
from typing import Any

from quart_trio.wrappers import TrioRequest

from wad.services.outbound import LARGEST_MEDIA

# Where media travels: the send endpoint, and the simulator's phone sending media in.
SEND_PATH = re.compile(r"^/api/(sessions/[^/]+/messages|simulator/sessions/[^/]+/incoming)$")
MULTIPART_LIMIT = LARGEST_MEDIA + 64 * 1024
JSON_MEDIA_LIMIT = 24 * 1024 * 1024


class WadRequest(TrioRequest):
    def __init__(self, method: str, scheme: str, path: str, *args: Any, **kwargs: Any) -> None:
        if method == "POST" and SEND_PATH.match(path):
            headers = args[1] if len(args) > 1 else kwargs.get("headers")
            content_type = (headers.get("Content-Type", "") if headers is not None else "").lower()
            kwargs["max_content_length"] = (
                MULTIPART_LIMIT
                if content_type.startswith("multipart/form-data")
                else JSON_MEDIA_LIMIT
            )
        super().__init__(method, scheme, path, *args, **kwargs)
        # The form parser reads the limit from here, not from the body.
        if "max_content_length" in kwargs:
            self.max_content_length = kwargs["max_content_length"]
