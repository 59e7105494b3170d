"""Fixed start-up costs of each phase, for the planner: the demo's pipeline with almost no work.

Two runs of the demo config cut to 4 instructions, 2 parallel pairs per target and 1 evaluation item per
task and language (``data.limit=4 parallel.n_pairs=2 eval.limit=1``), one with one target and one with
two, each in a fresh process on a fresh local Ray (``phase_times.py``). What such a run spends is start-up:
Ray, actor pools and model loads, tokenization, the Ray Train run and DeepSpeed initialisation, checkpoints
and exports, evaluation model loads. The two runs split each phase into a part per run and a part per
target (transfer set), per training run (train) or per evaluated model (eval); the planner adds these to
its per-token times (``sdrrl_ray/planner/startup.py``). Measured on this machine kind only: the planner
uses them for CPU node types.

    python benchmarks/bench_startup.py            # writes benchmarks/results/startup.json

Prints a table and a last-line JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.common import machine, save, table  # noqa: E402
from benchmarks.phase_times import measure  # noqa: E402

SMALL = ["data.limit=4", "parallel.n_pairs=2", "eval.limit=1"]
TARGETS = (["ja"], ["ja", "th"])


def units(overrides: list[str]) -> dict:
    """Targets, training runs and evaluated models of the demo config with ``overrides``."""
    from benchmarks.e2e_split import demo_config
    from sdrrl_ray.planner.estimate import eval_work

    cfg = demo_config(overrides)
    targets = list(cfg.languages.targets)
    return {"targets": len(targets), "train_runs": len(targets) if cfg.train.per_target else 1,
            "eval_models": eval_work(cfg)["models"]}


def split(a: float, b: float, na: int, nb: int) -> tuple[float, float]:
    """(base, per unit) from two runs with ``na`` and ``nb`` units."""
    per = (b - a) / (nb - na) if nb != na else 0.0
    return a - per * na, per


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    runs = []
    for targets in TARGETS:
        overrides = [*SMALL, f"languages.targets=[{','.join(targets)}]"]
        with tempfile.TemporaryDirectory(prefix="sdrrl-startup-") as out:
            got = measure(out, overrides)
        runs.append({**got, "units": units(overrides)})
    (a, b), t = runs, {}
    for phase, unit in (("transfer-set", "targets"), ("train", "train_runs"), ("eval", "eval_models")):
        base, per = split(a["phase_times"][phase], b["phase_times"][phase], a["units"][unit], b["units"][unit])
        t[phase] = {"base_s": round(base, 2), "per_unit_s": round(per, 2), "unit": unit}
    ray_start = (a["phase_times"]["ray_start"] + b["phase_times"]["ray_start"]) / 2
    shutdown = (a["phase_times"]["ray_shutdown"] + b["phase_times"]["ray_shutdown"]) / 2
    result = {"benchmark": "startup", "device": "cpu", "ray_start_s": round(ray_start, 2),
              "ray_shutdown_s": round(shutdown, 2), "phases": t, "runs": runs, "small": SMALL, "machine": machine()}
    rows = [dict(phase=p, base_s=v["base_s"], per_unit_s=v["per_unit_s"], unit=v["unit"],
                 run_1=a["phase_times"][p], run_2=b["phase_times"][p]) for p, v in t.items()]
    print(table(rows, ["phase", "base_s", "per_unit_s", "unit", "run_1", "run_2"]))
    if not args.no_save:
        save("startup", result)
    print(json.dumps({k: v for k, v in result.items() if k not in ("runs", "machine")}))


if __name__ == "__main__":
    main()
