"""The plan in the run's own phases (transfer-set, train, eval), in seconds: the per-token times of
generate + translate, train and eval, plus each phase's fixed start-up (Ray; actor pools and model loads;
tokenization, the Ray Train run, DeepSpeed initialisation, checkpoints and exports; evaluation model
loads). Start-up comes from ``benchmarks/results/startup.json`` (``benchmarks/bench_startup.py``: the
pipeline run with almost no work, once with one target and once with two), as a base per phase plus a part
per target, per training run or per evaluated model. It was measured on a CPU machine: for a GPU node
type the plan says start-up is not modelled rather than reuse it.
"""

from __future__ import annotations

from typing import Optional

from sdrrl_ray.config import Config

RUN_PHASES = {"transfer-set": ("generate", "translate"), "train": ("train",), "eval": ("eval",)}


def load(results: list, node) -> Optional[tuple[str, dict]]:
    """(path, data) of the start-up result that fits ``node`` (CPU results for CPU node types), or None."""
    for path, data in results:
        if data.get("benchmark") == "startup" and isinstance(data.get("phases"), dict) \
                and (data.get("device") == "cpu") == (not node.is_gpu):
            return path, data
    return None


def units(cfg: Config, phases: dict) -> dict:
    targets = list(cfg.languages.targets)
    return {"targets": len(targets), "train_runs": len(targets) if cfg.train.per_target else 1,
            "eval_models": (phases.get("eval") or {}).get("models", 0)}


def run_phases(cfg: Config, phases: dict, found: Optional[tuple[str, dict]]) -> dict:
    """Per run phase: work_s (per-token time), startup_s (None when not modelled), total_s; the run's
    Ray start and shutdown; predicted_total_s."""
    data = found[1] if found else None
    count = units(cfg, phases)
    out: dict = {"phases": {}, "source": found[0] if found else None}
    for name, parts in RUN_PHASES.items():
        if name == "eval" and "eval" not in phases:
            continue
        work = sum(phases[p]["wall_hours"] for p in parts if p in phases) * 3600.0
        fixed = None
        if data and name in data["phases"]:
            s = data["phases"][name]
            fixed = max(0.0, float(s["base_s"]) + float(s["per_unit_s"]) * count.get(s["unit"], 0))
        out["phases"][name] = {"work_s": work, "startup_s": fixed, "total_s": work + (fixed or 0.0)}
    ray = (float(data.get("ray_start_s", 0)) + float(data.get("ray_shutdown_s", 0))) if data else None
    out["ray_s"] = ray
    out["predicted_total_s"] = (ray or 0.0) + sum(p["total_s"] for p in out["phases"].values())
    return out
