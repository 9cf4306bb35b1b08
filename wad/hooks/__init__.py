"""The plugin host, and the surface a plugin may use.

- :mod:`.specs`: every hook (``wad_*``), the one list;
- :mod:`.host`: :class:`PluginHost`, pluggy's manager, loading the ``wad.plugins``
  entry points;
- :mod:`.calls`: each place wad calls a hook, with awaitable answers resolved on trio;
- :mod:`.api`: :class:`DaemonAPI`, all that plugins and doors see of the daemon;
- :mod:`.commands`: :class:`CtlCommand`, what a plugin adds to ``wadctl``.

Hook implementations are marked with ``wad.hookimpl``.
"""

from wad.hooks.api import DaemonAPI, PluginInfo, PluginsAPI
from wad.hooks.commands import CtlCommand
from wad.hooks.host import GROUP, PluginHost

__all__ = ["GROUP", "CtlCommand", "DaemonAPI", "PluginHost", "PluginInfo", "PluginsAPI"]
