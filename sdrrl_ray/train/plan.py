"""What each worker trains on, and with which weight: pure functions of the row index and the seed
(held-out split by item, the paper's Eq. 6 example weights, whole items per global batch, the
micro-batch slots of each rank, resume mid-epoch). The rules in full: ``docs/training-plan.md``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Index:
    """Training and held-out rows, sorted by (item_id, id); rows are named by their 64-bit key
    (:func:`row_keys`) and subsets by their code in ``subset_names``: numbers only, 24 bytes a row."""

    train_keys: np.ndarray  # uint64, one per training row
    train_codes: np.ndarray  # int64 subset code per training row
    train_weights: np.ndarray  # float64, one per training row
    item_starts: np.ndarray  # int64, start of each training item in train_keys, plus n_train
    heldout_keys: np.ndarray
    heldout_codes: np.ndarray
    heldout_weights: np.ndarray
    subset_names: tuple

    @property
    def n_train(self) -> int:
        return len(self.train_keys)

    @property
    def n_items(self) -> int:
        return len(self.item_starts) - 1

    @property
    def n_heldout(self) -> int:
        return len(self.heldout_keys)

    def subset_counts(self) -> dict:
        """subset -> (training rows, their Eq. 6 weight)."""
        out = {}
        for code, name in enumerate(self.subset_names):
            where = np.flatnonzero(self.train_codes == code)
            if len(where):
                out[name] = (len(where), float(self.train_weights[where[0]]))
        return out


def row_keys(ids) -> np.ndarray:
    """The 64-bit key of each row id (blake2b); a list of str or an Arrow string array."""
    values = ids.to_pylist() if hasattr(ids, "to_pylist") else ids
    return np.fromiter((int.from_bytes(hashlib.blake2b(i.encode(), digest_size=8).digest(), "little")
                        for i in values), dtype=np.uint64, count=len(values))


def heldout_items(items: list, fraction: float, seed: int) -> set:
    """The held-out item ids: a fixed share chosen by hash, independent of row order."""
    unique = sorted(set(items))
    if fraction <= 0 or len(unique) < 2:
        return set()
    n = max(1, int(round(fraction * len(unique))))
    n = min(n, len(unique) - 1)
    ranked = sorted(unique, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    return set(ranked[:n])


def example_weights(subsets: list, mode: str) -> np.ndarray:
    """Per-example weight: Eq. 6 (``N / (K |D_d|)``, mean 1) or 1 for every example."""
    n = len(subsets)
    if mode == "mean" or n == 0:
        return np.ones(n, dtype=np.float64)
    if mode != "eq6":
        raise ValueError(f"train.loss_weighting={mode!r} is not one of ['eq6', 'mean']")
    names, inverse, counts = np.unique(np.asarray(subsets), return_inverse=True, return_counts=True)
    return n / (len(names) * counts[inverse].astype(np.float64))


def _strings(values):
    import pyarrow as pa

    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, pa.string())
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def build_index(ids, item_ids, subsets, *, heldout_fraction: float, seed: int, weighting: str) -> Index:
    """The run's :class:`Index` from its rows' ids, item ids and subsets (lists or Arrow string arrays)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = pa.table({"id": _strings(ids), "item": _strings(item_ids), "subset": _strings(subsets)})
    table = table.take(pc.sort_indices(table, sort_keys=[("item", "ascending"), ("id", "ascending")]))
    keys = row_keys(table["id"])
    if len(np.unique(keys)) != len(keys):
        dup = _duplicates(table["id"])
        raise ValueError(f"row ids must be unique (or their 64-bit keys collide): {dup[:3]}")
    held = heldout_items(pc.unique(table["item"]).to_pylist(), heldout_fraction, seed)
    is_held = pc.is_in(table["item"], value_set=pa.array(sorted(held), pa.string())).to_numpy(zero_copy_only=False)
    names = tuple(sorted(pc.unique(table["subset"]).to_pylist()))
    codes = pc.index_in(table["subset"], value_set=pa.array(names, pa.string())).to_numpy().astype(np.int64)
    items = pc.index_in(table["item"], value_set=pc.unique(table["item"])).to_numpy()[~is_held]
    starts = np.flatnonzero(np.r_[True, items[1:] != items[:-1]]) if len(items) else np.zeros(0, np.int64)
    t_codes, h_codes = codes[~is_held], codes[is_held]
    return Index(
        train_keys=keys[~is_held],
        train_codes=t_codes,
        train_weights=example_weights(t_codes, weighting),
        item_starts=np.r_[starts, len(items)].astype(np.int64),
        heldout_keys=keys[is_held],
        heldout_codes=h_codes,
        heldout_weights=example_weights(h_codes, weighting),
        subset_names=names,
    )


def _duplicates(ids) -> list:
    seen, dup = set(), []
    for i in ids.to_pylist():
        if i in seen:
            dup.append(i)
        seen.add(i)
    return dup or ["(distinct ids with the same key)"]


def global_batches(item_starts: np.ndarray, seed: int, epoch: int, global_batch: int) -> list[np.ndarray]:
    """The epoch's global batches as arrays of training-row positions (whole items, at most G rows): the
    items in a seeded order, a batch closed when the next item does not fit; an item larger than G is cut."""
    n_items = len(item_starts) - 1
    if n_items <= 0:
        return []
    perm = np.random.default_rng([int(seed), int(epoch)]).permutation(n_items)
    starts, sizes = item_starts[perm], np.diff(item_starts)[perm]
    # every row position in the epoch's item order (one array: no per-row Python objects)
    ends = np.cumsum(sizes)
    order = np.repeat(starts - (ends - sizes), sizes) + np.arange(int(ends[-1]), dtype=np.int64)
    cuts, filled, pos = [], 0, 0
    for size in sizes.tolist():  # where batches end (a loop over items, not rows)
        if filled and filled + size > global_batch:
            cuts.append(pos)
            filled = 0
        while size > global_batch:
            pos += global_batch
            cuts.append(pos)
            size -= global_batch
        filled += size
        pos += size
    return [b for b in np.split(order, cuts) if len(b)]


def steps_per_epoch(item_starts: np.ndarray, seed: int, epochs: int, global_batch: int) -> list[int]:
    return [len(global_batches(item_starts, seed, e, global_batch)) for e in range(epochs)]


def cut_steps(steps: list, max_steps) -> list:
    """Steps per epoch for a run that stops after ``max_steps`` (None or 0: no limit); epochs left empty go."""
    if not max_steps:
        return list(steps)
    out, left = [], int(max_steps)
    for n in steps:
        if left <= 0:
            break
        out.append(min(int(n), left))
        left -= out[-1]
    return out


def rank_micro_batches(batch: np.ndarray, rank: int, micro: int, accum: int, world: int) -> list[np.ndarray]:
    """This rank's ``accum`` micro-batches of a global batch (possibly empty: dummy micro-batch)."""
    out = []
    for a in range(accum):
        k = a * world + rank
        out.append(batch[k * micro:(k + 1) * micro])
    return out


def heldout_micro_batches(n: int, rank: int, micro: int, world: int) -> list[np.ndarray]:
    """This rank's held-out micro-batches; every rank gets the same count (empty ones are dummies)."""
    chunks = [np.arange(s, min(s + micro, n)) for s in range(0, n, micro)]
    per_rank = math.ceil(len(chunks) / world) if chunks else 0
    mine = chunks[rank::world]
    return mine + [np.arange(0)] * (per_rank - len(mine))
