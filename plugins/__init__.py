"""wad's built-in plugins, installed as the ``wad_plugins`` package.

Each is an ordinary plugin, registered through the ``wad.plugins`` entry point
group like a third party's, using only the hooks in ``wad.hooks.specs``.
"""
