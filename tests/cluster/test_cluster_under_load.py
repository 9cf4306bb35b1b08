"""The cluster under load (issue 20): three real ``wad serve`` processes with the
simulator on one PostgreSQL database, client tasks sending and reading through
every node (tests/cluster/underload.py) while

- a node is killed with SIGKILL: its sessions are connected on the others within
  15 s; every send answered 200 reached its phone exactly once, none twice (texts
  are unique: a text received twice is a duplicate, whatever its message id), the
  sends cut off by the kill were answered by nobody (their outcome unknown, never
  twice); every accepted message's ``message.sent`` reached a webhook receiver at
  least once; no device was connected from two nodes at once;
- a session is moved (``wadctl move``) and a node drained (``wadctl drain``): every
  request is answered 2xx during the handover, nothing lost or duplicated.

Times and counts are printed (``pytest -s``)."""

from __future__ import annotations

import time
from pathlib import Path

import trio
from clusterkit import query
from daemons import Node, link_all, ready, spawn, stop_nodes, until, wadctl
from underload import NODE_ENV, Load, api_keys, check, failover, pending, start_cluster
from webhook_receiver import Receiver

NAMES = ("a", "b", "c")


async def owners(node: Node) -> dict[str, str | None]:
    return {d: s["node"] for d, s in (await node.sessions()).items()}


async def settled(pg_url: str, nodes: list[Node]) -> None:
    """Until no send is left pending (a send cut off goes again at the next connect)."""

    async def none_pending() -> bool:
        return await pending(pg_url) == 0

    await until(none_pending, 20, "no send left pending", nodes)


async def test_a_node_killed_under_send_load_loses_nothing(tmp_path: Path, pg_url: str) -> None:
    nodes = await start_cluster(tmp_path, pg_url, NAMES)
    receiver = Receiver()
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(receiver.serve)
            await _killed_under_load(pg_url, nodes, receiver)
            nursery.cancel_scope.cancel()
    finally:
        await stop_nodes(nodes)


async def _killed_under_load(pg_url: str, nodes: list[Node], receiver: Receiver) -> None:
    devices = [f"dev{i}" for i in range(6)]
    await link_all(nodes, devices)
    for device in devices:  # through any node: the owner stores it
        r = await nodes[0].client.post(
            f"/api/sessions/{device}/webhooks",
            json={"url": receiver.url, "events": ["message.sent"]},
        )
        assert r.status_code == 201, r.text
    victim = nodes[2]
    moved = {d for d, n in (await owners(nodes[0])).items() if n == victim.name}
    assert len(moved) == 2
    load = Load(nodes, await api_keys(nodes[0], devices))
    async with trio.open_nursery() as clients:
        for i in range(6):  # two through each node, the victim's among them
            clients.start_soon(load.sender, i, ("seed", "keyed", "plain")[i % 3])
        await load.accepted(40)
        before = len(load.tally.accepted)
        load.gone.add(victim.name)
        victim.kill()
        took = await failover(nodes, victim, moved)
        await load.accepted(before + 40)  # the load goes on, on the others
        clients.cancel_scope.cancel()
    # The victim comes back (its state folder as it was): it takes sessions again.
    await victim.client.aclose()
    nodes[2] = spawn(victim.folder, victim.name, pg_url, env=NODE_ENV)
    await ready(nodes[2])
    await settled(pg_url, nodes)
    found = await check(pg_url, load.tally)
    print(
        f"kill -9 under load: {victim.name}'s {len(moved)} sessions connected"
        f" elsewhere in {took:.2f} s; {found.summary(load.tally)}"
    )
    assert took < 15
    assert found.lost == [] and found.duplicated == [] and found.not_sent == []
    assert found.violations == []
    assert load.tally.keyed_gave_up == []
    assert len(load.tally.accepted) >= 80

    # Webhooks: every accepted send's message.sent reached the receiver at least
    # once (the sessions' new owners deliver theirs; the others' pending ones too).
    def hooked() -> set[str]:
        return {
            r.json["payload"]["id"]
            for r in receiver.requests
            if r.json.get("event") == "message.sent"
        }

    with trio.move_on_after(30):
        await receiver.wait_until(lambda: set(load.tally.accepted) <= hooked())
    missing = set(load.tally.accepted) - hooked()
    states = await query(pg_url, "SELECT status, count(*) FROM webhook_deliveries GROUP BY status")
    assert not missing, f"{len(missing)} accepted sends never hooked; deliveries {states}"
    print(
        f"webhooks: {len(receiver.requests)} deliveries for {len(hooked())} messages"
        f" ({len(receiver.requests) - len(hooked())} more than once)"
    )


async def test_a_move_and_a_drain_under_load_answer_every_request(
    tmp_path: Path, pg_url: str
) -> None:
    """One cluster for both handovers (each costs a cluster's start otherwise): b's
    session moved to c, then c drained (its two sessions to a and b)."""
    nodes = await start_cluster(tmp_path, pg_url, NAMES)
    try:
        a, b, c = nodes
        devices = [f"dev{i}" for i in range(3)]
        await link_all(nodes, devices)
        load = Load(nodes, await api_keys(nodes[0], devices))
        async with trio.open_nursery() as clients:
            for i in range(6):
                clients.start_soon(load.sender, i, ("seed", "keyed", "plain")[i % 3])
            for i in range(3):
                clients.start_soon(load.reader, i)
            await load.accepted(20)
            device = next(d for d, n in (await owners(a)).items() if n == "b")
            done = await wadctl(a, "move", device, "c")  # asked of another node
            assert done.returncode == 0, done.stderr

            async def moved() -> bool:
                listed = await a.sessions()
                return listed[device]["node"] == "c" and (
                    listed[device]["connectionState"] == "connected"
                )

            took_move = await until(moved, 15, "c runs it", nodes)
            await load.accepted(len(load.tally.accepted) + 20)
            began = time.monotonic()
            done = await wadctl(c, "drain")  # returns once c runs nothing
            assert done.returncode == 0, done.stderr
            took_drain = time.monotonic() - began
            assert "c" not in (await owners(a)).values()
            await load.accepted(len(load.tally.accepted) + 20)
            clients.cancel_scope.cancel()
        await settled(pg_url, nodes)
        found = await check(pg_url, load.tally)
        print(
            f"under load: move of {device} b -> c {took_move:.2f} s, drain of c (2 sessions)"
            f" {took_drain:.2f} s; {found.summary(load.tally)}"
        )
        assert load.tally.non_2xx() == {}, load.tally.refused[:10]
        assert load.tally.unanswered == []
        assert found.lost == [] and found.duplicated == [] and found.not_sent == []
        assert found.delivered_unanswered == 0 and found.violations == []
        listed = await a.sessions()
        assert {s["connectionState"] for s in listed.values()} == {"connected"}
        assert {s["node"] for s in listed.values()} == {"a", "b"}
    finally:
        await stop_nodes(nodes)
