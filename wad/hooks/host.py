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
from importlib.metadata import entry_points
from typing import Any

import pluggy

from wad.hooks import specs as hookspecs

log = logging.getLogger(__name__)
GROUP = "wad.plugins"


def load(disabled: Iterable[str] = ()) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("wad")
    pm.add_hookspecs(hookspecs)
    skip = set(disabled)
    sources: dict[str, tuple[str | None, str | None]] = {}
    pm.wad_sources = sources  # type: ignore[attr-defined]
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        if ep.name in skip:
            log.info("plugin %s: disabled by configuration", ep.name)
            continue
        if pm.has_plugin(ep.name):
            continue
        plugin = ep.load()
        if inspect.isclass(plugin):  # a class holds per-daemon state: one instance each
            plugin = plugin()
        pm.register(plugin, name=ep.name)
        sources[ep.name] = (ep.dist.name, ep.dist.version) if ep.dist else (None, None)
        log.info("plugin %s: loaded from %s", ep.name, ep.value)
    pm.check_pending()  # a misspelt hook name fails the start, not silently
    return pm


async def resolve(value: Any) -> Any:
    """A hook's answer: a value, or an awaitable that gives it."""
    if inspect.isawaitable(value):
        return await value
    return value


def describe(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """What is loaded, for ``GET /api/plugins`` and ``wadctl plugins``."""
    sources = getattr(pm, "wad_sources", {})
    out = []
    for name, plugin in sorted(pm.list_name_plugin()):
        if plugin is None:
            continue
        dist_name, version = sources.get(name, (None, None))
        out.append(
            {
                "name": name,
                "module": getattr(plugin, "__name__", type(plugin).__module__),
                "distribution": dist_name,
                "version": version,
                "builtin": (
                    getattr(plugin, "__name__", None) or type(plugin).__module__
                ).startswith("wad_plugins."),
                "hooks": sorted(h.name for h in pm.get_hookcallers(plugin) or []),
            }
        )
    return out
