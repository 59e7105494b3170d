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
    """Training and held-out rows, sorted by (item_id, id)."""

    train_ids: list
    train_subsets: list
    train_weights: np.ndarray  # float64, one per training row
    item_starts: np.ndarray  # int64, start of each training item in train_ids, plus len(train_ids)
    heldout_ids: list
    heldout_subsets: list
    heldout_weights: np.ndarray

    @property
    def n_train(self) -> int:
        return len(self.train_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_starts) - 1


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
    names, inverse, counts = np.unique(np.asarray(subsets, dtype=object), return_inverse=True, return_counts=True)
    return n / (len(names) * counts[inverse].astype(np.float64))


def build_index(ids: list, item_ids: list, subsets: list, *, heldout_fraction: float, seed: int,
                weighting: str) -> Index:
    order = sorted(range(len(ids)), key=lambda i: (item_ids[i], ids[i]))
    held = heldout_items(item_ids, heldout_fraction, seed)
    train = [i for i in order if item_ids[i] not in held]
    heldout = [i for i in order if item_ids[i] in held]
    starts = [k for k, i in enumerate(train) if k == 0 or item_ids[i] != item_ids[train[k - 1]]]
    t_sub = [subsets[i] for i in train]
    h_sub = [subsets[i] for i in heldout]
    return Index(
        train_ids=[ids[i] for i in train],
        train_subsets=t_sub,
        train_weights=example_weights(t_sub, weighting),
        item_starts=np.asarray(starts + [len(train)], dtype=np.int64),
        heldout_ids=[ids[i] for i in heldout],
        heldout_subsets=h_sub,
        heldout_weights=example_weights(h_sub, weighting),
    )


def global_batches(item_starts: np.ndarray, seed: int, epoch: int, global_batch: int) -> list[np.ndarray]:
    """The epoch's global batches as arrays of training-row positions (whole items, at most G rows)."""
    n_items = len(item_starts) - 1
    perm = np.random.default_rng([int(seed), int(epoch)]).permutation(n_items)
    batches: list[np.ndarray] = []
    current: list[int] = []
    for item in perm:
        rows = list(range(int(item_starts[item]), int(item_starts[item + 1])))
        if current and len(current) + len(rows) > global_batch:
            batches.append(np.asarray(current, dtype=np.int64))
            current = []
        while len(rows) > global_batch:  # an item larger than a batch is cut
            batches.append(np.asarray(rows[:global_batch], dtype=np.int64))
            rows = rows[global_batch:]
        current.extend(rows)
    if current:
        batches.append(np.asarray(current, dtype=np.int64))
    return batches


def steps_per_epoch(item_starts: np.ndarray, seed: int, epochs: int, global_batch: int) -> list[int]:
    return [len(global_batches(item_starts, seed, e, global_batch)) for e in range(epochs)]


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
