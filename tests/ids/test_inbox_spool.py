"""The worker's inbox spool (real files): what is spooled survives the process, is
emptied once the daemon confirmed it, is cut down when it grows, and a new worker
takes over what an earlier one left, numbered anew."""

from __future__ import annotations

import json
from pathlib import Path

from wad.engines.neonize import spool as spool_module
from wad.engines.neonize.spool import SPOOL, Spool


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_spooled_then_confirmed_then_empty(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    assert [spool.append({"id": f"M{n}"}) for n in range(3)] == [1, 2, 3]
    assert [item["data"]["id"] for item in lines(tmp_path / SPOOL)] == ["M0", "M1", "M2"]
    assert (tmp_path / SPOOL).stat().st_mode & 0o077 == 0
    spool.confirm(2)  # not everything: the file stays whole
    assert len(lines(tmp_path / SPOOL)) == 3
    spool.confirm(3)
    assert (tmp_path / SPOOL).read_text() == ""
    assert spool.append({"id": "M3"}) == 4  # the file goes on from empty
    assert lines(tmp_path / SPOOL) == [{"seq": 4, "data": {"id": "M3"}}]
    spool.confirm(99)  # beyond what was spooled: up to the last one only
    assert (tmp_path / SPOOL).read_text() == ""
    spool.close()


def test_a_new_worker_takes_over_what_was_not_confirmed(tmp_path: Path) -> None:
    first = Spool(tmp_path)
    for n in range(4):
        first.append({"id": f"M{n}"})
    first.confirm(1)
    first.close()  # the worker died (nothing else is needed: the lines are written)
    with (tmp_path / SPOOL).open("a") as f:
        f.write('{"seq": 5, "data": {"id": "M4"')  # torn by a crash mid-write
    second = Spool(tmp_path)
    recovered = second.recover()
    # All the whole lines (the daemon stores each id once), renumbered from 1.
    assert recovered == [(1, {"id": "M0"}), (2, {"id": "M1"}), (3, {"id": "M2"}), (4, {"id": "M3"})]
    assert [item["seq"] for item in lines(tmp_path / SPOOL)] == [1, 2, 3, 4]
    assert second.append({"id": "NEW"}) == 5
    second.confirm(5)
    assert (tmp_path / SPOOL).read_text() == ""
    assert Spool(tmp_path).recover() == []


def test_a_growing_spool_is_cut_down_to_what_is_unconfirmed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(spool_module, "COMPACT_BYTES", 1000)
    spool = Spool(tmp_path)
    for n in range(50):
        spool.append({"id": f"M{n}", "text": "x" * 40})
    spool.confirm(45)
    assert [item["seq"] for item in lines(tmp_path / SPOOL)] == [46, 47, 48, 49, 50]
    spool.append({"id": "M50"})  # appends go on to the new file
    assert lines(tmp_path / SPOOL)[-1]["seq"] == 51
    spool.close()


def test_an_unwritable_spool_costs_no_message(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    spool = Spool(folder)  # its folder does not exist: every write fails
    assert spool.append({"id": "M0"}) == 1 and spool.append({"id": "M1"}) == 2
    spool.confirm(2)
    assert not folder.exists()


def test_a_message_spooled_before_its_media_is_replaced_once_complete(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    early = spool.append({"id": "IMG", "mediaError": "the worker stopped while downloading"})
    assert spool.append({"id": "TXT"}) == early + 1
    # The download ended: the same number, the complete message.
    assert spool.append({"id": "IMG", "mediaPath": "/x/in-1"}, early) == early
    spool.close()
    recovered = Spool(tmp_path).recover()
    assert recovered == [(1, {"id": "IMG", "mediaPath": "/x/in-1"}), (2, {"id": "TXT"})]


def test_a_worker_that_died_during_a_download_leaves_the_message(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append({"id": "IMG", "mediaError": "the worker stopped while downloading the media"})
    spool.close()  # and nothing more: the process is gone
    ((_, data),) = Spool(tmp_path).recover()
    assert data["id"] == "IMG" and "downloading" in data["mediaError"]
