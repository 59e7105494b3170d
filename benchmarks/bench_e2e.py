"""End to end: the demo's wall time split by stage, and transfer-set scaling with actors and simulated nodes.

Part 1, stage split: the demo config (jobs/configs/demo.yaml) run through the project's own entry point
(``sdrrl_ray.cli.run_phases``, what ``sdrrl demo`` and jobs/full.py call), one phase at a time, timed
from the driver: Ray start, transfer set, train, eval. Inside the transfer-set phase: the time outside
the Ray Data execution (inputs, models, parallel rows, fingerprint; counting and the manifest after),
the execution's start-up (until the first generation task starts: Ray Data start, actor pools
constructed, models loaded) and its steady part, and per Ray Data operator the span, start/end offsets
and busy task-seconds from Ray Data's own stats (``Dataset.get_stats_summary``, kept by
``run_transfer_set`` in OUT/manifest.json under ``execution_last_run``; see sdrrl_ray/execution_stats.py).
Streaming operators run at the same time: their spans overlap and do not add up to the execution.

Part 2, scaling: the transfer-set phase alone, each configuration in a fresh process and a fresh Ray,
with the generation and translation actor pools both at N actors (``generate.pool.min_actors`` /
``max_actors`` and the same under ``translate.pool``):
  - local: ``ray.init(address="local")`` with the demo's logical CPUs plus the extra actors' CPUs
    (the same headroom for tasks at every N);
  - cluster: ``ray.cluster_utils.Cluster`` with 1 or 2 simulated nodes of ``--node-cpus`` logical CPUs,
    each run in its own PID/mount/network namespaces (``unshare``, as tests/integration/test_multinode.py
    does) so it cannot touch other Ray instances on the machine; skipped, with the reason recorded, where
    namespaces cannot be made. A (nodes, N) whose actor pools cannot all be placed is skipped, with why.
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
one batch before the generation and translation pools (``sdrrl_ray.pipeline.batch_blocks``), so each
pool gets one task per batch and a second actor shares the work (``gen_tasks``, ``mt_tasks`` and the
pools' mean concurrency are recorded). ``--target-block-kib`` changes Ray's block-size cap for the
whole plan, a what-if for the other stages.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

PHASES = ("transfer-set", "train", "eval")
RESULT_PREFIX = "E2E-SCENARIO "
MiB = 1024 * 1024
# actor pools the plan always runs with one actor (sdrrl_ray/pipeline.py): TranslationFilter 0.5 CPU,
# CodeSwitcher 0.25 CPU; plus one CPU kept free for plain tasks (read, light maps, write)
FIXED_ACTOR_CPUS = 0.75
TASK_HEADROOM_CPUS = 1.0
QUIET_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "SDRRL_CACHE": os.path.join(ROOT, ".cache", "sdrrl"),
    "TORCH_EXTENSIONS_DIR": os.path.join(ROOT, ".cache", "torch_extensions"),
}


def _env_defaults() -> None:
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.pop("RAY_ADDRESS", None)  # the demo runs on a local instance of its own, never on a running one


def demo_config(overrides: list[str]):
    from sdrrl_ray.app.cli import DEMO_CONFIG
    from sdrrl_ray.config import load_config

    return load_config(DEMO_CONFIG, overrides)


# ----------------------------------------------------------------------------------------------
# what each side ran with


def _params(folder: str) -> int | None:
    try:
        import numpy as np
        import safetensors

        with safetensors.safe_open(os.path.join(folder, "model.safetensors"), "np") as f:
            return int(sum(int(np.prod(f.get_slice(k).get_shape())) for k in f.keys()))
    except Exception:  # noqa: BLE001 - a size we cannot read is recorded as unknown
        return None


def setup_record(cfg) -> dict:
    """Model sizes, batch sizes, actors and threads of every phase, from the resolved config."""
    from sdrrl_ray.assets import resolve_model
    from sdrrl_ray.assets import resolve_translation_model

    g, t, tr, ev = cfg.generate, cfg.translate, cfg.train, cfg.eval
    gen_path = resolve_model(g.model)
    mt_path = resolve_translation_model(t.model) if t.backend != "llm" else gen_path
    train_path = resolve_model(tr.model) if tr.model else gen_path
    return {
        "generate": {"engine": g.engine, "model": g.model, "params": _params(gen_path), "dtype": g.dtype + " (fp32 on CPU)",
                     "max_new_tokens": g.max_new_tokens, "batch_size": g.pool.batch_size,
                     "actors": [g.pool.min_actors, g.pool.max_actors], "cpus_per_actor": g.pool.num_cpus,
                     "torch_threads_per_actor": max(1, int(g.pool.num_cpus))},
        "translate": {"backend": t.backend, "model": t.model, "params": _params(mt_path),
                      "compute_type": t.compute_type + (" (int8 on CPU)" if t.compute_type == "auto" else ""),
                      "beam_size": t.beam_size, "batch_size": t.pool.batch_size,
                      "actors": [t.pool.min_actors, t.pool.max_actors], "cpus_per_actor": t.pool.num_cpus,
                      "threads_per_actor": max(1, int(t.pool.num_cpus))},
        "filter_and_code_switch": {"filter_actors": 1, "filter_batch_size": 64, "code_switch_actors": 1,
                                   "code_switch_batch_size": 256},
        "train": {"model": tr.model or g.model, "params": _params(train_path), "workers": tr.num_workers,
                  "micro_batch_size": tr.micro_batch_size, "grad_accum": tr.grad_accum, "epochs": tr.epochs,
                  "max_length": tr.max_length, "zero_stage": tr.zero_stage, "precision": tr.precision + " (fp32 on CPU)"},
        "eval": {"tasks": list(ev.tasks), "limit": ev.limit, "engine": ev.engine, "batch_size": ev.pool.batch_size,
                 "actors": [ev.pool.min_actors, ev.pool.max_actors], "max_new_tokens": ev.max_new_tokens},
        "ray_num_cpus": cfg.ray.num_cpus,
        "items_limit": cfg.data.limit,
    }


# ----------------------------------------------------------------------------------------------
# part 1: the demo, phase by phase


def transfer_set_split(manifest: dict, phase_s: float) -> dict:
    """The transfer-set phase split from its manifest: outside execution, start-up, steady; operators."""
    execution = manifest.get("execution_last_run") or {}
    ops = execution.get("operators") or []
    exec_s = float(execution.get("seconds") or 0.0)
    gen = next((o for o in ops if "Generator" in o["name"]), None)
    startup = gen["start_s"] if gen and gen.get("start_s") is not None else None
    subsets = manifest.get("subsets") or {}
    return {
        "phase_s": round(phase_s, 3),
        "outside_execution_s": round(phase_s - exec_s, 3),
        "execution_s": round(exec_s, 3),
        "startup_s": round(startup, 3) if startup is not None else None,
        "steady_s": round(exec_s - startup, 3) if startup is not None else None,
        "operators": ops,
        "rows": {k: manifest.get(k) for k in ("rows_in", "rows_out", "rows_rejected", "rows_written", "rejects_written")}
                | {"parallel_rows": int(subsets.get("mt", 0)) + int(subsets.get("comp", 0)), "subsets": subsets},
    }


def stage_split(args, root: str) -> dict:
    import ray

    from sdrrl_ray.app.phases import run_phases
    from sdrrl_ray.storage import read_json
    from sdrrl_ray.runtime import init_ray

    out = os.path.join(root, "demo")
    cfg = demo_config([f"out_dir={out}", *([f"data.limit={args.limit}"] if args.limit else []), *args.override])
    setup = setup_record(cfg)
    stages, detail = [], {}
    t_all = time.perf_counter()
    t0 = time.perf_counter()
    init_ray(cfg.ray)  # what the first phase would do; timed on its own
    stages.append({"stage": "ray_init", "seconds": round(time.perf_counter() - t0, 3)})
    try:
        for phase in args.phases:
            t0 = time.perf_counter()
            run_phases(cfg, (phase,))
            seconds = time.perf_counter() - t0
            stages.append({"stage": phase, "seconds": round(seconds, 3)})
            if phase == "transfer-set":
                detail["transfer-set"] = transfer_set_split(read_json(f"{out}/manifest.json"), seconds)
            elif phase == "train":
                tm = read_json(f"{out}/train_manifest.json") or {}
                per_target = [s.get("seconds") or 0.0 for s in (tm.get("targets") or {}).values()]
                detail["train"] = {"seconds_reported": tm.get("seconds"),
                                   # tokenization, Ray Train start, plots: the phase outside each target's fit
                                   "outside_targets_s": round((tm.get("seconds") or 0.0) - sum(per_target), 1),
                                   "targets": {
                    name: {"seconds": s.get("seconds"), "rows": (s.get("train") or {}).get("rows"),
                           "steps_per_epoch": (s.get("train") or {}).get("steps_per_epoch"),
                           "global_batch": (s.get("train") or {}).get("global_batch")}
                    for name, s in (tm.get("targets") or {}).items()}}
            elif phase == "eval":
                rep = read_json(f"{out}/report.json") or {}
                detail["eval"] = {"seconds_reported": rep.get("seconds")}
    finally:
        t0 = time.perf_counter()
        ray.shutdown()
        stages.append({"stage": "ray_shutdown", "seconds": round(time.perf_counter() - t0, 3)})
    total = time.perf_counter() - t_all
    return {"out_dir": out, "setup": setup, "stages": stages, "total_s": round(total, 3),
            "stages_sum_s": round(sum(s["seconds"] for s in stages), 3), "detail": detail}


# ----------------------------------------------------------------------------------------------
# part 2: scaling, one configuration per process


def _actor_placement() -> dict:
    """Ray Data pool actors (alive and ended) from the GCS actor table: per class how many were created
    and on how many nodes, and how many nodes held any of them; {} if the table cannot be read."""
    try:
        from ray._private import state

        table = state.actors()
    except Exception:  # noqa: BLE001 - placement is a detail of the report
        return {}
    out: dict = {}
    all_nodes: set = set()
    for a in table.values():
        name = a.get("ActorClassName") or ""
        if "MapWorker" not in name:
            continue
        entry = out.setdefault(name, {"count": 0, "nodes": set()})
        entry["count"] += 1
        node = (a.get("Address") or {}).get("NodeID") or a.get("NodeID")
        if node:
            entry["nodes"].add(node)
            all_nodes.add(node)
    return {"pools": {k.removeprefix("MapWorker(").removesuffix(")"): {"count": v["count"], "nodes": len(v["nodes"])}
                      for k, v in sorted(out.items())}, "nodes": len(all_nodes)}


def run_scenario(spec: dict) -> dict:
    """One transfer-set run as ``spec`` says (runs in its own process; see scaling())."""
    import ray

    from sdrrl_ray.runtime import init_ray
    from sdrrl_ray.transfer.run import run_transfer_set

    a = spec["actors"]
    overrides = [f"out_dir={spec['out']}", *([f"data.limit={spec['limit']}"] if spec.get("limit") else []),
                 *(f"{pool}.pool.{k}={a}" for pool in ("generate", "translate") for k in ("min_actors", "max_actors")),
                 *spec.get("override", [])]
    if spec["mode"] == "local":
        overrides.append(f"ray.num_cpus={spec['cpus']}")
    cfg = demo_config(overrides)
    cluster = None
    t0 = time.perf_counter()
    try:
        if spec["mode"] == "cluster":
            from ray.cluster_utils import Cluster

            node = dict(num_cpus=spec["node_cpus"], object_store_memory=256 * MiB)
            cluster = Cluster(initialize_head=True, head_node_args=dict(node, include_dashboard=False))
            for _ in range(spec["nodes"] - 1):
                cluster.add_node(**node)
            ray.init(address=cluster.address, log_to_driver=False)
            ray.data.DataContext.get_current().enable_progress_bars = False
        else:
            init_ray(cfg.ray)
        if spec.get("target_block_kib"):  # what-if: Ray Data splits map outputs into smaller blocks
            ray.data.DataContext.get_current().target_max_block_size = int(spec["target_block_kib"] * 1024)
        ray_start = time.perf_counter() - t0
        t0 = time.perf_counter()
        manifest = run_transfer_set(cfg)
        phase_s = time.perf_counter() - t0
        nodes = [n for n in ray.nodes() if n["Alive"]]
        result = {"ray_start_s": round(ray_start, 3), "nodes_alive": len(nodes),
                  "cpus_total": sum(n["Resources"].get("CPU", 0) for n in nodes), "actor_placement": _actor_placement(),
                  **transfer_set_split(manifest, phase_s)}
    finally:
        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
    return result


def _fits(a: int, cfg, cpus_per_node: float, nodes: int) -> str | None:
    """Why (nodes x cpus_per_node) cannot hold both pools at ``a`` actors plus the fixed pools, or None."""
    need = a * (cfg.generate.pool.num_cpus + cfg.translate.pool.num_cpus) + FIXED_ACTOR_CPUS + TASK_HEADROOM_CPUS
    biggest = max(cfg.generate.pool.num_cpus, cfg.translate.pool.num_cpus)
    if need > nodes * cpus_per_node or biggest > cpus_per_node:
        return (f"does not fit: {a} generation + {a} translation actors and the fixed pools need {need:g} logical CPUs "
                f"(with {TASK_HEADROOM_CPUS:g} for tasks), {nodes} node(s) x {cpus_per_node:g} have {nodes * cpus_per_node:g}")
    return None


def _spawn(spec: dict, isolate: bool, timeout_s: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--scenario", json.dumps(spec)]
    env = {**os.environ, **{k: os.environ.get(k, v) for k, v in QUIET_ENV.items()}, "PYTHONPATH": ROOT}
    env.pop("RAY_ADDRESS", None)
    ray_tmp, preexec = None, None
    if isolate:
        from tests.integration.test_multinode import die_with_parent, isolated

        ray_tmp = tempfile.mkdtemp(prefix="sdrrl-bench-e2e-", dir="/tmp")
        cmd, preexec = isolated(cmd, ray_tmp, net=True), die_with_parent
    started = time.perf_counter()
    # not isolated: its own session, so a timeout ends the child's whole process group (its local Ray too);
    # isolated: killing `unshare` ends the namespace (--kill-child)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=preexec, start_new_session=not isolate)
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        if isolate:
            proc.kill()
        else:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"error": f"timed out after {timeout_s}s"}
    finally:
        if ray_tmp:
            shutil.rmtree(ray_tmp, ignore_errors=True)
    lines = [ln for ln in stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        return {"error": f"exit {proc.returncode}: {(stderr or stdout)[-1500:]}"}
    res = json.loads(lines[-1][len(RESULT_PREFIX):])
    res["process_s"] = round(time.perf_counter() - started, 3)
    return res


def scaling(args, root: str) -> list[dict]:
    from tests.integration.test_multinode import can_isolate

    base = demo_config(list(args.override))
    isolate = can_isolate()
    demo_cpus = base.ray.num_cpus or 4
    per_actor = base.generate.pool.num_cpus + base.translate.pool.num_cpus
    runs = []
    plan = [("local", 1, a) for a in args.actors if "local" in args.setups]
    plan += [("cluster", n, a) for n in args.nodes for a in args.actors if "cluster" in args.setups]
    for mode, nodes, a in plan:
        for rep in range(args.repeats):
            row = {"setup": mode, "nodes": nodes, "actors": a, "repeat": rep, "limit": args.scale_limit,
                   "target_block_kib": args.target_block_kib}
            if mode == "local":
                row.update(cpus=int(math.ceil(demo_cpus + (a - 1) * per_actor)), node_cpus=None)
                why = _fits(a, base, row["cpus"], 1)
            else:
                row.update(cpus=nodes * args.node_cpus, node_cpus=args.node_cpus)
                why = _fits(a, base, args.node_cpus, nodes) or (None if isolate else
                      "skipped: cannot make PID/mount/network namespaces here (unshare); a Cluster outside them "
                      "could disturb other Ray instances on this machine")
            if why:
                runs.append({**row, "skipped": why})
                print(f"[e2e] {mode} nodes={nodes} actors={a}: {why}", file=sys.stderr)
                continue
            spec = dict(mode=mode, nodes=nodes, node_cpus=args.node_cpus, cpus=row["cpus"], actors=a, limit=args.scale_limit,
                        out=os.path.join(root, f"scale-{mode}-n{nodes}-a{a}-r{rep}"), override=args.override,
                        target_block_kib=args.target_block_kib)
            print(f"[e2e] running {mode} nodes={nodes} actors={a} repeat={rep}", file=sys.stderr, flush=True)
            res = _spawn(spec, isolate=isolate, timeout_s=args.scenario_timeout)
            if "error" in res:
                runs.append({**row, "error": res["error"]})
                print(f"[e2e] {mode} nodes={nodes} actors={a}: {res['error'][-400:]}", file=sys.stderr)
                continue
            items = res["rows"]["rows_in"] or 0
            exec_s, steady = res["execution_s"], res["steady_s"]
            pools = (res.get("actor_placement") or {}).get("pools") or {}
            gen = next((v for k, v in pools.items() if "Generator" in k), {})
            mt = next((v for k, v in pools.items() if "Translator" in k), {})
            ops = res.get("operators") or []
            gen_op = next((o for o in ops if "Generator" in o["name"]), {})
            mt_op = next((o for o in ops if "Translator" in o["name"]), {})
            runs.append({**row, "isolated": isolate, **res, "gen_actors": gen.get("count"), "mt_actors": mt.get("count"),
                         # tasks each pool got, and busy task-seconds / span: how many of its actors worked at once
                         "gen_tasks": gen_op.get("tasks"), "mt_tasks": mt_op.get("tasks"),
                         "gen_concurrency": round(gen_op["task_wall_s"] / gen_op["span_s"], 2) if gen_op.get("span_s") else None,
                         "mt_concurrency": round(mt_op["task_wall_s"] / mt_op["span_s"], 2) if mt_op.get("span_s") else None,
                         "actor_nodes": (res.get("actor_placement") or {}).get("nodes"),
                         "items_per_s": round(items / exec_s, 3) if exec_s else None,
                         "rows_out_per_s": round((res["rows"]["rows_written"] or 0) / exec_s, 3) if exec_s else None,
                         "steady_items_per_s": round(items / steady, 3) if steady else None})
    return runs


# ----------------------------------------------------------------------------------------------
# report


def _op_label(name: str) -> str:
    return name.replace("MapBatches(", "").replace(")", "").replace("ReadReadInstructions", "read")[:40]


def plot(path: str, split: dict | None, runs: list[dict], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in runs if "items_per_s" in r]
    panels = (3 if split else 0) + (1 if ok else 0)
    if not panels:
        return
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4.2), squeeze=False,
                             gridspec_kw={"width_ratios": ([0.6, 0.6, 1.4] if split else []) + ([1.0] if ok else [])})
    axes = list(axes[0])
    colors = ["#4472c4", "#ed7d31", "#a5a5a5", "#ffc000", "#5b9bd5", "#70ad47"]
    if split:
        ts = split["detail"].get("transfer-set")
        bars = [("demo, by phase", [(s["stage"], s["seconds"]) for s in split["stages"]])]
        if ts:
            bars.append(("transfer-set phase", [("outside execution", ts["outside_execution_s"]),
                                                ("exec start-up", ts["startup_s"] or 0.0),
                                                ("exec steady", ts["steady_s"] or 0.0)]))
        for label, parts in bars:
            ax = axes.pop(0)
            bottom, total = 0.0, sum(p[1] for p in parts)
            for i, (name, sec) in enumerate(parts):
                ax.bar(0, sec, bottom=bottom, color=colors[i % len(colors)], width=0.6)
                if sec > 0.04 * total:
                    ax.text(0, bottom + sec / 2, f"{name} {sec:.1f}s", ha="center", va="center", fontsize=7)
                bottom += sec
            ax.set_xticks([])
            ax.set_ylabel("seconds")
            ax.set_title(f"{label}: {total:.0f} s", fontsize=9)
        if not ts:
            axes.pop(0).axis("off")
        ax = axes.pop(0)
        ops = [o for o in (ts or {}).get("operators", []) if o.get("start_s") is not None]
        for i, o in enumerate(ops):
            ax.barh(i, max(o["end_s"] - o["start_s"], 0.01), left=o["start_s"], color="#4472c4")
            ax.text(o["end_s"], i, f" busy {o['task_wall_s']:.1f}s", va="center", fontsize=7)
        if ts:
            ax.axvline(ts["execution_s"], color="k", lw=0.8, ls="--")
            if ts["startup_s"]:
                ax.axvspan(0, ts["startup_s"], color="#dddddd", zorder=0)
                ax.text(ts["startup_s"] / 2, len(ops) - 0.5, "start-up:\nactors, models", ha="center", fontsize=7)
            ax.set_xlim(left=0)
        ax.set_yticks(range(len(ops)), [_op_label(o["name"]) for o in ops], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("seconds since execution start")
        ax.set_title("transfer set: Ray Data operators, first to last task", fontsize=9)
    if ok:
        ax = axes.pop(0)
        labels = [f"{r['setup']} {r['nodes']}n x{r['actors']}" + (f" r{r['repeat']}" if r["repeat"] else "") for r in ok]
        xs = range(len(ok))
        ax.bar([x - 0.2 for x in xs], [r["items_per_s"] for r in ok], width=0.4, label="items/s (execution)", color="#4472c4")
        ax.bar([x + 0.2 for x in xs], [r["steady_items_per_s"] or 0 for r in ok], width=0.4, label="items/s (steady)",
               color="#ed7d31")
        ax.set_xticks(list(xs), labels, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("input items/s")
        ax.legend(fontsize=7)
        blocks = ok[0].get("target_block_kib")
        ax.set_title(f"transfer-set scaling, {os.cpu_count()} shared cores"
                     + (f", blocks <= {blocks:g} KiB" if blocks else ""), fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phases", default=",".join(PHASES), help="phases of the stage split, in order")
    ap.add_argument("--limit", type=int, default=None, help="input items of the stage-split run (default: all)")
    ap.add_argument("--no-stage-split", action="store_true")
    ap.add_argument("--no-scaling", action="store_true")
    ap.add_argument("--scale-limit", type=int, default=None, help="input items per scaling run (default: all)")
    ap.add_argument("--actors", default="1,2", help="actors per generation and translation pool")
    ap.add_argument("--nodes", default="1,2", help="simulated nodes (ray.cluster_utils.Cluster)")
    ap.add_argument("--setups", default="local,cluster", help="scaling setups: local (ray.init), cluster (simulated nodes)")
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
    _env_defaults()

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

    from benchmarks.common import machine, save, table

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

    if split:
        print(table([*split["stages"], {"stage": "sum", "seconds": split["stages_sum_s"]},
                     {"stage": "total (measured)", "seconds": split["total_s"]}], ["stage", "seconds"]))
        ts = split["detail"].get("transfer-set")
        if ts:
            print()
            print(table([{"part": k, "seconds": ts[k]} for k in ("phase_s", "outside_execution_s", "execution_s",
                                                                  "startup_s", "steady_s")], ["part", "seconds"]))
            print()
            print(table(ts["operators"], ["name", "tasks", "nodes", "start_s", "end_s", "span_s", "task_wall_s",
                                          "task_cpu_s", "rows_out"]))
    for phase in ("train", "eval"):
        if split and phase in split["detail"]:
            print(f"\n{phase}: {json.dumps(split['detail'][phase])}")
    if runs:
        print()
        print(table([{**r, "skipped": (r.get("skipped") or r.get("error") or "")[:60]} for r in runs],
                    ["setup", "nodes", "node_cpus", "cpus", "actors", "gen_actors", "mt_actors", "actor_nodes", "repeat",
                     "gen_tasks", "mt_tasks", "gen_concurrency", "mt_concurrency",
                     "execution_s", "startup_s", "steady_s",
                     "items_per_s", "rows_out_per_s", "steady_items_per_s", "skipped"]))

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
    last = {"benchmark": name}
    if split:
        last["stages"] = {s["stage"]: s["seconds"] for s in split["stages"]}
        last["total_s"] = split["total_s"]
        ts = split["detail"].get("transfer-set")
        if ts:
            last["transfer_set"] = {k: ts[k] for k in ("execution_s", "startup_s", "steady_s")}
    keys = ("setup", "nodes", "actors", "gen_actors", "mt_actors", "actor_nodes", "gen_tasks", "mt_tasks", "mt_concurrency",
            "execution_s", "items_per_s",
            "rows_out_per_s", "steady_items_per_s", "skipped", "error")
    last["scaling"] = [{k: r.get(k) for k in keys if r.get(k) is not None}
                       for r in runs]
    print(json.dumps(last))


if __name__ == "__main__":
    main()
