"""bench_e2e.py, part 2: transfer-set scaling. Each configuration runs the transfer-set phase alone
in a fresh process (``bench_e2e.py --scenario``) and a fresh Ray: a local instance, or 1 or 2 simulated
nodes (``ray.cluster_utils.Cluster``) in their own PID/mount/network namespaces where ``unshare`` works,
with the generation and translation actor pools both at N actors; the other pools as configured."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from benchmarks.e2e_split import QUIET_ENV, ROOT, demo_config, transfer_set_split

SCRIPT = os.path.join(ROOT, "benchmarks", "bench_e2e.py")  # runs one scenario with --scenario
RESULT_PREFIX = "E2E-SCENARIO "
MiB = 1024 * 1024
TASK_HEADROOM_CPUS = 1.0  # one CPU kept free for plain tasks (read, light maps, write)


def fixed_pool_cpus(cfg) -> float:
    """CPUs of the actor pools the scaling runs leave as configured (sdrrl_ray/transfer/plan.py wires
    them from their config sections): the translation filter and code-switching (demo: 0.5 + 0.25)."""
    from sdrrl_ray.transfer.plan import translation_needed

    pools = [cfg.filter.pool] if translation_needed(cfg) else []
    pools += [cfg.code_switch.pool] if cfg.code_switch.enabled else []
    return sum(p.max_actors * p.num_cpus for p in pools)


def actor_placement() -> dict:
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
                  "cpus_total": sum(n["Resources"].get("CPU", 0) for n in nodes), "actor_placement": actor_placement(),
                  **transfer_set_split(manifest, phase_s)}
    finally:
        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
    return result


def fits(a: int, cfg, cpus_per_node: float, nodes: int) -> str | None:
    """Why (nodes x cpus_per_node) cannot hold both pools at ``a`` actors plus the fixed pools, or None."""
    need = a * (cfg.generate.pool.num_cpus + cfg.translate.pool.num_cpus) + fixed_pool_cpus(cfg) + TASK_HEADROOM_CPUS
    biggest = max(cfg.generate.pool.num_cpus, cfg.translate.pool.num_cpus)
    if need > nodes * cpus_per_node or biggest > cpus_per_node:
        return (f"does not fit: {a} generation + {a} translation actors and the fixed pools need {need:g} logical CPUs "
                f"(with {TASK_HEADROOM_CPUS:g} for tasks), {nodes} node(s) x {cpus_per_node:g} "
                f"have {nodes * cpus_per_node:g}")
    return None


def spawn(spec: dict, isolate: bool, timeout_s: int) -> dict:
    cmd = [sys.executable, SCRIPT, "--scenario", json.dumps(spec)]
    env = {**os.environ, **{k: os.environ.get(k, v) for k, v in QUIET_ENV.items()}, "PYTHONPATH": ROOT}
    env.pop("RAY_ADDRESS", None)
    ray_tmp, preexec = None, None
    if isolate:
        from tests.integration.isolation import die_with_parent, isolated

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
    from tests.integration.isolation import can_isolate

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
                why = fits(a, base, row["cpus"], 1)
            else:
                row.update(cpus=nodes * args.node_cpus, node_cpus=args.node_cpus)
                why = fits(a, base, args.node_cpus, nodes) or (None if isolate else
                      "skipped: cannot make PID/mount/network namespaces here (unshare); a Cluster outside them "
                      "could disturb other Ray instances on this machine")
            if why:
                runs.append({**row, "skipped": why})
                print(f"[e2e] {mode} nodes={nodes} actors={a}: {why}", file=sys.stderr)
                continue
            spec = dict(mode=mode, nodes=nodes, node_cpus=args.node_cpus, cpus=row["cpus"], actors=a,
                        limit=args.scale_limit, out=os.path.join(root, f"scale-{mode}-n{nodes}-a{a}-r{rep}"),
                        override=args.override, target_block_kib=args.target_block_kib)
            print(f"[e2e] running {mode} nodes={nodes} actors={a} repeat={rep}", file=sys.stderr, flush=True)
            res = spawn(spec, isolate=isolate, timeout_s=args.scenario_timeout)
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
            runs.append({**row, "isolated": isolate, **res, "gen_actors": gen.get("count"),
                         "mt_actors": mt.get("count"),
                         # tasks each pool got, and busy task-seconds / span: how many of its actors worked at once
                         "gen_tasks": gen_op.get("tasks"), "mt_tasks": mt_op.get("tasks"),
                         "gen_concurrency": (round(gen_op["task_wall_s"] / gen_op["span_s"], 2)
                                             if gen_op.get("span_s") else None),
                         "mt_concurrency": (round(mt_op["task_wall_s"] / mt_op["span_s"], 2)
                                            if mt_op.get("span_s") else None),
                         "actor_nodes": (res.get("actor_placement") or {}).get("nodes"),
                         "items_per_s": round(items / exec_s, 3) if exec_s else None,
                         "rows_out_per_s": round((res["rows"]["rows_written"] or 0) / exec_s, 3) if exec_s else None,
                         "steady_items_per_s": round(items / steady, 3) if steady else None})
    return runs
