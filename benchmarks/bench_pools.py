"""Do the CPU actor pools scale? Code-switching and the translation filter with 1 and 2 actors.

Each pool is timed on its own, as Ray Data runs it in the transfer-set plan (the plan's own ``map_batches``
arguments: ``code_switch_map_args`` / ``filter_map_args``), on input rows prepared once by the project's plan
builder: the CPU plan of ``bench_cpu_stages.py`` (gold answers, 2 targets, 4 variants; the translation stand-in
copies the source text) cut before the stage and written to Parquet. Then, on a fresh local Ray instance per run:
``read_parquet -> blocks of one batch (``batch_blocks``: in the plan these pools get many small blocks, the
generation and translation pools' blocks of one batch passed on by the light steps; Ray Data reads the small files
here as one block, which one actor would take alone) -> map_batches(<stage actor>, pool of A actors) -> iterate``.
Reported: rows/s over the whole run and steady rows/s: each setting runs twice, on a quarter of the input files
and on all of them, and the steady rate is the extra rows over the extra seconds (start-up and actor construction
cancel); for A = 1 and 2, and the ratio 2 / 1. Rows are variant rows for code-switching (8 per input
item) and (item, target, part) rows for the filter (4 per item).

    python benchmarks/bench_pools.py                          # 40,000 input items, both stages
    python benchmarks/bench_pools.py --items 500 --no-save    # smoke

Prints a table and a last-line JSON; writes benchmarks/results/pools.{json,png}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

STAGES = {"code_switch": "assemble", "filter": "fake_translation"}  # stage -> the plan step its input comes after


def prepare(items: int, tmp: str) -> tuple:
    """(config, {stage: parquet folder of the stage's input rows})."""
    import ray

    from benchmarks.bench_cpu_stages import cpu_steps, plan_config, synthetic_instructions
    from sdrrl_ray.ingest.files import list_inputs
    from sdrrl_ray.stages.read import read_instructions
    from sdrrl_ray.transfer.plan import PlanInputs

    path = os.path.join(tmp, "in.jsonl")
    synthetic_instructions(path, items)
    cfg = plan_config(path)
    inputs = PlanInputs(files=list_inputs(cfg.data), model_path="", generation_cache_url="")
    steps = cpu_steps(cfg, inputs)
    names = [s.name for s in steps]
    folders = {}
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for stage, after in STAGES.items():
            ds = read_instructions(inputs.files, cfg.data, block_rows=1024)
            for step in steps[:names.index(after) + 1]:  # the plan's own steps up to the stage's input
                ds = step.apply(ds)
            folders[stage] = os.path.join(tmp, stage)
            ds.repartition(16).write_parquet(folders[stage])
    finally:
        ray.shutdown()
    return cfg, folders


def run(stage: str, actors: int, cfg, folder: str, batch_size: int, share: float = 1.0) -> dict:
    """One run over the first ``share`` of the stage's input files, on a fresh local Ray."""
    import ray
    import ray.data

    from sdrrl_ray.config import ActorPoolConfig
    from sdrrl_ray.runtime import batch_blocks
    from sdrrl_ray.stages import code_switch
    from sdrrl_ray.stages import filter as filter_stage
    from sdrrl_ray.transfer.plan import code_switch_map_args, filter_map_args

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".parquet"))
        ds = ray.data.read_parquet(files[:max(1, round(len(files) * share))])
        if stage == "code_switch":
            pool = dataclasses.replace(cfg.code_switch.pool, min_actors=actors, max_actors=actors,
                                       batch_size=batch_size)
            stage_cls, args = code_switch.CodeSwitcher, code_switch_map_args(cfg, pool)
        else:
            pool = dataclasses.replace(ActorPoolConfig(), **{**dataclasses.asdict(cfg.filter.pool),
                                       "min_actors": actors, "max_actors": actors, "batch_size": batch_size})
            stage_cls, args = filter_stage.TranslationFilter, filter_map_args(cfg, pool)
        # small blocks, as in the plan (a read of small files is one block: one busy actor)
        ds = batch_blocks(ds, pool).map_batches(stage_cls, **args)
        rows = 0
        t0 = time.perf_counter()
        for batch in ds.iter_batches(batch_size=batch_size, batch_format="pyarrow"):
            rows += batch.num_rows
        total = time.perf_counter() - t0
        return dict(stage=stage, actors=actors, rows=rows, seconds=round(total, 3), rows_per_s=round(rows / total, 1),
                    num_cpus=pool.num_cpus, batch_size=batch_size)
    finally:
        ray.shutdown()


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=40000)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--stages", default="code_switch,filter")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from benchmarks.common import RESULTS, machine, save, table

    tmp = tempfile.mkdtemp(prefix="bench_pools_")
    try:
        cfg, folders = prepare(args.items, tmp)
        rows = []
        for stage in args.stages.split(","):
            for a in (1, 2):
                small, full = (run(stage, a, cfg, folders[stage], args.batch_size, share) for share in (0.25, 1.0))
                # steady rate: the extra rows of the full run over its extra time (start-up and read set-up cancel)
                extra_s = full["seconds"] - small["seconds"]
                full["steady_rows_per_s"] = round((full["rows"] - small["rows"]) / extra_s, 1) if extra_s > 0 else None
                full["rows_quarter"], full["seconds_quarter"] = small["rows"], small["seconds"]
                rows.append(full)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {}
    for stage in args.stages.split(","):
        one, two = (next(r for r in rows if r["stage"] == stage and r["actors"] == a) for a in (1, 2))
        for key in ("rows_per_s", "steady_rows_per_s"):
            two[f"{key}_vs_1"] = round(two[key] / one[key], 3) if one[key] and two[key] else None
        summary[stage] = {"rows_per_s_1": one["rows_per_s"], "rows_per_s_2": two["rows_per_s"],
                          "steady_1": one["steady_rows_per_s"], "steady_2": two["steady_rows_per_s"],
                          "steady_ratio": two["steady_rows_per_s_vs_1"]}
    print(table(rows, ["stage", "actors", "rows_quarter", "seconds_quarter", "rows", "seconds", "rows_per_s",
                       "steady_rows_per_s", "steady_rows_per_s_vs_1", "num_cpus", "batch_size"]))
    if not args.no_save:
        save("pools", dict(machine=machine(), settings=vars(args), results=rows, summary=summary))
        plot(os.path.join(RESULTS, "pools.png"), rows)
    print(json.dumps(summary))
    return summary


def plot(path: str, rows: list) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = list(dict.fromkeys(r["stage"] for r in rows))
    fig, axes = plt.subplots(1, len(stages), figsize=(3.4 * len(stages), 3.0))
    for ax, stage in zip(axes if len(stages) > 1 else [axes], stages):
        mine = [r for r in rows if r["stage"] == stage]
        ax.bar([f"{r['actors']} actor{'s' if r['actors'] > 1 else ''}" for r in mine],
               [r["steady_rows_per_s"] or 0.0 for r in mine], color="#4472c4")  # None: too small a run to tell
        ax.set_title(stage.replace("_", "-"), fontsize=9)
        ax.set_ylabel("steady rows/s")
    fig.suptitle("CPU actor pools, 1 vs 2 actors (2 cores)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
