"""The cluster's rules that need no server: lock keys, the owner's lease, placement
arithmetic, and which connection settings a URL gets."""

from __future__ import annotations

import pytest

from wad.cluster.connection import client_params, is_tcp, server_settings
from wad.cluster.keys import PLACEMENT_KEY, SCHEMA_KEY, session_key
from wad.cluster.lease import Lease
from wad.cluster.placement import assign, rebalance_target
from wad.cluster.timing import Timing


def test_session_keys_are_stable_signed_64_bit_numbers() -> None:
    # Fixed values: every node, release and run must compute the same key.
    assert session_key("alice") == session_key("alice")
    assert session_key("alice") != session_key("bob")
    keys = {session_key(f"device-{i}") for i in range(10_000)}
    assert len(keys) == 10_000
    assert all(-(2**63) <= k < 2**63 for k in keys)
    assert any(k < 0 for k in keys) and any(k > 0 for k in keys)
    assert PLACEMENT_KEY not in keys and SCHEMA_KEY not in keys
    assert session_key("placement") != PLACEMENT_KEY  # another personalisation


def test_session_key_is_the_same_in_another_process() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", "from wad.cluster.keys import session_key as k; print(k('alice'))"],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123"},
    )
    assert int(out.stdout) == session_key("alice")


def test_the_lease_counts_from_when_the_heartbeat_was_sent() -> None:
    lease = Lease(2.5)
    assert lease.expired(0.0)  # nothing succeeded yet
    lease.renew(10.0)
    assert lease.deadline == 12.5
    assert not lease.expired(12.4) and lease.expired(12.5)
    lease.renew(9.0)  # a late answer to an older heartbeat never moves it back
    assert lease.deadline == 12.5


def test_free_sessions_go_to_the_least_loaded_node_in_turn() -> None:
    nine = [f"s{i}" for i in range(9)]
    chosen = assign({"a": 0, "b": 0, "c": 0}, nine)
    assert sorted(chosen) == nine
    assert sorted(list(chosen.values()).count(n) for n in "abc") == [3, 3, 3]
    # The least loaded fills up first.
    chosen = assign({"a": 4, "b": 1, "c": 0}, ["x", "y", "z", "w"])
    assert list(chosen.values()) == ["c", "b", "c", "b"]
    assert assign({}, ["x"]) == {}


def test_a_full_node_is_given_nothing() -> None:
    caps = {"a": 2, "b": 0, "c": 3}  # b: no cap
    chosen = assign({"a": 1, "b": 5, "c": 3}, ["x", "y"], caps)
    assert chosen == {"x": "a", "y": "b"}  # c is full; a takes one, then is full too
    assert assign({"a": 2, "c": 3}, ["x"], caps) == {}  # no room anywhere: left out
    caps = {"a": 1, "b": 1}
    assert assign({"a": 0, "b": 0}, ["x", "y", "z"], caps) == {"x": "a", "y": "b"}
    # Rebalancing never hands a session to a full node, however unequal the loads.
    assert rebalance_target("a", {"a": 9, "b": 1, "c": 0}, {"c": 0, "b": 1}) == "c"
    assert rebalance_target("a", {"a": 9, "b": 1}, {"b": 1}) is None


@pytest.mark.parametrize(
    ("loads", "me", "target"),
    [
        ({"a": 3, "b": 3, "c": 3, "d": 0}, "a", "d"),  # a joiner gets sessions
        ({"a": 3, "b": 2, "c": 2, "d": 2}, "a", None),  # spread 1: settled
        ({"a": 6, "b": 6, "c": 0}, "b", "c"),
        ({"a": 5, "b": 4, "c": 3}, "a", "c"),
        ({"a": 4, "b": 4, "c": 4}, "a", None),
        ({"a": 2, "b": 5}, "a", None),  # below average: never gives
        ({"a": 5}, "a", None),  # alone
        ({"b": 5}, "a", None),  # not eligible itself (draining, dead)
    ],
)
def test_rebalancing_moves_one_session_only_when_it_narrows_the_spread(
    loads: dict[str, int], me: str, target: str | None
) -> None:
    assert rebalance_target(me, loads) == target


def test_rebalancing_converges_without_swinging_back() -> None:
    loads = {"a": 9, "b": 0, "c": 0, "d": 0}
    moves = 0
    while True:
        moved = False
        for node in sorted(loads):
            target = rebalance_target(node, loads)
            if target is not None:
                loads[node] -= 1
                loads[target] += 1
                moves += 1
                moved = True
        if not moved:
            break
    assert sorted(loads.values()) == [2, 2, 2, 3]
    assert moves == 6  # each session moved at most once


def test_tcp_urls_get_keepalives_and_a_user_timeout() -> None:
    for url in (
        "postgresql://wad@db.example:5432/wad",
        "host=10.0.0.5 dbname=wad",
        "hostaddr=10.0.0.5 dbname=wad",
        "host=/run/postgresql,db.example dbname=wad",
    ):
        assert is_tcp(url), url
        params = client_params(url, 5.0, "wad-cluster a")
        assert params["keepalives"] == 1
        assert params["tcp_user_timeout"] == 2500
        assert (
            params["keepalives_idle"] + params["keepalives_count"] * params["keepalives_interval"]
            < 5
        )
        assert server_settings(url, 5.0)["tcp_user_timeout"] == "2500"
        assert server_settings(url, 5.0)["tcp_keepalives_idle"] == "1"


def test_unix_socket_urls_get_no_tcp_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGHOST", raising=False)
    for url in (
        "postgresql://wad@/wad?host=%2Frun%2Fpostgresql",
        "host=/tmp dbname=wad",
        "dbname=wad",  # libpq's default: the socket
    ):
        assert not is_tcp(url), url
        params = client_params(url, 5.0, "wad-cluster a")
        assert "keepalives" not in params and "tcp_user_timeout" not in params
        assert params["autocommit"] is True and params["application_name"] == "wad-cluster a"
        settings = server_settings(url, 5.0)
        assert settings == {"statement_timeout": "2500", "client_connection_check_interval": "1000"}


def test_a_heartbeat_must_fit_inside_the_owners_bound() -> None:
    assert Timing().fence_after == 2.5
    with pytest.raises(ValueError):
        Timing(heartbeat=2.5)
    with pytest.raises(ValueError):
        Timing(lease=1.0, heartbeat=1.0)
