"""What earlier runs into ``OUT`` left that can be trusted, for resume and before "complete".

:func:`prepare_resume` makes ``OUT`` hold only whole, intact (item, target) sets:

1. finish the replacements a kill interrupted (a marker's ``replaces``);
2. remove commits whose marker is unreadable, or whose parts are missing or differ in size or
   sha256 from the marker (a truncated part, a cut-off write), and parts without a marker;
3. count the rows of every (item, target) in the committed parts against the ``pair_rows`` each
   row carries (how many rows that (item, target) writes in all, kept and rejected). Ray Data may
   cut one (item, target)'s rows into two blocks, so a kill between two commits can leave part of
   a set; such sets (and any written twice) are taken out of their parts by rewriting them, and
   are redone by the run.

Whole items rejected before the target fan-out are keyed (item, None).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from sdrrl_ray import storage
from sdrrl_ray.layout.parts import (
    SUBS,
    all_parts,
    marker_ids,
    part_id,
    part_path,
    read_marker,
    remove_commit,
    write_committed,
)
from sdrrl_ray.layout.paths import COMMITS

log = logging.getLogger("sdrrl_ray")
KEY_COLUMNS = ["item_id", "tgt_lang", "pair_rows"]


@dataclass
class ResumeState:
    done: set = field(default_factory=set)  # complete (item_id, target) pairs; target None = whole item
    uncommitted: int = 0  # part files without a marker, removed
    damaged: list = field(default_factory=list)  # commit ids removed because a part did not match
    incomplete: int = 0  # (item, target) sets found partial or doubled, taken out to be redone

    @property
    def by_item(self) -> dict:
        out: dict = {}
        for item, tgt in self.done:
            if tgt is not None:
                out.setdefault(item, set()).add(tgt)
        return out

    @property
    def whole(self) -> frozenset:
        return frozenset(item for item, tgt in self.done if tgt is None)


def _sha256(fs, path: str) -> str:
    h = hashlib.sha256()
    with fs.open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _intact(fs, root: str, pid: str, marker: dict) -> bool:
    for sub, entry in marker["parts"].items():
        if not entry.get("rows"):
            continue
        path = part_path(root, sub, pid)
        if not fs.exists(path) or fs.size(path) != entry.get("bytes") or _sha256(fs, path) != entry.get("sha256"):
            return False
    return True


def _markers(fs, root: str) -> dict:
    """{id: marker record, or None when unreadable} of every commit marker under ``root``."""
    return {pid: read_marker(fs, root, pid) for pid in sorted(marker_ids(fs, root) or ())}


def check_commits(out: str) -> tuple[dict, int, list]:
    """Steps 1-2 above: ({id: marker} of intact commits, uncommitted parts removed, damaged ids removed)."""
    fs, root = storage.url_to_fs(out)
    markers = _markers(fs, root)
    replaced = {old for m in markers.values() if m for old in m.get("replaces", ())}
    damaged = []
    for pid, marker in markers.items():
        if pid in replaced:
            remove_commit(fs, root, pid)
        elif marker is None or not _intact(fs, root, pid, marker):
            damaged.append(pid)
            remove_commit(fs, root, pid)
    intact = {pid: m for pid, m in markers.items() if pid not in replaced and pid not in damaged}
    uncommitted = 0
    for sub in SUBS:
        for path in all_parts(fs, root, sub):
            if part_id(path) not in intact:
                fs.rm(path)
                uncommitted += 1
    for tmp in fs.glob(f"{root}/{COMMITS}/*.tmp") if fs.exists(f"{root}/{COMMITS}") else []:
        fs.rm(tmp)
    return intact, uncommitted, damaged


def _read(fs, path: str, columns: list[str]) -> pa.Table:
    with fs.open(path, "rb") as fh:
        pf = pq.ParquetFile(fh)
        return pf.read(columns=[c for c in columns if c in pf.schema_arrow.names])


def _keys(table: pa.Table) -> list:
    return list(zip(table.column("item_id").to_pylist(), table.column("tgt_lang").to_pylist()))


def count_pairs(out: str, intact: dict) -> tuple[set, set]:
    """(complete pairs, pairs whose committed rows differ from their ``pair_rows``)."""
    fs, root = storage.url_to_fs(out)
    counts: Counter = Counter()
    expected: dict = {}
    for pid, marker in intact.items():
        for sub, entry in marker["parts"].items():
            if not entry.get("rows"):
                continue
            table = _read(fs, part_path(root, sub, pid), KEY_COLUMNS)
            keys = _keys(table)
            counts.update(keys)
            if "pair_rows" in table.column_names:
                expected.update(zip(keys, table.column("pair_rows").to_pylist()))
    bad = {k for k, n in counts.items() if expected.get(k) is not None and n != expected[k]}
    return set(counts) - bad, bad


def _drop_pairs(out: str, intact: dict, bad: set) -> None:
    """Rewrite every part holding rows of ``bad`` pairs without them (new id replacing the old)."""
    fs, root = storage.url_to_fs(out)
    for pid, marker in intact.items():
        tables, touched = {}, False
        for sub, entry in marker["parts"].items():
            if not entry.get("rows"):
                tables[sub] = None
                continue
            with fs.open(part_path(root, sub, pid), "rb") as fh:
                table = pq.read_table(fh)
            keep = [k not in bad for k in _keys(table)]
            if not all(keep):
                table, touched = table.filter(pa.array(keep)), True
            tables[sub] = table
        if touched:
            write_committed(out, {s: t for s, t in tables.items() if t is not None}, replaces=(pid,))
            remove_commit(fs, root, pid)


def prepare_resume(out: str) -> ResumeState:
    """Make ``OUT`` hold only whole, intact (item, target) sets; return what is done."""
    fs, root = storage.url_to_fs(out)
    fs.makedirs(root, exist_ok=True)
    intact, uncommitted, damaged = check_commits(out)
    done, bad = count_pairs(out, intact)
    if bad:
        _drop_pairs(out, intact, bad)
    state = ResumeState(done=done, uncommitted=uncommitted, damaged=damaged, incomplete=len(bad))
    if damaged:
        log.warning("removed %d damaged commit(s) (a part missing or not matching its size and sha256); "
                    "their rows are written again", len(damaged))
    if uncommitted:
        log.warning("removed %d uncommitted part file(s) left by an interrupted run", uncommitted)
    if bad:
        log.warning("%d (item, target) set(s) were partly written by an interrupted run; they are written again",
                    len(bad))
    return state


def verify(out: str) -> tuple[list, set]:
    """(damaged commit ids, partial or doubled pairs) without changing anything: the check before
    a run is declared complete."""
    fs, root = storage.url_to_fs(out)
    markers = _markers(fs, root)
    damaged = sorted(pid for pid, m in markers.items() if m is None or not _intact(fs, root, pid, m))
    intact = {pid: m for pid, m in markers.items() if pid not in damaged}
    _, bad = count_pairs(out, intact)
    return damaged, bad
