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
    assert idx.train_ids == sorted(idx.train_ids) and idx.n_train + len(idx.heldout_ids) == len(ids)
    held_items = {i.split(":")[0] for i in idx.heldout_ids}
    assert not held_items & {i.split(":")[0] for i in idx.train_ids}
    counts = Counter(idx.train_subsets)
    for s, n in counts.items():
        w = idx.train_weights[[k for k, x in enumerate(idx.train_subsets) if x == s]]
        assert w == pytest.approx(idx.n_train / (len(counts) * n))
    starts = idx.item_starts
    assert starts[0] == 0 and starts[-1] == idx.n_train
    for a, b in zip(starts[:-1], starts[1:]):
        assert len({idx.train_ids[k].split(":")[0] for k in range(a, b)}) == 1


@pytest.mark.parametrize("G", [1, 3, 4, 8, 16])
def test_epoch_batches_cover_each_row_once_and_keep_items_together(G):
    ids, items, subsets = rows(13)
    idx = plan.build_index(ids, items, subsets, heldout_fraction=0.0, seed=0, weighting="eq6")
    for epoch in range(3):
        batches = plan.global_batches(idx.item_starts, 7, epoch, G)
        flat = np.concatenate(batches)
        assert sorted(flat.tolist()) == list(range(idx.n_train))
        assert all(1 <= len(b) <= G for b in batches)
        if G >= 4:  # the four variants of an item share a batch whenever it fits
            where = {}
            for n, b in enumerate(batches):
                for p in b:
                    where.setdefault(idx.train_ids[p].split(":")[0], set()).add(n)
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
