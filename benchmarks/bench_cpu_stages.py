"""CPU stages: rows/s of ingest, answer choice, target fan-out + variants, code-switching and
parallel tasks, and peak memory of the streaming plan at growing input sizes.

Two measurements:
1. per-stage throughput: each pure stage function timed in-process on one large batch
   (steady state: a warm-up call first);
2. the streaming plan on Ray Data at 10k / 100k / 1M input rows: ingest -> answer choice ->
   (item, target) rows -> variants -> code-switch -> Parquet sink, with the model stages
   (generation, translation) left out so only CPU work is timed (the gold answer is used, and the
   "translation" columns copy the source text). Peak memory is the largest sum of RSS over the
   driver and all Ray worker processes, sampled every 0.2 s.

    python benchmarks/bench_cpu_stages.py --sizes 10000,100000,1000000
    python benchmarks/bench_cpu_stages.py --sizes 2000 --quick      # seconds; used by the test suite
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import threading
import time

import numpy as np
import psutil

from sdrrl_ray.demo.assets import demo_data_dir


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


def stage_throughput(n: int) -> list[dict]:
    from sdrrl_ray.answer_choice import choose_answers
    from sdrrl_ray.codeswitch import CodeSwitcher
    from sdrrl_ray.config import DataConfig
    from sdrrl_ray.fanout import assemble, expand_targets
    from sdrrl_ray.ingest import iter_rows, list_inputs
    from sdrrl_ray.parallel_tasks import make_tasks, read_parallel

    tmp = tempfile.mkdtemp()
    try:
        path = os.path.join(tmp, "in.jsonl")
        synthetic_instructions(path, n)
        cfg = DataConfig(path=path)
        files = list_inputs(cfg)
        out = []
        secs = timed(lambda: sum(1 for _ in iter_rows(files, cfg)), repeat=1)
        out.append({"stage": "ingest", "unit": "record", "rows": n, "rows_per_s": n / secs})
        rows = list(iter_rows(files, cfg))
        batch = {k: np.array([r.get(k) for r in rows], dtype=object) for k in rows[0]}
        batch["record"] = np.array([r["record"] for r in rows])
        secs = timed(lambda: choose_answers(dict(batch), mode="mixed", p_self=0.5, seed=0))
        out.append({"stage": "answer_choice", "unit": "item", "rows": n, "rows_per_s": n / secs})
        b = choose_answers(dict(batch), mode="mixed", p_self=0.5, seed=0)
        b["answer"] = b["gold_answer"]
        b["src_lang"] = np.array(["en"] * n, dtype=object)
        secs = timed(lambda: expand_targets(dict(b), targets=["ja", "th"]))
        pairs = expand_targets(dict(b), targets=["ja", "th"]).to_pydict()
        m = len(pairs["item_id"])
        out.append({"stage": "target_fanout", "unit": "item", "rows": n, "rows_per_s": n / secs})
        pb = {k: np.array(v, dtype=object) for k, v in pairs.items()}
        pb["question_tgt"], pb["answer_tgt"] = pb["question_src"], pb["answer_src"]
        pb["question_ok"] = pb["answer_ok"] = np.ones(m, dtype=bool)
        pb["question_reason"] = pb["answer_reason"] = np.full(m, None, dtype=object)
        secs = timed(lambda: assemble(dict(pb), subsets=["LL", "TL", "LT", "TT"], source_lang="en"))
        out.append({"stage": "variants", "unit": "item-target", "rows": m, "rows_per_s": m / secs})
        variants = assemble(dict(pb), subsets=["LL", "TL", "LT", "TT"], source_lang="en").to_pydict()
        vb = {k: np.array(v, dtype=object) for k, v in variants.items()}
        switcher = CodeSwitcher(os.path.join(demo_data_dir(), "dictionaries"), "en", ["ja", "th"], p=0.15, seed=0)
        k = len(vb["id"])
        secs = timed(lambda: switcher(dict(vb)))
        out.append({"stage": "code_switch", "unit": "variant", "rows": k, "rows_per_s": k / secs})
        corpus = read_parallel(os.path.join(demo_data_dir(), "parallel", "en-ja.tsv"), src_iso="en", tgt_iso="ja", n_pairs=None, seed=0)
        pairs_list = (corpus.pairs * (1 + n // max(1, len(corpus.pairs))))[:n]
        secs = timed(lambda: make_tasks(pairs_list, src_iso="en", tgt_iso="ja", seed=0), repeat=1)
        out.append({"stage": "parallel_tasks", "unit": "pair", "rows": len(pairs_list), "rows_per_s": len(pairs_list) / secs})
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class PeakRSS:
    """Largest sum of RSS over this process and all its descendants (Ray workers), sampled."""

    def __init__(self, interval: float = 0.2):
        self.peak, self.interval, self._stop = 0, interval, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(self.interval)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()


def _fake_translation(batch: dict):
    """Stand-in for the model stages in this CPU-only benchmark: the 'translation' is the source text."""
    from sdrrl_ray.columns import to_arrow

    n = len(batch["item_id"])
    batch["question_tgt"], batch["answer_tgt"] = batch["question_src"], batch["answer_src"]
    batch["question_ok"] = batch["answer_ok"] = np.ones(n, dtype=bool)
    batch["question_reason"] = batch["answer_reason"] = np.full(n, None, dtype=object)
    return to_arrow(batch)


def streaming_plan(n: int) -> dict:
    import ray

    from sdrrl_ray.answer_choice import choose_answers_arrow
    from sdrrl_ray.codeswitch import CodeSwitcher
    from sdrrl_ray.config import DataConfig
    from sdrrl_ray.fanout import assemble, expand_targets
    from sdrrl_ray.ingest import list_inputs, read_instructions
    from sdrrl_ray.pipeline import KEPT_SCHEMA, REJECT_SCHEMA, _add_run_columns
    from sdrrl_ray.sink import SplitParquetSink

    tmp = tempfile.mkdtemp()
    try:
        path = os.path.join(tmp, "in.jsonl")
        synthetic_instructions(path, n)
        cfg = DataConfig(path=path)
        light = dict(batch_size=None, num_cpus=0.25)
        ds = read_instructions(list_inputs(cfg), cfg, block_rows=1024)
        ds = ds.map_batches(choose_answers_arrow, fn_kwargs=dict(mode="gold", p_self=0.5, seed=0), **light)
        ds = ds.map_batches(_add_run_columns, fn_kwargs=dict(src="en", done_targets={}), **light)
        ds = ds.map_batches(lambda b: {**b, "answer": b["gold_answer"]}, **light)
        ds = ds.map_batches(expand_targets, fn_kwargs=dict(targets=["ja", "th"]), **light)
        ds = ds.map_batches(_fake_translation, **light)
        ds = ds.map_batches(assemble, fn_kwargs=dict(subsets=["LL", "TL", "LT", "TT"], source_lang="en"), **light)
        ds = ds.map_batches(CodeSwitcher, fn_constructor_args=(os.path.join(demo_data_dir(), "dictionaries"), "en", ["ja", "th"]),
                            fn_constructor_kwargs=dict(p=0.15, seed=0), compute=ray.data.ActorPoolStrategy(size=1),
                            batch_size=1024, num_cpus=0.5)
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            ds.write_datasink(SplitParquetSink(os.path.join(tmp, "out"), "transfer_set", KEPT_SCHEMA, REJECT_SCHEMA, min_rows=8192))
            secs = time.perf_counter() - t0
        return {"rows": n, "seconds": secs, "input_rows_per_s": n / secs, "variant_rows": n * 8,
                "peak_rss_mb": mem.peak / 2**20}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
    for s in stages:
        s["rows_per_s"] = round(s["rows_per_s"], 1)
    print(table(stages, ["stage", "unit", "rows", "rows_per_s"]))

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    plans = []
    for n in [int(x) for x in args.sizes.split(",")]:
        r = streaming_plan(n)
        plans.append({k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()})
        print(table(plans[-1:], ["rows", "seconds", "input_rows_per_s", "variant_rows", "peak_rss_mb"]))
    ray.shutdown()
    peak = [p["peak_rss_mb"] for p in plans]
    result = {"benchmark": "cpu_stages", "stages": stages, "plan": plans,
              "peak_growth_first_to_last": round(peak[-1] / peak[0] - 1, 3) if len(peak) > 1 else 0.0,
              "machine": machine()}
    if not args.quick:
        path = save("cpu_stages", result)
        from benchmarks.common import bar_plot

        bar_plot(path.replace(".json", ".png"), [s["stage"] for s in stages], [s["rows_per_s"] for s in stages],
                 "rows/s", "CPU stages, rows/s (one process, steady state)")
    print(json.dumps({k: result[k] for k in ("benchmark", "stages", "plan", "peak_growth_first_to_last")}))


if __name__ == "__main__":
    main()
