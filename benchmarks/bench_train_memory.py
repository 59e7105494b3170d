"""Training memory against the size of the transfer set: peak resident memory of each training worker
and of the driver at 10k / 100k / 1M rows (short rows, the demo's tiny Llama, a few steps each).

Each size is ``sdrrl train`` (``run_train``) in a fresh driver process on a fresh local Ray: tokenization,
the row index (a Ray task), two workers that stream the tokenized set once into their row stores
(``sdrrl_ray/train/rowstore.py``), ``--steps`` optimizer steps (``train.max_steps``), the checkpoint and the
export. The transfer set (4 variants per item, ``ja``, a question and an answer of a few words) is written
by this parent process, which is not measured. Peaks are ``ru_maxrss`` (the most resident memory the
process had at any time): each worker's from the run's summary (``peak_rss_mb``), the driver's from its
own process.

    python benchmarks/bench_train_memory.py                       # 10k, 100k, 1M rows, 3 steps
    python benchmarks/bench_train_memory.py --rows 2000,8000 --steps 1 --no-save

Prints a table and a last-line JSON; writes benchmarks/results/train_memory.{json,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.common import RESULTS, machine, save, save_figure, table  # noqa: E402

VARIANTS = ("LL", "TL", "LT", "TT")
PART_ROWS = 100_000


def write_transfer_set(out: str, n_rows: int) -> None:
    """``n_rows`` rows of ``n_rows / 4`` items in ``OUT/transfer_set/part-*.parquet``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = os.path.join(out, "transfer_set")
    os.makedirs(folder, exist_ok=True)
    for part, start in enumerate(range(0, n_rows, PART_ROWS)):
        rows = range(start, min(n_rows, start + PART_ROWS))
        items = [f"item{r // 4:07d}" for r in rows]
        subsets = [VARIANTS[r % 4] for r in rows]
        pq.write_table(pa.table({
            "id": [f"{i}:{s}:ja" for i, s in zip(items, subsets)],
            "item_id": items,
            "subset": subsets,
            "tgt_lang": ["ja"] * len(rows),
            "question": [f"What is {r % 997} plus {r % 89}?" for r in rows],
            "answer": [f"It is {r % 997 + r % 89}." for r in rows],
        }), os.path.join(folder, f"part-{part:05d}.parquet"))


def one(out: str, steps: int) -> dict:
    """Child process: the training run on ``out``; the driver's and the workers' peaks."""
    from sdrrl_ray.config import load_config
    from sdrrl_ray.runtime import console_env
    from sdrrl_ray.train.run import run_train

    console_env()
    cfg = load_config(os.path.join(ROOT, "jobs", "configs", "demo.yaml"), [
        f"out_dir={out}", "languages.targets=[ja]", "train.epochs=1", f"train.max_steps={steps}",
        "train.heldout_fraction=0.0", "train.max_length=64", "train.export_every_epoch=false"])
    t0 = time.perf_counter()
    summary = run_train(cfg)["targets"]["ja"]
    seconds = time.perf_counter() - t0
    log = [json.loads(line) for line in open(os.path.join(out, "train_log.jsonl"))]
    store_s = [r["seconds"] for r in log if r.get("event") == "rows"]
    result = summary["result"]
    return dict(rows=summary["tokenize"]["rows"], steps=result["steps"], peak_rss_mb=result["peak_rss_mb"],
                peak_mb_driver=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                row_store_s=store_s[-1] if store_s else None, seconds=round(seconds, 1),
                tokens=summary["tokenize"]["tokens"])


def measure(n_rows: int, steps: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="sdrrl-trainmem-") as out:
        write_transfer_set(out, n_rows)
        env = dict(os.environ, PYTHONPATH=ROOT, RAY_AUTH_MODE="disabled")
        done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", out, "--steps", str(steps)],
                              capture_output=True, text=True, env=env, cwd=ROOT)
        if done.returncode != 0:
            raise SystemExit(f"the run at {n_rows} rows failed:\n{(done.stdout + done.stderr)[-4000:]}")
        return json.loads([line for line in done.stdout.splitlines() if line.startswith('{"rows"')][-1])


def plot(path: str, rows: list, workers: list, driver: list) -> None:
    """Both peaks against the number of rows, the growth from the smallest to the largest in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.plot(rows, workers, "o-", label="largest training worker")
    ax.plot(rows, driver, "s-", label="driver")
    ax.set_xscale("log")
    ax.set_ylim(0, max(workers + driver) * 1.3)
    ax.set_xlabel("rows in the transfer set (log scale)")
    ax.set_ylabel("peak resident memory (MB)")
    ax.set_title(f"Peak memory in sdrrl train, {rows[0]:,} -> {rows[-1]:,} rows:\nlargest worker "
                 f"{workers[-1] / workers[0]:.2f}x, driver {driver[-1] / driver[0]:.2f}x", fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", default="10000,100000,1000000")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one(args.child, args.steps)))
        return
    sizes = [int(x) for x in args.rows.split(",")]
    runs = [measure(n, args.steps) for n in sizes]
    workers = [max(r["peak_rss_mb"]) for r in runs]
    driver = [r["peak_mb_driver"] for r in runs]
    result = dict(rows=sizes, peak_mb_per_worker=workers, peak_mb_driver=driver,
                  worker_growth=round(workers[-1] / workers[0], 3), driver_growth=round(driver[-1] / driver[0], 3),
                  steps=args.steps, runs=runs, machine=machine(),
                  note="ru_maxrss per process; each size a fresh driver and a fresh local Ray; 2 workers, demo model")
    print(table([dict(rows=n, tokens=r["tokens"], worker_mb=w, driver_mb=d, row_store_s=r["row_store_s"],
                      run_s=r["seconds"]) for n, r, w, d in zip(sizes, runs, workers, driver)],
                ["rows", "tokens", "worker_mb", "driver_mb", "row_store_s", "run_s"]))
    if not args.no_save:
        save("train_memory", result)
        plot(os.path.join(RESULTS, "train_memory.png"), sizes, workers, driver)
    print(json.dumps({k: v for k, v in result.items() if k not in ("runs", "machine")}))


if __name__ == "__main__":
    main()
