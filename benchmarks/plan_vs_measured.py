"""The planner against the clock: ``sdrrl plan`` for a config, then the run itself, phase by phase.

For the demo config and a second config not used for any rate or start-up cost (one target, 100
instructions), the planner's prediction per phase of the run (transfer-set, train, eval; per-token time
from the committed benchmark results plus start-up from ``startup.json``) is set beside the measured wall
time of each phase (``phase_times.py``: a fresh process and local Ray per run), and the run's total beside
the plan's (Ray start and stop included on both sides).

    python benchmarks/plan_vs_measured.py        # writes benchmarks/results/plan_vs_measured.{json,png}

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

from benchmarks.common import RESULTS, machine, save, save_figure, table  # noqa: E402
from benchmarks.e2e_split import PHASES, demo_config, env_defaults  # noqa: E402
from benchmarks.phase_times import measure  # noqa: E402

CONFIGS = {"demo": [], "one_target_100": ["languages.targets=[ja]", "data.limit=100"]}


def predicted(out: str, overrides: list[str]) -> dict:
    from sdrrl_ray.planner.planner import Options, plan

    run = plan(demo_config([f"out_dir={out}", *overrides]), Options())["run_phases"]
    return {"phases": {k: {kk: round(vv, 1) if vv is not None else None for kk, vv in v.items()}
                       for k, v in run["phases"].items()},
            "ray_s": run["ray_s"], "predicted_total_s": round(run["predicted_total_s"], 1), "startup": run["source"]}


def compare(name: str, overrides: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="sdrrl-pvm-") as out:
        plan = predicted(out, overrides)
        got = measure(out, overrides)
    phases = {}
    for phase in PHASES:
        p, m = plan["phases"][phase]["total_s"], got["phase_times"][phase]
        phases[phase] = {"predicted_s": p, "measured_s": m, "ratio": round(p / m, 3) if m else None,
                         "predicted_work_s": plan["phases"][phase]["work_s"],
                         "predicted_startup_s": plan["phases"][phase]["startup_s"]}
    ray_m = got["phase_times"]["ray_start"] + got["phase_times"]["ray_shutdown"]
    phases["ray"] = {"predicted_s": plan["ray_s"], "measured_s": round(ray_m, 2)}
    total_p, total_m = plan["predicted_total_s"], got["total_s"]
    return {"config": name, "overrides": overrides, "phases": phases, "predicted_total_s": total_p,
            "measured_total_s": total_m, "ratio": round(total_p / total_m, 3),
            "within_25pct": abs(total_p / total_m - 1) <= 0.25, "startup_result": plan["startup"]}


def plot(path: str, runs: list) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 3.4), squeeze=False)
    for ax, r in zip(axes[0], runs):
        names = [*PHASES, "total"]
        pred = [r["phases"][p]["predicted_s"] for p in PHASES] + [r["predicted_total_s"]]
        meas = [r["phases"][p]["measured_s"] for p in PHASES] + [r["measured_total_s"]]
        x = np.arange(len(names))
        ax.bar(x - 0.2, pred, 0.4, label="planned", color="#a5a5a5")
        ax.bar(x + 0.2, meas, 0.4, label="measured", color="#4472c4")
        ax.set_xticks(x, names, fontsize=8)
        ax.set_ylabel("seconds")
        ax.set_title(f"{r['config']}: plan {r['predicted_total_s']:.0f} s vs run {r['measured_total_s']:.0f} s "
                     f"({r['ratio']:.2f}x)", fontsize=9)
    axes[0][0].legend(fontsize=8)  # the same two bars in every panel
    save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    env_defaults()
    runs = [compare(name, CONFIGS[name]) for name in args.configs.split(",")]
    rows = [dict(config=r["config"], phase=p, planned_s=v["predicted_s"], measured_s=v["measured_s"])
            for r in runs for p, v in r["phases"].items()]
    rows += [dict(config=r["config"], phase="TOTAL", planned_s=r["predicted_total_s"], measured_s=r["measured_total_s"])
             for r in runs]
    print(table(rows, ["config", "phase", "planned_s", "measured_s"]))
    first = runs[0]
    result = {"phases": first["phases"], "predicted_total_s": first["predicted_total_s"],
              "measured_total_s": first["measured_total_s"], "config": first["config"], "runs": runs,
              "machine": machine()}
    if not args.no_save:
        save("plan_vs_measured", result)
        plot(os.path.join(RESULTS, "plan_vs_measured.png"), runs)
    print(json.dumps({r["config"]: {"planned_s": r["predicted_total_s"], "measured_s": r["measured_total_s"],
                                    "ratio": r["ratio"]} for r in runs}))


if __name__ == "__main__":
    main()
