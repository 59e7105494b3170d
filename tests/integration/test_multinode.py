"""Multi-node behaviour on one machine, with Ray's own test utilities (no simulation of our own):

- ``ray.cluster_utils.Cluster``: a generation pool of 2 actors pinned by a custom resource
  (``gpu_gen``) spreads over the 2 worker nodes that have it; an actor asking for ``num_gpus=1`` on
  a node with fake GPUs still runs on CPU; the node holding one of the actors (found with
  ``ray.util.state.list_actors``) is removed mid-stage (``remove_node(allow_graceful=False)``), a
  replacement node joins (what a cloud autoscaler does), and the run completes with every row
  accounted for.
- ``ray.cluster_utils.AutoscalingCluster`` (fake multi-node provider): a run that asks for
  GPU-typed resources scales ``gpu_gen`` workers up from zero and back down after the idle timeout.

Each scenario runs as its own process (``python -m tests.integration.test_multinode SCENARIO OUT``)
inside fresh PID, mount and network namespaces (``unshare``; the machine's other Ray instances are
invisible to it): the session's ``ray_local`` instance is never touched, the scenario's private
``/tmp/ray`` (``ray_current_cluster``) cannot leak into other tests, ``AutoscalingCluster``'s
``ray stop --force`` only sees the scenario's own processes, default ports (6379, 8265, 10001,
52365) are free, and a timeout kills the whole namespace. The scenario prints one JSON line last;
the test asserts on it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from tests.conftest import saved_answer_parts
from tests.integration.isolation import TEST_ENV, die_with_parent, isolated, isolation  # noqa: F401 (fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "jobs", "configs", "demo.yaml")
GENERATION_ONLY = ["transfer.subsets=[LL]", "parallel.enabled=false", "code_switch.enabled=false",
                   "languages.targets=[ja]"]
GEN_ACTOR = "MapWorker(MapBatches(Generator))"
RESULT_PREFIX = "SCENARIO-RESULT "
def run_scenario(name: str, out_dir: str, timeout_s: int) -> dict:
    ray_tmp = tempfile.mkdtemp(prefix=f"sdrrl-{name}-", dir="/tmp")
    cmd = isolated([sys.executable, "-m", "tests.integration.test_multinode", name, out_dir], ray_tmp, net=True)
    env = {**os.environ, **TEST_ENV}
    env.pop("RAY_ADDRESS", None)
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s,
                              preexec_fn=die_with_parent)
    except subprocess.TimeoutExpired as exc:  # run() has killed unshare: the namespace is gone
        tail = (exc.stdout or b"")[-3000:]
        pytest.fail(f"scenario {name} timed out after {timeout_s}s; output tail:\n{tail!r}")
    finally:
        if not os.environ.get("SDRRL_KEEP_RAY_LOGS"):  # set it to keep the scenario's /tmp/ray (session logs)
            shutil.rmtree(ray_tmp, ignore_errors=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    assert proc.returncode == 0 and lines, (
        f"scenario {name} exited {proc.returncode}\nstdout tail:\n{proc.stdout[-4000:]}"
        f"\nstderr tail:\n{proc.stderr[-6000:]}"
    )
    result = json.loads(lines[-1][len(RESULT_PREFIX):])
    result["wall_s"] = round(time.perf_counter() - started, 1)
    print(f"scenario {name}: {json.dumps(result)}")
    return result


# ----------------------------------------------------------------------------------------------
# tests


def check_run(result: dict, limit: int) -> None:
    m = result["manifest"]
    assert m["complete"] is True
    assert m["rows_in"] == limit == m["rows_out"] + m["rows_rejected"]
    assert result["n_ids"] == result["n_unique_ids"] == m["rows_written"], "duplicate or missing transfer-set ids"
    assert result["items"] == limit


@pytest.mark.usefixtures("isolation")
@pytest.mark.slow
@pytest.mark.timeout(420)
def test_actors_spread_over_nodes_and_survive_node_loss(demo_model, tmp_path):
    res = run_scenario("node_loss", str(tmp_path / "out"), timeout_s=400)
    # an actor that asked for a (fake) GPU got one from Ray, yet runs on CPU: torch sees no CUDA
    assert res["device_check"] == {"gpu_ids": [0], "cuda_available": False, "engine_device": "cpu"}
    # the 2 generation actors sat on the 2 nodes with the gpu_gen resource, one each
    spread = res["actor_nodes_before"]
    assert len(spread) == 2 and len(set(spread)) == 2 and set(spread) <= set(res["gen_nodes"])
    assert res["removed_node"] in spread and res["removed_node"] not in res["nodes_alive_after"]
    assert res["cache_parts_at_removal"] < res["cache_parts_at_end"], (
        "the node was removed after generation had finished")
    check_run(res, limit=res["limit"])
    # the lost actor was restarted (on the replacement node) rather than the run failing
    assert res["replacement_node"] in res["actor_nodes_after"] or res["max_restarts_seen"] > 0


@pytest.mark.usefixtures("isolation")
@pytest.mark.slow
@pytest.mark.timeout(420)
def test_autoscaling_cluster_scales_gpu_workers_up_and_down(demo_model, tmp_path):
    res = run_scenario("autoscale", str(tmp_path / "out"), timeout_s=400)
    assert res["gpu_workers_at_start"] == 0
    assert res["gpu_workers_peak"] >= 1  # scaled up for the generation actors' {GPU: 1, gpu_gen: 1}
    assert res["gpu_workers_at_end"] == 0  # and back down after idle_timeout_minutes
    assert res["gen_actor_nodes"] and set(res["gen_actor_nodes"]) <= set(res["gpu_worker_ids_seen"])
    check_run(res, limit=res["limit"])


# ----------------------------------------------------------------------------------------------
# scenarios (run inside the namespace, as __main__)


def _overrides(out: str, limit: int, *extra: str) -> list[str]:
    return [
        f"out_dir={out}", f"data.limit={limit}", "generate.max_new_tokens=16",  # the demo config's own instructions
        "generate.generate_all=true", "rows_per_file=8", "generate.pool.batch_size=4", *GENERATION_ONLY, *extra,
    ]


def _summarise(out: str, manifest: dict, limit: int) -> dict:
    from sdrrl_ray.layout.parts import read_parts as read_output

    kept = read_output(out, "transfer_set", ["id", "item_id"])
    ids = kept.column("id").to_pylist() if kept is not None else []
    rejects = read_output(out, "rejects", ["item_id"])
    items = set(kept.column("item_id").to_pylist()) if kept is not None else set()
    if rejects is not None:
        items |= set(rejects.column("item_id").to_pylist())
    keys = ("complete", "rows_in", "rows_out", "rows_rejected", "rows_written")
    return {"manifest": {k: manifest.get(k) for k in keys}, "n_ids": len(ids), "n_unique_ids": len(set(ids)),
            "items": len(items), "limit": limit}


def _gen_actors(state_filter: str = "ALIVE") -> list:
    from ray.util.state import list_actors

    actors = list_actors(filters=[("state", "=", state_filter)], detail=True, limit=10_000,
                         raise_on_missing_output=False)
    return [a for a in actors if a.class_name == GEN_ACTOR]


class _Run(threading.Thread):
    """run_transfer_set on a background thread of the driver, so the main thread can watch and break nodes."""

    def __init__(self, cfg):
        super().__init__(daemon=True)
        self.cfg, self.manifest, self.error = cfg, None, None

    def run(self):
        from sdrrl_ray.transfer.run import run_transfer_set

        try:
            self.manifest = run_transfer_set(self.cfg)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc


def _wait(predicate, timeout_s: float, what: str, poll_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise TimeoutError(f"timed out after {timeout_s}s waiting for {what}")


def _device_check(model_path: str) -> dict:
    import ray

    @ray.remote(num_gpus=1, num_cpus=1)
    def probe(path):
        import torch

        from sdrrl_ray.engines.base import EngineOptions
        from sdrrl_ray.engines.hf import HFEngine

        engine = HFEngine(path, EngineOptions(num_threads=1))
        return {"gpu_ids": [int(g) for g in ray.get_gpu_ids()], "cuda_available": torch.cuda.is_available(),
                "engine_device": str(engine.device)}

    return ray.get(probe.remote(model_path), timeout=180)


FAST_HEALTH_CHECK = {  # a killed node is declared dead in ~3 s instead of ~30 s
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 1000,
    "health_check_timeout_ms": 1000,
    "health_check_failure_threshold": 3,
}
MiB = 1024 * 1024


def scenario_node_loss(out: str) -> dict:
    import ray
    from ray.cluster_utils import Cluster

    from sdrrl_ray.config import load_config
    from sdrrl_ray.demo.build import demo_model_path

    limit = 160  # one input block: one actor generates, the pool scales the idle one down
    gen_node = dict(num_cpus=2, num_gpus=1, resources={"gpu_gen": 1}, object_store_memory=150 * MiB)
    cluster = Cluster(initialize_head=True, head_node_args=dict(
        num_cpus=4, object_store_memory=300 * MiB, include_dashboard=True, _system_config=FAST_HEALTH_CHECK))
    try:
        gen_nodes = [cluster.add_node(**gen_node) for _ in range(2)]
        ray.init(address=cluster.address, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        result: dict = {"gen_nodes": [n.node_id for n in gen_nodes]}
        result["device_check"] = _device_check(demo_model_path())

        cfg = load_config(DEMO, _overrides(
            out, limit, "generate.pool.min_actors=2", "generate.pool.max_actors=2", "generate.pool.num_gpus=1",
            "generate.pool.num_cpus=1", "generate.pool.resources={gpu_gen: 1}"))
        run = _Run(cfg)
        run.start()

        first_seen: dict = {}  # generation actor id -> node it was first seen alive on

        def busy_generator():  # mid-stage: answers being saved, a generation actor alive to lose
            if not run.is_alive():
                return {"ended": True}
            parts = saved_answer_parts(out)
            actors = _gen_actors() if parts >= 2 or len(first_seen) < 2 else []
            for a in actors:
                first_seen.setdefault(a.actor_id, a.node_id)
            if parts < 2:
                return None
            return actors and {"victim": actors[0].node_id}

        found = _wait(busy_generator, 240, "a generation actor saving answers")
        if found.get("ended"):
            raise RuntimeError(f"the run ended before a node could be removed: {run.error!r}")
        victim = next(n for n in gen_nodes if n.node_id == found["victim"])
        result["cache_parts_at_removal"] = saved_answer_parts(out)
        cluster.remove_node(victim, allow_graceful=False)
        result["removed_node"] = victim.node_id
        replacement = cluster.add_node(**gen_node)
        result["replacement_node"] = replacement.node_id
        run.join(timeout=300)
        if run.is_alive():
            raise TimeoutError("the run did not finish within 300 s after the node loss")
        if run.error:
            raise run.error
        result["cache_parts_at_end"] = saved_answer_parts(out)
        result["nodes_alive_after"] = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
        from ray.util.state import list_actors

        gens = [a for a in list_actors(detail=True, limit=10_000, raise_on_missing_output=False)
                if a.class_name == GEN_ACTOR]
        # where the pool's actors were first placed: seen alive during the run, or (an actor the pool
        # ended early because it had no input left) where the state API says the dead actor ran
        placed = dict(first_seen)
        for a in gens:
            if a.state == "DEAD" and a.node_id and int(a.num_restarts or 0) == 0:
                placed.setdefault(a.actor_id, a.node_id)
        result["actor_nodes_before"] = sorted(placed.values())
        result["actor_nodes_after"] = sorted({a.node_id for a in gens})
        result["max_restarts_seen"] = max([int(a.num_restarts or 0) for a in gens] or [0])
        result.update(_summarise(out, run.manifest, limit))
        return result
    finally:
        ray.shutdown()
        cluster.shutdown()


# AutoscalingCluster builds its config from ray/autoscaler/_private/fake_multi_node/example.yaml,
# which the ray 2.60.0 wheel does not ship (FileNotFoundError). This is that file's content from the
# Ray repository (python/ray/autoscaler/_private/fake_multi_node/example.yaml), minus its node types,
# which AutoscalingCluster replaces anyway.
FAKE_MULTINODE_BASE = {
    "cluster_name": "fake_multinode",
    "max_workers": 8,
    "provider": {"type": "fake_multinode", "use_node_id_as_ip": True, "disable_node_updaters": True,
                 "disable_launch_config_check": True},
    "head_node_type": "ray.head.default",
    "auth": {}, "upscaling_speed": 1.0, "idle_timeout_minutes": 0.1, "docker": {},
    "initialization_commands": [], "setup_commands": [], "head_setup_commands": [], "worker_setup_commands": [],
    "head_start_ray_commands": [], "worker_start_ray_commands": [], "file_mounts": {}, "cluster_synced_files": [],
    "file_mounts_sync_continuously": False, "rsync_exclude": [], "rsync_filter": [],
}


def _autoscaling_cluster(head_resources: dict, worker_node_types: dict, **config):
    """ray.cluster_utils.AutoscalingCluster, with the example.yaml it reads supplied (see above)."""
    import copy

    from ray.cluster_utils import AutoscalingCluster

    class _Shipped(AutoscalingCluster):  # the one adapter: only _generate_config's file read is replaced
        def _generate_config(self, head_resources, worker_node_types, autoscaler_v2=False, **config_kwargs):
            cfg = copy.deepcopy(FAKE_MULTINODE_BASE)
            cfg["available_node_types"] = dict(worker_node_types)
            cfg["available_node_types"]["ray.head.default"] = {"resources": head_resources, "node_config": {},
                                                               "max_workers": 0}
            cfg.update(config_kwargs)
            return cfg

    return _Shipped(head_resources=head_resources, worker_node_types=worker_node_types, **config)


def scenario_autoscale(out: str) -> dict:
    import ray

    from sdrrl_ray.config import load_config

    limit = 48
    cluster = _autoscaling_cluster(
        head_resources={"CPU": 4, "object_store_memory": 300 * MiB},
        worker_node_types={"gpu_gen": {
            "resources": {"CPU": 2, "GPU": 1, "gpu_gen": 1, "object_store_memory": 150 * MiB},
            "node_config": {}, "min_workers": 0, "max_workers": 2}},
        idle_timeout_minutes=0.1,  # 6 s
    )
    cluster.start()
    try:
        ray.init(address="auto", log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False

        def gpu_workers() -> list[str]:
            return [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("gpu_gen")]

        result: dict = {"gpu_workers_at_start": len(gpu_workers())}
        seen: set = set()
        peak = 0
        cfg = load_config(DEMO, _overrides(
            out, limit, "generate.pool.min_actors=1", "generate.pool.max_actors=1", "generate.pool.num_gpus=1",
            "generate.pool.num_cpus=1", "generate.pool.resources={gpu_gen: 1}"))
        run = _Run(cfg)
        run.start()
        actor_nodes: set = set()
        deadline = time.monotonic() + 300
        while run.is_alive() and time.monotonic() < deadline:
            workers = gpu_workers()
            seen.update(workers)
            peak = max(peak, len(workers))
            try:
                actor_nodes.update(a.node_id for a in _gen_actors())
            except Exception:  # noqa: BLE001 - the state API can be briefly unavailable while nodes join
                pass
            time.sleep(0.5)
        run.join(timeout=5)
        if run.is_alive():
            raise TimeoutError("the run did not finish within 300 s")
        if run.error:
            raise run.error
        result.update(gpu_workers_peak=peak, gpu_worker_ids_seen=sorted(seen), gen_actor_nodes=sorted(actor_nodes))
        _wait(lambda: not gpu_workers(), 120, "idle gpu_gen workers to be scaled down", poll_s=1)
        result["gpu_workers_at_end"] = len(gpu_workers())
        result.update(_summarise(out, run.manifest, limit))
        return result
    finally:
        ray.shutdown()
        cluster.shutdown()  # `ray stop --force`: only this namespace's processes


SCENARIOS = {"node_loss": scenario_node_loss, "autoscale": scenario_autoscale}

if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.WARNING)
    name, out_dir = sys.argv[1], sys.argv[2]
    t0 = time.perf_counter()
    res = SCENARIOS[name](out_dir)
    res["scenario_s"] = round(time.perf_counter() - t0, 1)
    print(RESULT_PREFIX + json.dumps(res, default=str), flush=True)
