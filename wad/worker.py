"""``python -m wad.worker``: the neonize worker's entry point, a stable name for ``ps``
and for systemd's process listings. The worker itself is
:mod:`wad.engines.neonize.worker`; this module only starts it."""

from wad.engines.neonize.worker import main

if __name__ == "__main__":
    main()
