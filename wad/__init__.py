"""wad: a self-hosted WhatsApp API daemon."""

import pluggy

__version__ = "0.1.0"

#: Marks a plugin's hook implementations: ``@wad.hookimpl def wad_event(event): ...``
hookimpl = pluggy.HookimplMarker("wad")
