"""Private files: readable and writable by wad's user alone (0600), whatever the umask.

Standard library only: the neonize worker writes media through it without loading trio.
"""

import os
from pathlib import Path
from typing import IO

PRIVATE = 0o600


def open_private(path: Path) -> IO[bytes]:
    """Create (or truncate) ``path`` as a private file and open it for writing, for
    content written in parts (a media file streamed in)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE), "wb")


def write_private(path: Path, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to a private file, atomically: a reader sees the old
    file or the new one, never a part (it is written beside ``path``, then renamed)."""
    temp = path.with_name(f".{path.name}.tmp")
    try:
        with open_private(temp) as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
