"""End to end: the demo's wall time split by stage, and transfer-set scaling with actors and simulated nodes.

Part 1, stage split: the demo config (jobs/configs/demo.yaml) run through the project's own entry point
(``sdrrl_ray.app.phases.run_phases``, what ``sdrrl demo`` and jobs/full.py call), one phase at a time, timed
from the driver: Ray start, transfer set, train, eval. Inside the transfer-set phase: the time outside
the Ray Data execution (inputs, models, parallel rows, fingerprint; counting and the manifest after),
the execution's start-up (until the first generation task starts: Ray Data start, actor pools
constructed, models loaded) and its steady part, and per Ray Data operator the span, start/end offsets
and busy task-seconds from Ray Data's own stats (``Dataset.get_stats_summary``, kept by
``run_transfer_set`` in OUT/manifest.json under ``execution_last_run``; see sdrrl_ray/execution_stats.py).
Streaming operators run at the same time: their spans overlap and do not add up to the execution.

Part 2, scaling: the transfer-set phase alone, each configuration in a fresh process and a fresh Ray,
with the generation and translation actor pools both at N actors (``generate.pool.min_actors`` /
``max_actors`` and the same under ``translate.pool``; the other pools as configured):
  - local: ``ray.init(address="local")`` with the demo's logical CPUs plus the extra actors' CPUs
    (the same headroom for tasks at every N);
  - cluster: ``ray.cluster_utils.Cluster`` with 1 or 2 simulated nodes of ``--node-cpus`` logical CPUs,
    each run in its own PID/mount/network namespaces (``unshare``, tests/integration/isolation.py, as the
    multi-node tests do) so it cannot touch other Ray instances on the machine; skipped, with the reason
    recorded, where namespaces cannot be made. A (nodes, N) whose actor pools cannot all be placed is
    skipped, with why.
Throughput: input items/s and rows written/s over the execution, and items/s over its steady part
(after the first generation task started). All simulated nodes share this machine's cores: scaling is
bounded by them (recorded under ``machine.cpus``), the numbers are measured, not assumed.

Prints tables and a last-line JSON; writes benchmarks/results/e2e.{json,png}.

    python benchmarks/bench_e2e.py                                   # the full demo + scaling (~10+ min on 2 cores)
    python benchmarks/bench_e2e.py --phases transfer-set --limit 16 --scale-limit 16 --actors 1 --nodes 2   # quick
    python benchmarks/bench_e2e.py --no-scaling                      # stage split only
    python benchmarks/bench_e2e.py --no-stage-split --target-block-kib 8 --tag blocks8k   # what-if: smaller blocks
    python benchmarks/bench_e2e.py --replot benchmarks/results/e2e.json                   # redraw the PNG only

The demo's 466 items are read as one Ray Data block (a few dozen KiB); the plan splits it into blocks of
one batch before the generation and translation pools (``sdrrl_ray.runtime.batch_blocks``, wired by
``sdrrl_ray/transfer/plan.py``), so each
pool gets one task per batch and a second actor shares the work (``gen_tasks``, ``mt_tasks`` and the
pools' mean concurrency are recorded). ``--target-block-kib`` changes Ray's block-size cap for the
whole plan, a what-if for the other stages.

Modules: this script (command line, result file), ``e2e_split.py`` (part 1 and the shared setup),
``e2e_scaling.py`` (part 2), ``e2e_report.py`` (tables, last-line JSON, PNG).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.e2e_report import last_line, plot, print_tables  # noqa: E402 - after the path is set
from benchmarks.e2e_scaling import RESULT_PREFIX, run_scenario, scaling  # noqa: E402
from benchmarks.e2e_split import PHASES, env_defaults, stage_split  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phases", default=",".join(PHASES), help="phases of the stage split, in order")
    ap.add_argument("--limit", type=int, default=None, help="input items of the stage-split run (default: all)")
    ap.add_argument("--no-stage-split", action="store_true")
    ap.add_argument("--no-scaling", action="store_true")
    ap.add_argument("--scale-limit", type=int, default=None, help="input items per scaling run (default: all)")
    ap.add_argument("--actors", default="1,2", help="actors per generation and translation pool")
    ap.add_argument("--nodes", default="1,2", help="simulated nodes (ray.cluster_utils.Cluster)")
    ap.add_argument("--setups", default="local,cluster",
                    help="scaling setups: local (ray.init), cluster (simulated nodes)")
    ap.add_argument("--node-cpus", type=int, default=4, help="logical CPUs per simulated node")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--target-block-kib", type=float, default=None,
                    help="scaling runs only, a what-if: Ray Data's target_max_block_size for the whole plan "
                         "(default: the plan's own)")
    ap.add_argument("--scenario-timeout", type=int, default=600, help="seconds per scaling run")
    ap.add_argument("--override", action="append", default=[], help="extra config key=value (repeatable), all runs")
    ap.add_argument("--keep", action="store_true", help="keep the runs' output folders")
    ap.add_argument("--tag", default="")
    ap.add_argument("--results", default="", help="folder for <name>.json/.png (default: benchmarks/results)")
    ap.add_argument("--replot", metavar="JSON", help="only redraw the PNG next to a saved result JSON")
    ap.add_argument("--scenario", help=argparse.SUPPRESS)  # internal: one scaling run, in a child process
    args = ap.parse_args()
    env_defaults()

    if args.scenario:
        import logging

        logging.basicConfig(level=logging.WARNING)
        res = run_scenario(json.loads(args.scenario))
        print(RESULT_PREFIX + json.dumps(res, default=str), flush=True)
        return

    if args.replot:
        with open(args.replot) as fh:
            saved = json.load(fh)
        plot(args.replot[: -len(".json")] + ".png", saved["stage_split"], saved["scaling"],
             f"sdrrl demo end to end ({saved['machine']['cpus']} cores)")
        return
    args.phases = [p for p in args.phases.split(",") if p]
    bad = [p for p in args.phases if p not in PHASES]
    if bad:
        ap.error(f"unknown phase(s) {bad}; choose from {list(PHASES)}")
    args.actors = [int(x) for x in args.actors.split(",") if x]
    args.nodes = [int(x) for x in args.nodes.split(",") if x]
    args.setups = [x for x in args.setups.split(",") if x]
    if set(args.setups) - {"local", "cluster"}:
        ap.error(f"--setups takes local and/or cluster, not {args.setups}")

    from benchmarks.common import machine, save

    root = tempfile.mkdtemp(prefix="sdrrl-bench-e2e-")
    split, runs = None, []
    try:
        if not args.no_stage_split:
            split = stage_split(args, root)
        if not args.no_scaling:
            runs = scaling(args, root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    print_tables(split, runs)

    out = {
        "benchmark": "e2e",
        "config": "jobs/configs/demo.yaml",
        "args": {k: v for k, v in vars(args).items() if k != "scenario"},
        "note": ("one machine: simulated nodes and extra actors share its cores (machine.cpus), so scaling is "
                 "bounded by them; operator spans overlap (streaming), busy task-seconds are task_wall_s"),
        "machine": machine(),
        "stage_split": split,
        "scaling": runs,
    }
    name = f"e2e{('_' + args.tag) if args.tag else ''}"
    if args.results:
        os.makedirs(args.results, exist_ok=True)
        path = os.path.join(args.results, f"{name}.json")
        with open(path, "w") as fh:
            json.dump(out, fh, indent=2)
            fh.write("\n")
    else:
        path = save(name, out)
    plot(os.path.join(os.path.dirname(path), f"{name}.png"), split, runs,
         f"sdrrl demo end to end ({os.cpu_count()} cores)")
    print(json.dumps(last_line(name, split, runs)))


if __name__ == "__main__":
    main()
