"""CPU stages: rows/s of ingest, answer choice, target fan-out, subsets (LL/TL/LT/TT variants),
code-switching and parallel tasks, and peak memory of the streaming plan at growing input sizes.

Two measurements:
1. per-stage throughput: each pure stage function timed in-process on one large batch
   (steady state: a warm-up call first, then the best of 3). Besides rows/s in the stage's own unit,
   ``items_per_s`` gives the rate in input items (one generation row is one item; an item becomes 2
   (item, target) rows and 8 variants with 2 targets and 4 subsets), which is what compares with the
   generation stage's rows/s; parallel tasks are built from sentence pairs, not items.
2. the streaming plan on Ray Data at 10k / 100k / 1M input rows: ingest -> answer choice ->
   (item, target) rows -> subsets -> code-switch -> Parquet sink, built by the project's own plan
   builder (``sdrrl_ray.transfer.plan.build_plan`` on ``plan_steps``) with the model stages
   (generation, translation + filter) swapped for stand-ins so only CPU work is timed (the gold
   answer is used, and the "translation" columns copy the source text). Each size runs on a fresh
   local Ray instance.
   Memory is sampled every 0.2 s over the driver and all its descendants (GCS, raylet, workers):
   ``peak_mb`` is the largest sum of their proportional set sizes without shared-memory pages
   (Pss_Anon + Pss_File) plus the bytes in use in Ray's object store. ``peak_rss_mb``, the largest
   sum of RSS, is kept for comparison with older results; it counts every shared page (libraries,
   object store) once per process that maps it, so it grows with the number of worker processes.

    python benchmarks/bench_cpu_stages.py --sizes 10000,100000,1000000
    python benchmarks/bench_cpu_stages.py --sizes 2000 --quick      # seconds; results are not saved
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time

import numpy as np

from sdrrl_ray.demo.assets import demo_data_dir
from sdrrl_ray.schema import VARIANTS


def synthetic_instructions(path: str, n: int, seed: int = 0) -> None:
    """n Alpaca-style records built from the demo instructions (varied, unique by suffix)."""
    base = [json.loads(line) for line in open(os.path.join(demo_data_dir(), "instructions.jsonl"), encoding="utf-8")]
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            rec = dict(rng.choice(base))
            rec["instruction"] = f"{rec['instruction']} (#{i})"
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def timed(fn, *args, repeat: int = 3, **kwargs) -> float:
    fn(*args, **kwargs)  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best


TARGETS = ["ja", "th"]
SUBSETS = list(VARIANTS)  # LL, TL, LT, TT


def stage_throughput(n: int) -> list[dict]:
    from sdrrl_ray.config import DataConfig
    from sdrrl_ray.ingest.files import iter_rows, list_inputs
    from sdrrl_ray.parallel.corpus import read_parallel
    from sdrrl_ray.parallel.tasks import make_tasks
    from sdrrl_ray.stages.answer_choice import choose_answers
    from sdrrl_ray.stages.assemble import assemble
    from sdrrl_ray.stages.code_switch import CodeSwitcher
    from sdrrl_ray.stages.targets import expand_targets

    tmp = tempfile.mkdtemp()
    out = []

    def record(stage: str, fn: str, unit: str, rows: int, secs: float, per_item: float | None) -> None:
        """per_item: rows of this stage per input item (None: not built from items)."""
        out.append({"stage": stage, "fn": fn, "unit": unit, "rows": rows, "rows_per_s": rows / secs,
                    "items_per_s": rows / per_item / secs if per_item else None})

    try:
        path = os.path.join(tmp, "in.jsonl")
        synthetic_instructions(path, n)
        cfg = DataConfig(path=path)
        files = list_inputs(cfg)
        secs = timed(lambda: sum(1 for _ in iter_rows(files, cfg)))
        record("ingest", "ingest.iter_rows", "record", n, secs, 1)
        rows = list(iter_rows(files, cfg))
        batch = {k: np.array([r.get(k) for r in rows], dtype=object) for k in rows[0]}
        batch["record"] = np.array([r["record"] for r in rows])
        secs = timed(lambda: choose_answers(dict(batch), mode="mixed", p_self=0.5, seed=0))
        record("answer_choice", "answer_choice.choose_answers", "item", n, secs, 1)
        b = choose_answers(dict(batch), mode="mixed", p_self=0.5, seed=0)
        b["answer"] = b["gold_answer"]
        b["src_lang"] = np.array(["en"] * n, dtype=object)
        secs = timed(lambda: expand_targets(dict(b), targets=TARGETS))
        record("target_fanout", "fanout.expand_targets", "item", n, secs, 1)
        pairs = expand_targets(dict(b), targets=TARGETS).to_pydict()
        m = len(pairs["item_id"])
        pb = {k: np.array(v, dtype=object) for k, v in pairs.items()}
        pb["question_tgt"], pb["answer_tgt"] = pb["question_src"], pb["answer_src"]
        pb["question_ok"] = pb["answer_ok"] = np.ones(m, dtype=bool)
        pb["question_reason"] = pb["answer_reason"] = np.full(m, None, dtype=object)
        secs = timed(lambda: assemble(dict(pb), subsets=SUBSETS, source_lang="en"))
        record("subsets", "fanout.assemble (LL/TL/LT/TT)", "item-target", m, secs, m / n)
        variants = assemble(dict(pb), subsets=SUBSETS, source_lang="en").to_pydict()
        vb = {k: np.array(v, dtype=object) for k, v in variants.items()}
        switcher = CodeSwitcher(os.path.join(demo_data_dir(), "dictionaries"), "en", TARGETS, p=0.15, seed=0)
        k = len(vb["id"])
        secs = timed(lambda: switcher(dict(vb)))
        record("code_switch", "codeswitch.CodeSwitcher", "variant", k, secs, k / n)
        corpus = read_parallel(os.path.join(demo_data_dir(), "parallel", "en-ja.tsv"), src_iso="en", tgt_iso="ja",
                               n_pairs=None, seed=0)
        pairs_list = (corpus.pairs * (1 + n // max(1, len(corpus.pairs))))[:n]
        secs = timed(lambda: make_tasks(pairs_list, src_iso="en", tgt_iso="ja", seed=0))
        record("parallel_tasks", "parallel_tasks.make_tasks", "pair", len(pairs_list), secs, None)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fake_translation(batch: dict):
    """Stand-in for the model stages in this CPU-only benchmark: the 'translation' is the source text."""
    from sdrrl_ray.schema import to_arrow

    n = len(batch["item_id"])
    batch["question_tgt"], batch["answer_tgt"] = batch["question_src"], batch["answer_src"]
    batch["question_ok"] = batch["answer_ok"] = np.ones(n, dtype=bool)
    batch["question_reason"] = batch["answer_reason"] = np.full(n, None, dtype=object)
    return to_arrow(batch)


def gold_as_answer(batch: dict) -> dict:
    """Stand-in for generation: every item keeps its gold answer (answer.mode=gold)."""
    return {**batch, "answer": batch["gold_answer"]}


# the plan's steps, in its order, with generation and translation + filter swapped for the stand-ins
CPU_PLAN = ["answer_choice", "run_columns", "gold_as_answer", "expand_targets", "fake_translation", "assemble",
            "code_switch"]


def plan_config(path: str):
    """The transfer-set config this benchmark's plan is built from: gold answers, 2 targets, the four
    variants, code-switching with the demo dictionaries in one actor (batch 1024, 0.5 CPU)."""
    from sdrrl_ray.config import (
        ActorPoolConfig,
        AnswerConfig,
        CodeSwitchConfig,
        Config,
        DataConfig,
        LanguagesConfig,
        TransferConfig,
    )

    return Config(
        seed=0, data=DataConfig(path=path), languages=LanguagesConfig(source="en", targets=tuple(TARGETS)),
        answer=AnswerConfig(mode="gold", p_self=0.5), transfer=TransferConfig(subsets=tuple(SUBSETS)),
        code_switch=CodeSwitchConfig(p=0.15, dictionaries=os.path.join(demo_data_dir(), "dictionaries"),
                                     pool=ActorPoolConfig(min_actors=1, max_actors=1, num_cpus=0.5, batch_size=1024)),
    )


def cpu_steps(cfg, inputs) -> list:
    """``plan_steps(cfg, inputs)`` with the model stages swapped for stand-ins, so only CPU work is timed."""
    from sdrrl_ray.schema import StageColumns
    from sdrrl_ray.stages import filter as filter_stage
    from sdrrl_ray.stages import generate, translate
    from sdrrl_ray.transfer.plan import LIGHT, Step, plan_steps

    gold = StageColumns.of("gold_as_answer", inputs=("gold_answer",), outputs=("answer",))
    copy = StageColumns.of("fake_translation", inputs=("item_id", "question_src", "answer_src"),
                           outputs=("question_tgt", "answer_tgt", "question_ok", "answer_ok", "question_reason",
                                    "answer_reason"))
    stand_ins = {
        generate.COLUMNS.name: [Step(gold, lambda ds: ds.map_batches(gold_as_answer, **LIGHT))],
        translate.COLUMNS.name: [Step(copy, lambda ds: ds.map_batches(fake_translation, **LIGHT))],
        filter_stage.COLUMNS.name: [],
    }
    steps = [s for step in plan_steps(cfg, inputs) for s in stand_ins.get(step.name, [step])]
    assert [s.name for s in steps] == CPU_PLAN, f"the plan's steps changed: {[s.name for s in steps]}"
    return steps


def streaming_plan(n: int) -> dict:
    from benchmarks.memory import PeakMemory
    from sdrrl_ray.ingest.files import list_inputs
    from sdrrl_ray.layout.sink import SplitParquetSink
    from sdrrl_ray.stages.read import read_instructions
    from sdrrl_ray.transfer.plan import SINK, PlanInputs, build_plan

    tmp = tempfile.mkdtemp()
    try:
        path = os.path.join(tmp, "in.jsonl")
        synthetic_instructions(path, n)
        cfg = plan_config(path)
        inputs = PlanInputs(files=list_inputs(cfg.data), model_path="", generation_cache_url="")
        source = read_instructions(inputs.files, cfg.data, block_rows=1024)
        ds = build_plan(cfg, inputs, source=source, steps=cpu_steps(cfg, inputs))
        with PeakMemory() as mem:
            t0 = time.perf_counter()
            ds.write_datasink(SplitParquetSink(os.path.join(tmp, "out"), min_rows=8192), **SINK)
            secs = time.perf_counter() - t0
        return {"rows": n, "seconds": secs, "input_rows_per_s": n / secs,
                "variant_rows": n * len(TARGETS) * len(SUBSETS),
                "block_bytes_cap": ds.context.target_max_block_size, **mem.peak}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def generation_rows_per_s() -> dict | None:
    """Pipeline-side generation rows/s from the saved generation results: the fastest (the strictest
    bar for the CPU stages) and, under ``all``, every one."""
    from benchmarks.common import RESULTS
    from sdrrl_ray.planner.rates import load_results

    found = []
    for path, res in load_results(RESULTS):
        name = os.path.basename(path)
        if not name.startswith("generate"):
            continue
        model = res.get("model", {})
        for r in res.get("results", []):
            if r.get("side") == "pipeline":
                found.append({"rows_per_s": r["rows_per_s"], "file": name, "engine": res.get("engine"),
                              "batch_size": r.get("batch_size"), "model": model.get("spec") or model.get("path"),
                              "params": model.get("params"), "device": res.get("device", "cpu")})
    if not found:
        return None
    return {**max(found, key=lambda g: g["rows_per_s"]), "all": found}


def plot(path: str, stages: list[dict], plans: list[dict], gen: dict | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    names = [s["stage"] for s in stages]
    x = np.arange(len(names))
    ax1.bar(x - 0.2, [s["rows_per_s"] for s in stages], 0.4, label="rows/s (stage's unit)", color="#4472c4")
    ax1.bar(x + 0.2, [s["items_per_s"] or 0 for s in stages], 0.4, label="input items/s", color="#a5a5a5")
    if gen:
        ax1.axhline(20 * gen["rows_per_s"], color="#c00000", ls="--", lw=1,
                    label=f"20x generation ({gen['rows_per_s']:.0f} rows/s)")
    ax1.set_yscale("log")
    ax1.set_xticks(x, names, rotation=20, ha="right", fontsize=8)
    ax1.set_ylabel("per second (one process)")
    ax1.set_title("CPU stages, steady state", fontsize=10)
    ax1.legend(fontsize=7)
    labels = [f"{p['rows']:,}" for p in plans]
    xs = np.arange(len(plans))
    procs = [p["peak_mb"] - p["object_store_mb_at_peak"] for p in plans]
    ax2.bar(xs, procs, 0.5, label="processes (PSS without shm)", color="#4472c4")
    ax2.bar(xs, [p["object_store_mb_at_peak"] for p in plans], 0.5, bottom=procs, label="object store in use",
            color="#ed7d31")
    ax2.plot(xs, [p["peak_rss_mb"] for p in plans], "k^--", lw=1, label="sum of RSS (overcounts shared)")
    for i, p in enumerate(plans):
        ax2.text(i, p["peak_mb"], f"{p['peak_mb']:.0f}", ha="center", va="bottom", fontsize=8)
    ax2.set_xticks(xs, labels)
    ax2.set_xlabel("input rows")
    ax2.set_ylabel("peak MB")
    ax2.set_title("Streaming plan (no model stages), memory at its peak", fontsize=10)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--stage-rows", type=int, default=20000, help="rows for the per-stage timing")
    ap.add_argument("--quick", action="store_true", help="tiny run for the test suite; results are not saved")
    args = ap.parse_args()

    import ray

    from benchmarks.common import machine, save, table

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    stages = stage_throughput(min(args.stage_rows, 2000) if args.quick else args.stage_rows)
    gen = generation_rows_per_s()
    for s in stages:
        s["rows_per_s"] = round(s["rows_per_s"], 1)
        s["items_per_s"] = round(s["items_per_s"], 1) if s["items_per_s"] is not None else None
        if gen:
            s["x_generation"] = round((s["items_per_s"] or s["rows_per_s"]) / gen["rows_per_s"], 1)
    print(table(stages, ["stage", "fn", "unit", "rows", "rows_per_s", "items_per_s", "x_generation"]))

    plans = []
    cols = ["rows", "seconds", "input_rows_per_s", "variant_rows", "peak_mb", "object_store_mb_at_peak",
            "processes_at_peak", "peak_object_store_mb", "peak_pss_mb", "peak_rss_mb"]
    for n in [int(x) for x in args.sizes.split(",")]:
        # a fresh instance per size: worker processes left idle by one size are not counted in the next
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            r = streaming_plan(n)
        finally:
            ray.shutdown()
        plans.append({k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()})
        print(table(plans[-1:], cols))

    def growth(key: str) -> float:
        return round(plans[-1][key] / plans[0][key] - 1, 3) if len(plans) > 1 and plans[0][key] else 0.0

    def spread(key: str) -> float:
        return round(max(p[key] for p in plans) / min(p[key] for p in plans) - 1, 3)

    slowest = min(stages, key=lambda s: s.get("x_generation", float("inf")))
    targets = {
        "generation": gen,
        "stage_speed": {"need": ">= 20x generation rows/s (items/s for stages built from items)",
                        "slowest_stage": slowest["stage"], "x_generation": slowest.get("x_generation"),
                        "met": bool(gen) and slowest["x_generation"] >= 20} if gen else None,
        "memory": {"need": "peak_mb flat within 20% over all sizes (largest / smallest - 1 <= 0.2)",
                   "sizes": [p["rows"] for p in plans], "spread": spread("peak_mb"), "met": spread("peak_mb") <= 0.2},
    }
    result = {"benchmark": "cpu_stages", "stages": stages, "plan": plans,
              "peak_growth_first_to_last": growth("peak_mb"), "peak_spread": spread("peak_mb"),
              "rss_growth_first_to_last": growth("peak_rss_mb"),
              "targets": targets, "machine": machine()}
    if not args.quick:
        path = save("cpu_stages", result)
        plot(path.replace(".json", ".png"), stages, plans, gen)
    print(json.dumps({k: result[k] for k in ("benchmark", "stages", "plan", "peak_growth_first_to_last", "peak_spread",
                                             "rss_growth_first_to_last", "targets")}))


if __name__ == "__main__":
    main()
