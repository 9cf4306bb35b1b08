"""One ``secrets.key`` for the whole cluster, checked as each node starts.

Secrets at rest (a session's proxy password, webhook signing secrets) are sealed
with the key in the node's state folder (:mod:`wad.secrets`), and in a cluster they
are in the shared database: a value one node sealed must open on every node a
session or a delivery may move to. A node with another key would show such a
setting as :data:`wad.services.settings.UNREADABLE`, connect the session without
its proxy's password, and at its start disable every webhook whose secret another
node sealed (``disable_unreadable``: a key restored wrong on one node would switch
off the cluster's webhooks). The key itself never goes in the database (a copy of
the database alone must open nothing).

So the first node to start seals a known text with its key into
``cluster_secrets_key``; every node, that one included, must open it, or refuses to
start, before anything of it has run, with the way out in the message.
"""

from __future__ import annotations

from pathlib import Path

from wad.config import ConfigError
from wad.secrets import KEY_FILE, SecretBox
from wad.store.database import Queries, Store

#: What the proof belongs to (AES-GCM's associated data) and what it says.
CONTEXT = "wad-cluster/secrets.key"
PROOF = "the cluster's secrets.key"


def _proof(q: Queries, ours: str) -> str:
    """The cluster's proof, ours if there was none (the first node to start)."""
    q.db.execute(
        "INSERT INTO cluster_secrets_key (sealed) VALUES (?) ON CONFLICT DO NOTHING", (ours,)
    )
    row = q.db.execute("SELECT sealed FROM cluster_secrets_key").fetchone()
    return str(row[0])


async def check(store: Store, state_dir: Path) -> None:
    """Raise :class:`ConfigError` when this node's key is not the cluster's."""
    box = SecretBox.load(state_dir / KEY_FILE)
    ours = box.seal(CONTEXT, PROOF)
    theirs = await store.run(lambda q: _proof(q, ours))
    if not box.opens(CONTEXT, theirs):
        raise ConfigError(
            f"{box.path} is not the cluster's key: the other nodes seal secrets (proxy"
            " passwords, webhook signing secrets) with another one, which this node could"
            f" not open. Copy {KEY_FILE} from another node's state folder into this one"
            " (mode 0600), then start it again"
        )
