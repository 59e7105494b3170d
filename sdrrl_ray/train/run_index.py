"""The run's row index, built in a Ray task from the tokenized set's metadata columns: the driver keeps
a reference to it and a few counts, never a Python object per row (its memory stays flat at any size).
"""

from __future__ import annotations

from sdrrl_ray.train import plan as planlib


def tokenize_counts(table) -> dict:
    """Rows, their status (ok / trimmed / rejected, with reasons) and token sums of a metadata table."""
    import pyarrow.compute as pc

    def counts(column) -> dict:
        return {r["values"]: r["counts"] for r in pc.value_counts(column).to_pylist()}

    status = counts(table["status"])
    rejected = table.filter(pc.equal(table["status"], "rejected"))
    return dict(rows=table.num_rows, ok=status.get("ok", 0), trimmed=status.get("trimmed", 0),
                rejected=status.get("rejected", 0), reject_reasons=counts(rejected["reason"]),
                tokens=int(pc.sum(table["n_tokens"]).as_py() or 0),
                answer_tokens=int(pc.sum(table["n_answer"]).as_py() or 0))


def index_runs(meta_refs: list, groups: list, *, heldout_fraction: float, seed: int, weighting: str,
               global_batch: int, epochs: int, max_steps) -> tuple:
    """For each group of targets, its Index then its info (flat: Index, info, Index, info, ...); info holds the
    targets present in the set, the tokenization counts, held-out and training sizes, subsets with weights
    and the steps per epoch. The metadata table is read once for all groups."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import ray

    table = pa.concat_tables(ray.get(list(meta_refs)))
    present = sorted(pc.unique(table["tgt_lang"]).to_pylist())
    out: list = []
    for targets in groups:
        rows = table.filter(pc.is_in(table["tgt_lang"], value_set=pa.array(list(targets), pa.string())))
        counts = tokenize_counts(rows)
        kept = rows.filter(pc.not_equal(rows["status"], "rejected"))
        del rows
        idx = planlib.build_index(kept["id"], kept["item_id"], kept["subset"], heldout_fraction=heldout_fraction,
                                  seed=seed, weighting=weighting)
        spe = planlib.cut_steps(planlib.steps_per_epoch(idx.item_starts, seed, epochs, global_batch), max_steps)
        out += [idx, dict(present=present, counts=counts, n_train=idx.n_train, n_items=idx.n_items,
                          n_heldout=idx.n_heldout, heldout_items=len(pc.unique(kept["item_id"])) - idx.n_items,
                          subsets=idx.subset_counts(), steps_per_epoch=spe)]
    return tuple(out)


def start(meta_refs: list, groups: list, **kw) -> list:
    """Launch :func:`index_runs` as one Ray task: per group, (ref to its Index, ref to its info)."""
    import ray

    refs = ray.remote(index_runs).options(num_returns=2 * len(groups), num_cpus=1).remote(meta_refs, groups, **kw)
    return [(refs[2 * k], refs[2 * k + 1]) for k in range(len(groups))]
