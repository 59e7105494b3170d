"""bench_e2e.py, part 1: the demo run phase by phase through the project's own entry point
(``sdrrl_ray.app.phases.run_phases``), and the transfer-set phase split from its manifest (outside the
Ray Data execution, start-up, steady; per operator spans and busy task-seconds). Also what both parts
share: the environment, the demo config, and the record of what each phase ran with."""

from __future__ import annotations

import os
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHASES = ("transfer-set", "train", "eval")
QUIET_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "SDRRL_CACHE": os.path.join(ROOT, ".cache", "sdrrl"),
    "TORCH_EXTENSIONS_DIR": os.path.join(ROOT, ".cache", "torch_extensions"),
}


def env_defaults() -> None:
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.pop("RAY_ADDRESS", None)  # the demo runs on a local instance of its own, never on a running one


def demo_config(overrides: list[str]):
    from sdrrl_ray.app.cli import DEMO_CONFIG
    from sdrrl_ray.config import load_config

    return load_config(DEMO_CONFIG, overrides)


# ----------------------------------------------------------------------------------------------
# what each side ran with


def params(folder: str) -> int | None:
    try:
        import numpy as np
        import safetensors

        with safetensors.safe_open(os.path.join(folder, "model.safetensors"), "np") as f:
            return int(sum(int(np.prod(f.get_slice(k).get_shape())) for k in f.keys()))
    except Exception:  # noqa: BLE001 - a size we cannot read is recorded as unknown
        return None


def setup_record(cfg) -> dict:
    """Model sizes, batch sizes, actors and threads of every phase, from the resolved config."""
    from sdrrl_ray.assets import resolve_model, resolve_translation_model

    g, t, tr, ev = cfg.generate, cfg.translate, cfg.train, cfg.eval
    f, cs = cfg.filter.pool, cfg.code_switch.pool
    gen_path = resolve_model(g.model)
    mt_path = resolve_translation_model(t.model) if t.backend != "llm" else gen_path
    train_path = resolve_model(tr.model) if tr.model else gen_path
    return {
        "generate": {"engine": g.engine, "model": g.model, "params": params(gen_path),
                     "dtype": g.dtype + " (fp32 on CPU)",
                     "max_new_tokens": g.max_new_tokens, "batch_size": g.pool.batch_size,
                     "actors": [g.pool.min_actors, g.pool.max_actors], "cpus_per_actor": g.pool.num_cpus,
                     "torch_threads_per_actor": max(1, int(g.pool.num_cpus))},
        "translate": {"backend": t.backend, "model": t.model, "params": params(mt_path),
                      "compute_type": t.compute_type + (" (int8 on CPU)" if t.compute_type == "auto" else ""),
                      "beam_size": t.beam_size, "batch_size": t.pool.batch_size,
                      "actors": [t.pool.min_actors, t.pool.max_actors], "cpus_per_actor": t.pool.num_cpus,
                      "threads_per_actor": max(1, int(t.pool.num_cpus))},
        "filter_and_code_switch": {"filter_actors": f.max_actors, "filter_batch_size": f.batch_size,
                                   "code_switch_actors": cs.max_actors, "code_switch_batch_size": cs.batch_size},
        "train": {"model": tr.model or g.model, "params": params(train_path), "workers": tr.num_workers,
                  "micro_batch_size": tr.micro_batch_size, "grad_accum": tr.grad_accum, "epochs": tr.epochs,
                  "max_length": tr.max_length, "zero_stage": tr.zero_stage,
                  "precision": tr.precision + " (fp32 on CPU)"},
        "eval": {"tasks": list(ev.tasks), "limit": ev.limit, "engine": ev.engine, "batch_size": ev.pool.batch_size,
                 "actors": [ev.pool.min_actors, ev.pool.max_actors], "max_new_tokens": ev.max_new_tokens},
        "ray_num_cpus": cfg.ray.num_cpus,
        "items_limit": cfg.data.limit,
    }


# ----------------------------------------------------------------------------------------------
# the demo, phase by phase


def transfer_set_split(manifest: dict, phase_s: float) -> dict:
    """The transfer-set phase split from its manifest: outside execution, start-up, steady; operators."""
    execution = manifest.get("execution_last_run") or {}
    ops = execution.get("operators") or []
    exec_s = float(execution.get("seconds") or 0.0)
    gen = next((o for o in ops if "Generator" in o["name"]), None)
    startup = gen["start_s"] if gen and gen.get("start_s") is not None else None
    from sdrrl_ray.schema import PARALLEL_TASKS

    subsets = manifest.get("subsets") or {}
    return {
        "phase_s": round(phase_s, 3),
        "outside_execution_s": round(phase_s - exec_s, 3),
        "execution_s": round(exec_s, 3),
        "startup_s": round(startup, 3) if startup is not None else None,
        "steady_s": round(exec_s - startup, 3) if startup is not None else None,
        "operators": ops,
        "rows": {k: manifest.get(k)
                 for k in ("rows_in", "rows_out", "rows_rejected", "rows_written", "rejects_written")}
                | {"parallel_rows": sum(int(subsets.get(t, 0)) for t in PARALLEL_TASKS), "subsets": subsets},
    }


def stage_split(args, root: str) -> dict:
    import ray

    from sdrrl_ray.app.cli import PROG
    from sdrrl_ray.app.phases import run_phases
    from sdrrl_ray.layout.paths import Out
    from sdrrl_ray.runtime import init_ray
    from sdrrl_ray.storage import read_json

    out = os.path.join(root, "demo")
    cfg = demo_config([f"out_dir={out}", *([f"data.limit={args.limit}"] if args.limit else []), *args.override])
    setup, paths = setup_record(cfg), Out(out)
    stages, detail = [], {}
    t_all = time.perf_counter()
    t0 = time.perf_counter()
    init_ray(cfg.ray)  # what the first phase would do; timed on its own
    stages.append({"stage": "ray_init", "seconds": round(time.perf_counter() - t0, 3)})
    try:
        for phase in args.phases:
            t0 = time.perf_counter()
            run_phases(cfg, (phase,), prog=PROG)  # as `sdrrl demo` runs it
            seconds = time.perf_counter() - t0
            stages.append({"stage": phase, "seconds": round(seconds, 3)})
            if phase == "transfer-set":
                detail["transfer-set"] = transfer_set_split(read_json(paths.manifest), seconds)
            elif phase == "train":
                tm = read_json(paths.train_manifest) or {}
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
                rep = read_json(paths.report_json) or {}
                detail["eval"] = {"seconds_reported": rep.get("seconds")}
    finally:
        t0 = time.perf_counter()
        ray.shutdown()
        stages.append({"stage": "ray_shutdown", "seconds": round(time.perf_counter() - t0, 3)})
    total = time.perf_counter() - t_all
    return {"out_dir": out, "setup": setup, "stages": stages, "total_s": round(total, 3),
            "stages_sum_s": round(sum(s["seconds"] for s in stages), 3), "detail": detail}
