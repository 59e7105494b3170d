"""The commit protocol under OUT (sdrrl_ray.layout): what resume trusts after a kill, a damaged
part or a full disk. No Ray: parts are written with the same function the sink uses."""

from __future__ import annotations

import errno
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sdrrl_ray.layout import parts
from sdrrl_ray.layout.parts import read_parts, write_committed
from sdrrl_ray.layout.paths import COMMITS, REJECTS, TRANSFER_SET
from sdrrl_ray.layout.resume import prepare_resume, verify
from sdrrl_ray.schema import KEPT_SCHEMA, REJECT_SCHEMA


def rows(item: str, tgt, n: int, *, rejected: int = 0) -> tuple[list, list]:
    """The n kept and ``rejected`` reject rows of one (item, target) set."""
    total = n + rejected
    kept = [dict(id=f"{item}:{tgt}:{i}", item_id=item, tgt_lang=tgt, subset="LL", pair_rows=total) for i in range(n)]
    rej = [dict(id=f"{item}:{tgt}:r{i}", item_id=item, tgt_lang=tgt, stage="filter", reason="x", pair_rows=total)
           for i in range(rejected)]
    return kept, rej


def commit(out, kept: list, rej: list = ()) -> str:
    return write_committed(str(out), {TRANSFER_SET: pa.Table.from_pylist(kept, schema=KEPT_SCHEMA),
                                      REJECTS: pa.Table.from_pylist(list(rej), schema=REJECT_SCHEMA)})


def ids(out, sub=TRANSFER_SET) -> list:
    table = read_parts(str(out), sub, ["id"])
    return sorted(table.column("id").to_pylist()) if table is not None else []


def test_whole_sets_are_done_and_nothing_changes(tmp_path):
    a_kept, a_rej = rows("a", "ja", 4, rejected=1)
    commit(tmp_path, a_kept, a_rej)
    commit(tmp_path, *rows("b", "ja", 4))
    commit(tmp_path, *rows("c", None, 0, rejected=1))  # rejected before the target fan-out
    before = sorted(os.listdir(tmp_path / TRANSFER_SET))
    state = prepare_resume(str(tmp_path))
    assert state.done == {("a", "ja"), ("b", "ja"), ("c", None)} and state.whole == {"c"}
    assert state.by_item == {"a": {"ja"}, "b": {"ja"}}
    assert (state.uncommitted, state.damaged, state.incomplete) == (0, [], 0)
    assert sorted(os.listdir(tmp_path / TRANSFER_SET)) == before
    assert verify(str(tmp_path)) == ([], set())


def test_a_set_cut_across_two_commits_is_redone_after_a_kill(tmp_path):
    """Ray Data cut one (item, target) set into two blocks; the run was killed after the first commit."""
    kept, rej = rows("long", "th", 4, rejected=2)
    other, _ = rows("short", "th", 4)
    commit(tmp_path, other + kept[:3])  # first block: 'short' whole, 'long' in part
    second = commit(tmp_path, kept[3:], rej)  # second block: the rest of 'long'
    os.remove(tmp_path / COMMITS / second)  # killed before its marker: as if it never committed
    state = prepare_resume(str(tmp_path))
    assert state.done == {("short", "th")} and state.incomplete == 1 and state.uncommitted == 2
    assert ids(tmp_path) == sorted(r["id"] for r in other)  # 'long' taken out, to be written whole again
    assert ids(tmp_path, REJECTS) == []
    assert verify(str(tmp_path)) == ([], set())


def test_a_set_written_twice_is_taken_out(tmp_path):
    kept, _ = rows("x", "ja", 4)
    commit(tmp_path, kept)
    commit(tmp_path, kept)
    state = prepare_resume(str(tmp_path))
    assert state.done == set() and state.incomplete == 1 and ids(tmp_path) == []


