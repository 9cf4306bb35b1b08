"""Several real neonize clients in one process, started, stopped and queried from many
threads at once, offline (each connect fails its dial within milliseconds, after its
map writes). Run by ``test_neonize_golock.py`` in a process of its own, because without
the discipline Go kills the process (``fatal error: concurrent map writes``).

``python go_stress.py FOLDER --seconds S --clients N [--unlocked]``; prints one JSON
line of counts and exits 0 when the time is up.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import threading
import time
from pathlib import Path

from neonize.client import NewClient
from neonize.exc import NeonizeError


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--unlocked", action="store_true")
    args = parser.parse_args()
    if not args.unlocked:
        from wad.engines.neonize import golock

        golock.install()
    from neonize._binder import gocode

    started = time.monotonic()
    deadline = started + args.seconds
    print(f"started after {time.process_time():.1f} s of CPU", flush=True)
    counts = {"connects": 0, "stops": 0, "queries": 0, "refused": 0}
    uuids = [f"stress{i}".encode() for i in range(args.clients)]
    keep: list[NewClient] = []  # neonize's finalizer would Stop a collected client
    guard = threading.Lock()

    def count(what: str) -> None:
        with guard:
            counts[what] += 1

    def life(index: int) -> None:
        folder = args.folder / f"c{index}"
        folder.mkdir(parents=True, exist_ok=True)
        while time.monotonic() < deadline:
            client = NewClient(name=str(folder / "whatsmeow.db"), uuid=uuids[index].decode())
            client._stop_finalizer.detach()
            keep.append(client)
            client.event.qr(lambda _client, _data: None)
            connecting = threading.Thread(target=connect, args=(client,), daemon=True)
            connecting.start()
            time.sleep(random.random() * 0.01)
            gocode.Stop(uuids[index])
            count("stops")
            connecting.join()

    def connect(client: NewClient) -> None:
        with contextlib.suppress(NeonizeError):  # offline: the dial fails
            client.connect()
        count("connects")

    def query() -> None:
        while time.monotonic() < deadline:
            try:
                gocode.IsLoggedIn(random.choice(uuids))  # lock-free in whatsmeow
                count("queries")
            except NeonizeError:
                count("refused")  # the door refuses a client Go does not hold
                time.sleep(0.001)

    def stop() -> None:
        while time.monotonic() < deadline:
            gocode.Stop(random.choice(uuids))  # an extra stop: also of clients Go lacks
            count("stops")
            time.sleep(0.001)

    threads = [threading.Thread(target=life, args=(i,)) for i in range(args.clients)]
    threads += [threading.Thread(target=query) for _ in range(8)]
    threads += [threading.Thread(target=stop) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(counts), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
