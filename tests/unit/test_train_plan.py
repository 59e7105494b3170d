"""Held-out split, Eq. 6 weights and the deterministic batch plan (pure functions)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from sdrrl_ray.train import plan


def rows(n_items=10, variants=("LL", "TL", "LT", "TT"), n_mt=5):
    ids, items, subsets = [], [], []
    for k in range(n_items):
        for v in variants:
            ids.append(f"i{k:02d}:{v}")
            items.append(f"i{k:02d}")
            subsets.append(v)
    for k in range(n_mt):
        ids.append(f"par{k}:mt")
        items.append(f"par{k}")
        subsets.append("mt")
    return ids, items, subsets


def row_ids(idx, ids, which="train") -> list:
    """The ids of the index's training (or held-out) rows, in index order."""
    by_key = dict(zip(plan.row_keys(ids).tolist(), ids))
    return [by_key[k] for k in getattr(idx, f"{which}_keys").tolist()]


def test_heldout_split_by_item_is_fixed_and_sized():
    ids, items, _ = rows(40)
    a = plan.heldout_items(items, 0.1, seed=0)
    assert len(a) == round(0.1 * 45) and a == plan.heldout_items(list(reversed(items)), 0.1, seed=0)
    assert a != plan.heldout_items(items, 0.1, seed=1)
    assert plan.heldout_items(items, 0.0, 0) == set()
    assert len(plan.heldout_items(["a", "b", "c"], 0.01, 0)) == 1  # a positive fraction holds out at least one
    assert plan.heldout_items(["a"], 0.5, 0) == set()  # never the only item


def test_eq6_weights_equalise_subsets():
    subsets = ["LL"] * 6 + ["TT"] * 3 + ["mt"] * 1
    w = plan.example_weights(subsets, "eq6")
    assert w.mean() == pytest.approx(1.0)
    per_subset = {s: w[[i for i, x in enumerate(subsets) if x == s]].sum() for s in set(subsets)}
    assert all(v == pytest.approx(10 / 3) for v in per_subset.values())  # each subset's total weight is N/K
    assert plan.example_weights(subsets, "mean").tolist() == [1.0] * 10
    with pytest.raises(ValueError, match="loss_weighting"):
        plan.example_weights(subsets, "tokens")


def test_index_sorts_by_item_and_weights_training_rows_only():
    ids, items, subsets = rows(20)
    perm = np.random.default_rng(3).permutation(len(ids))
    idx = plan.build_index([ids[i] for i in perm], [items[i] for i in perm], [subsets[i] for i in perm],
                           heldout_fraction=0.2, seed=0, weighting="eq6")
    train, held = row_ids(idx, ids), row_ids(idx, ids, "heldout")
    assert train == sorted(train) and idx.n_train + idx.n_heldout == len(ids) and held == sorted(held)
    held_items = {i.split(":")[0] for i in held}
    assert held_items and not held_items & {i.split(":")[0] for i in train}
    train_subsets = [idx.subset_names[c] for c in idx.train_codes]
    assert train_subsets == [subsets[ids.index(i)] for i in train]
    counts = Counter(train_subsets)
    for s, n in counts.items():
        w = idx.train_weights[[k for k, x in enumerate(train_subsets) if x == s]]
        assert w == pytest.approx(idx.n_train / (len(counts) * n))
        assert idx.subset_counts()[s] == (n, pytest.approx(w[0]))
    starts = idx.item_starts
    assert starts[0] == 0 and starts[-1] == idx.n_train
    for a, b in zip(starts[:-1], starts[1:]):
        assert len({train[k].split(":")[0] for k in range(a, b)}) == 1
    assert len(starts) - 1 == len({i.split(":")[0] for i in train})


def test_index_from_arrow_columns_equals_the_index_from_lists_and_ids_must_be_unique():
    import pyarrow as pa

    ids, items, subsets = rows(9)
    a = plan.build_index(ids, items, subsets, heldout_fraction=0.2, seed=4, weighting="eq6")
    chunked = [pa.chunked_array([pa.array(x[:7]), pa.array(x[7:])]) for x in (ids, items, subsets)]
    b = plan.build_index(*chunked, heldout_fraction=0.2, seed=4, weighting="eq6")
    for name in ("train_keys", "train_codes", "train_weights", "item_starts", "heldout_keys", "heldout_weights"):
        assert getattr(a, name).tolist() == getattr(b, name).tolist()
    with pytest.raises(ValueError, match="unique.*i00:LL"):
        plan.build_index(ids + ["i00:LL"], items + ["i00"], subsets + ["LL"], heldout_fraction=0.0, seed=0,
                         weighting="eq6")