def test_a_truncated_part_is_removed_with_its_commit(tmp_path):
    good = commit(tmp_path, *rows("a", "ja", 4))
    bad = commit(tmp_path, *rows("b", "ja", 3, rejected=1))
    path = tmp_path / TRANSFER_SET / f"part-{bad}.parquet"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # cut off after a finished run
    damaged, _ = verify(str(tmp_path))
    assert damaged == [bad]
    state = prepare_resume(str(tmp_path))
    assert state.damaged == [bad] and state.done == {("a", "ja")}
    assert not path.exists() and not (tmp_path / REJECTS / f"part-{bad}.parquet").exists()
    assert sorted(os.listdir(tmp_path / COMMITS)) == [good]
    assert ids(tmp_path) == sorted(r["id"] for r in rows("a", "ja", 4)[0])


def test_a_same_size_corruption_is_caught_by_the_checksum(tmp_path):
    pid = commit(tmp_path, *rows("a", "ja", 4))
    path = tmp_path / TRANSFER_SET / f"part-{pid}.parquet"
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    assert prepare_resume(str(tmp_path)).damaged == [pid]


def test_a_cut_off_marker_uncommits_its_parts(tmp_path):
    pid = commit(tmp_path, *rows("a", "ja", 4))
    marker = tmp_path / COMMITS / pid
    marker.write_text(marker.read_text()[:7])
    state = prepare_resume(str(tmp_path))
    assert state.damaged == [pid] and state.done == set()
    assert not (tmp_path / TRANSFER_SET / f"part-{pid}.parquet").exists()


def test_a_replacement_interrupted_by_a_kill_is_finished(tmp_path):
    old = commit(tmp_path, *rows("a", "ja", 4))
    table = pq.read_table(tmp_path / TRANSFER_SET / f"part-{old}.parquet")
    write_committed(str(tmp_path), {TRANSFER_SET: table}, replaces=(old,))  # killed before the old one went
    state = prepare_resume(str(tmp_path))
    assert state.done == {("a", "ja")} and old not in os.listdir(tmp_path / COMMITS)
    assert len(ids(tmp_path)) == 4  # once, not twice


def test_a_full_disk_leaves_nothing_partial(tmp_path, monkeypatch):
    calls = {"n": 0}
    real_open = parts.storage.url_to_fs(str(tmp_path))[0].open

    class FullDisk:
        """A fake file whose write fails the way a full disk does."""

        def __init__(self, *a, **k):
            self.fh = real_open(*a, **k)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.fh.write(data)

    fs = parts.storage.url_to_fs(str(tmp_path))[0]
    monkeypatch.setattr(type(fs), "open", lambda self, *a, **k: FullDisk(*a, **k))
    with pytest.raises(OSError):
        commit(tmp_path, *rows("a", "ja", 3, rejected=1))
    monkeypatch.undo()
    left = [f for d in (TRANSFER_SET, REJECTS, COMMITS) if (tmp_path / d).exists() for f in os.listdir(tmp_path / d)]
    assert left == []


def test_commit_marker_records_rows_bytes_and_checksum(tmp_path):
    pid = commit(tmp_path, *rows("a", "ja", 2, rejected=1))
    marker = json.loads((tmp_path / COMMITS / pid).read_text())
    size = (tmp_path / TRANSFER_SET / f"part-{pid}.parquet").stat().st_size
    assert marker["parts"][TRANSFER_SET]["rows"] == 2 and marker["parts"][TRANSFER_SET]["bytes"] == size
    assert len(marker["parts"][REJECTS]["sha256"]) == 64 and marker["replaces"] == []


def test_a_writer_of_a_run_that_lost_the_lock_does_not_commit(tmp_path):
    """A Ray worker can outlive its killed driver and finish a write after the next run took over
    OUT: its marker must not appear (the next run's resume has already counted what was there)."""
    from sdrrl_ray.layout.lock import OutLock

    with OutLock(str(tmp_path)) as lock:
        kept, rej = rows("a", "ja", 2)
        table = {TRANSFER_SET: pa.Table.from_pylist(kept, schema=KEPT_SCHEMA)}
        write_committed(str(tmp_path), table, owner=lock.run_id)  # the holder commits
        with pytest.raises(parts.Superseded):
            write_committed(str(tmp_path), table, owner="a-killed-run")
    assert len(os.listdir(tmp_path / COMMITS)) == 1 and len(os.listdir(tmp_path / TRANSFER_SET)) == 1
