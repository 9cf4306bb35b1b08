"""The plugin host: pluggy, project ``wad``, plugins from the ``wad.plugins`` entry points.

The built-in plugins (``plugins/`` in the source tree, the ``wad_plugins``
package when installed) are declared in wad's own pyproject.toml under that
same entry point group, so they load exactly like a third party's, and any of
them can be disabled by name (``disable_plugins`` / ``WAD_DISABLE_PLUGINS``).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from wad.hooks import specs
from wad.hooks.api import PluginInfo

log = logging.getLogger(__name__)
GROUP = "wad.plugins"
BUILTIN_PACKAGE = "wad_plugins."


class PluginHost(pluggy.PluginManager):
    """pluggy's manager with every spec of :mod:`wad.hooks.specs`, and where each
    plugin came from."""

    def __init__(self) -> None:
        super().__init__("wad")
        self.add_hookspecs(specs)
        #: Plugin name -> the distribution (name, version) its entry point belongs to.
        self.distributions: dict[str, tuple[str | None, str | None]] = {}

    def entry_points(self, disabled: Iterable[str] = ()) -> list[EntryPoint]:
        """The group's entry points, by name, less the disabled ones."""
        skip = set(disabled)
        found = []
        for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
            if ep.name in skip:
                log.info("plugin %s: disabled by configuration", ep.name)
            else:
                found.append(ep)
        return found

    def load_entry_point(self, ep: EntryPoint) -> None:
        """Import the plugin (a class is instantiated: one instance holds one daemon's
        state) and register it under the entry point's name."""
        if self.has_plugin(ep.name):
            return
        plugin = ep.load()
        if inspect.isclass(plugin):
            plugin = plugin()
        self.register(plugin, name=ep.name)
        self.distributions[ep.name] = (ep.dist.name, ep.dist.version) if ep.dist else (None, None)
        log.info("plugin %s: loaded from %s", ep.name, ep.value)

    def describe(self) -> list[PluginInfo]:
        """What is loaded, for ``GET /api/plugins`` and ``wadctl plugins``."""
        out: list[PluginInfo] = []
        for name, plugin in sorted(self.list_name_plugin()):
            if plugin is None:
                continue
            module = getattr(plugin, "__name__", None) or type(plugin).__module__
            dist_name, version = self.distributions.get(name, (None, None))
            out.append(
                {
                    "name": name,
                    "module": module,
                    "distribution": dist_name,
                    "version": version,
                    "builtin": module.startswith(BUILTIN_PACKAGE),
                    "hooks": sorted(h.name for h in self.get_hookcallers(plugin) or []),
                }
            )
        return out


def load(disabled: Iterable[str] = ()) -> PluginHost:
    """Every enabled plugin, checked: a misspelt hook name fails the start, not silently."""
    host = PluginHost()
    for ep in host.entry_points(disabled):
        host.load_entry_point(ep)
    host.check_pending()
    return host


async def resolve(value: Any) -> Any:
    """A hook's answer: a value, or an awaitable that gives it."""
    if value is None:  # most answers on the hot paths; isawaitable asks an ABC
        return None
    if inspect.isawaitable(value):
        return await value
    return value
