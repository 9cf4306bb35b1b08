"""wad: a self-hosted WhatsApp API daemon."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pluggy

__version__ = "0.1.0"

_hookimpl: pluggy.HookimplMarker | None = None


def __getattr__(name: str) -> pluggy.HookimplMarker:
    # ``wad.hookimpl`` marks a plugin's hook implementations:
    # ``@wad.hookimpl def wad_event(event): ...``. It is made on first use, so that the
    # neonize worker, which imports ``wad`` but no plugin, does not load pluggy.
    global _hookimpl
    if name != "hookimpl":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _hookimpl is None:
        import pluggy

        _hookimpl = pluggy.HookimplMarker("wad")
    return _hookimpl
