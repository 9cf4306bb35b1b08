"""Media files of a session: saved under ``<session>/media/``, hashed, never whole in memory
when they arrive as an upload or from a URL."""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hashlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

import trio

from wad.errors import StorageFull, WadError, bad_request
from wad.files import open_private
from wad.services.outbound import MediaFile

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
# What a write that found no room fails with: the disk, the user's quota, the file
# size limit (RLIMIT_FSIZE).
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def media_dir(session_folder: Path) -> Path:
    path = session_folder / "media"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def too_large(limit: int) -> WadError:
    return WadError(
        "too_large",
        f"the media is larger than the {limit // (1024 * 1024)} MiB allowed for this type",
    )


def discard(path: Path | str) -> None:
    """Remove a partial or refused media file (one unlink: no need for a thread). A
    failure to remove it is logged, never raised over the error being answered."""
    try:
        Path(path).unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not delete the media file %s: %s", path, exc)


@contextlib.contextmanager
def _saving(dest: Path) -> Iterator[None]:
    """Nothing is left of a save that fails; no room on the disk is ``storage_full``."""
    try:
        yield
    except BaseException as exc:
        discard(dest)
        if isinstance(exc, OSError) and exc.errno in NO_ROOM:
            log.warning("storage full: could not save a media file (%s)", exc.strerror)
            raise StorageFull("storage full: the media could not be saved") from None
        raise


def save_base64(
    data: object, dest: Path, mimetype: str, limit: int, file_name: str | None = None
) -> MediaFile:
    if not isinstance(data, str):
        raise bad_request("media.data must be a base64 string")
    if len(data) > (limit * 4) // 3 + 8:
        raise too_large(limit)
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("media.data is not valid base64") from None
    if not raw:
        raise bad_request("media.data is empty")
    if len(raw) > limit:
        raise too_large(limit)
    with _saving(dest), open_private(dest) as f:
        f.write(raw)
    return MediaFile(str(dest), mimetype, len(raw), hashlib.sha256(raw).hexdigest(), file_name)


async def save_stream(
    chunks: AsyncIterator[bytes],
    dest: Path,
    mimetype: str,
    limit: int,
    file_name: str | None = None,
) -> MediaFile:
    """Write chunks to ``dest`` as they come; stop with 413 past ``limit``."""
    digest, size = hashlib.sha256(), 0
    with _saving(dest), open_private(dest) as f:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            digest.update(chunk)
            f.write(chunk)
    if size == 0:
        discard(dest)
        raise bad_request("the media is empty")
    return MediaFile(str(dest), mimetype, size, digest.hexdigest(), file_name)


async def file_chunks(stream: IO[bytes]) -> AsyncIterator[bytes]:
    """An uploaded file's spooled stream, read in chunks off the event loop."""
    while chunk := await trio.to_thread.run_sync(stream.read, CHUNK):
        yield chunk


async def read_chunks(path: Path) -> AsyncIterator[bytes]:
    """A stored media file, streamed to an HTTP response."""
    f = await trio.open_file(path, "rb")
    async with f:
        while chunk := await f.read(CHUNK):
            yield chunk