def reference_batches(item_starts, seed, epoch, G) -> list:
    """The batching rule written row by row: items in the seeded order, a batch closed when the next item
    does not fit, an item larger than G cut into G-row pieces."""
    perm = np.random.default_rng([seed, epoch]).permutation(len(item_starts) - 1)
    out, current = [], []
    for item in perm:
        rows_ = list(range(item_starts[item], item_starts[item + 1]))
        if current and len(current) + len(rows_) > G:
            out, current = out + [current], []
        while len(rows_) > G:
            out, rows_ = out + [rows_[:G]], rows_[G:]
        current += rows_
    return out + ([current] if current else [])


def test_epoch_batches_follow_the_rule_for_any_item_sizes():
    rng = np.random.default_rng(0)
    for trial in range(200):
        starts = np.r_[0, np.cumsum(rng.integers(1, 12, int(rng.integers(1, 40))))].astype(np.int64)
        G = int(rng.integers(1, 20))
        got = [b.tolist() for b in plan.global_batches(starts, 5, trial % 3, G)]
        assert got == reference_batches(starts, 5, trial % 3, G)
    assert plan.global_batches(np.zeros(1, np.int64), 0, 0, 4) == []


def test_max_steps_cuts_the_epochs():
    assert plan.cut_steps([5, 5, 5], None) == [5, 5, 5] == plan.cut_steps([5, 5, 5], 0)
    assert plan.cut_steps([5, 5, 5], 7) == [5, 2]
    assert plan.cut_steps([5, 5, 5], 5) == [5]
    assert plan.cut_steps([5, 5], 99) == [5, 5]


@pytest.mark.parametrize("G", [1, 3, 4, 8, 16])
def test_epoch_batches_cover_each_row_once_and_keep_items_together(G):
    ids, items, subsets = rows(13)
    idx = plan.build_index(ids, items, subsets, heldout_fraction=0.0, seed=0, weighting="eq6")
    train = row_ids(idx, ids)
    for epoch in range(3):
        batches = plan.global_batches(idx.item_starts, 7, epoch, G)
        flat = np.concatenate(batches)
        assert sorted(flat.tolist()) == list(range(idx.n_train))
        assert all(1 <= len(b) <= G for b in batches)
        if G >= 4:  # the four variants of an item share a batch whenever it fits
            where = {}
            for n, b in enumerate(batches):
                for p in b:
                    where.setdefault(train[p].split(":")[0], set()).add(n)
            assert all(len(v) == 1 for v in where.values())
    e0 = plan.global_batches(idx.item_starts, 7, 0, G)
    assert [b.tolist() for b in e0] == [b.tolist() for b in plan.global_batches(idx.item_starts, 7, 0, G)]
    e1 = plan.global_batches(idx.item_starts, 7, 1, G)
    assert [b.tolist() for b in e0] != [b.tolist() for b in e1]


@pytest.mark.parametrize("micro,accum,world", [(1, 4, 2), (4, 1, 2), (2, 2, 2), (8, 1, 1), (1, 1, 8)])
def test_micro_batches_partition_a_global_batch(micro, accum, world):
    batch = np.arange(100, 100 + micro * accum * world - 3)  # a partial batch: some slots short or empty
    got = []
    for rank in range(world):
        mbs = plan.rank_micro_batches(batch, rank, micro, accum, world)
        assert len(mbs) == accum and all(len(m) <= micro for m in mbs)
        got += [p for m in mbs for p in m]
    assert sorted(got) == batch.tolist()


def test_heldout_micro_batches_same_count_on_every_rank():
    for n in (0, 1, 5, 9):
        per_rank = [plan.heldout_micro_batches(n, r, micro=2, world=3) for r in range(3)]
        assert len({len(x) for x in per_rank}) == 1
        assert sorted(int(p) for x in per_rank for m in x for p in m) == list(range(n))
