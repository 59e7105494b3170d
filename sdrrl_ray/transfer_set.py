"""``sdrrl transfer-set``: run the data plan into ``OUT`` with per-item resume and a manifest."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time

from sdrrl_ray import generation_cache, sink
from sdrrl_ray.config import Config
from sdrrl_ray.errors import UserError
from sdrrl_ray.ingest import guess_licence, list_inputs
from sdrrl_ray.manifest import build_manifest, read_json, write_json
from sdrrl_ray.models import resolve_model
from sdrrl_ray.pipeline import KEPT_DIR, KEPT_SCHEMA, REJECT_SCHEMA, STAGES, PlanInputs, build_plan
from sdrrl_ray.pipeline import generation_seed, sampling_settings
from sdrrl_ray.runtime import init_ray

log = logging.getLogger("sdrrl_ray")

# config sections that change no row of the output (resources, later phases)
_NOT_IN_FINGERPRINT = ("out_dir", "ray", "train", "eval", "rows_per_file")


def fingerprint(cfg: Config, files: list, model: dict) -> str:
    conf = {k: v for k, v in cfg.to_dict().items() if k not in _NOT_IN_FINGERPRINT}
    for section in conf.values():
        if isinstance(section, dict):
            section.pop("pool", None)
    payload = {"config": conf, "inputs": [[f.path, f.sha256] for f in files], "model": model}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def run_transfer_set(cfg: Config) -> dict:
    """Build (or finish) the transfer set in ``cfg.out_dir``; return the manifest."""
    out = cfg.out_dir.rstrip("/")
    files = list_inputs(cfg.data)
    model_path = resolve_model(cfg.generate.model)
    model = generation_cache.model_fingerprint(model_path)
    fp = fingerprint(cfg, files, model)

    run_file = f"{out}/run.json"
    previous = read_json(run_file)
    if previous is not None and previous.get("fingerprint") != fp:
        raise UserError(
            f"{out} holds a run with another config or input (fingerprint {previous.get('fingerprint')} != {fp}); "
            "use a new out_dir, or delete the old one to start over"
        )
    manifest = read_json(f"{out}/manifest.json")
    if manifest is not None and manifest.get("complete") and manifest.get("fingerprint") == fp:
        log.warning("%s is complete for this config and input; nothing to do", out)
        return manifest

    removed = sink.prepare_output(out, KEPT_DIR)
    if removed:
        log.warning("removed %d uncommitted part file(s) left by an interrupted run", removed)
    write_json(run_file, {"fingerprint": fp, "started_at": time.time()})
    skip_ids = sink.completed_items(out, KEPT_DIR)
    if skip_ids:
        log.warning("resuming: %d item(s) already complete in %s are skipped", len(skip_ids), out)

    key = generation_cache.cache_key(
        model=model,
        engine=cfg.generate.engine,
        sampling=sampling_settings(cfg),
        seed=generation_seed(cfg),
        system_prompt=cfg.generate.system_prompt,
    )
    cache_url = f"{out}/generations/{key}"
    generation_cache.write_key_file(
        cache_url,
        {"model": model, "engine": cfg.generate.engine, "sampling": sampling_settings(cfg), "seed": generation_seed(cfg)},
    )

    init_ray(cfg.ray)
    started = time.perf_counter()
    ds = build_plan(cfg, PlanInputs(files=files, skip_ids=skip_ids, model_path=model_path, generation_cache_url=cache_url))
    ds.write_datasink(sink.SplitParquetSink(out, KEPT_DIR, KEPT_SCHEMA, REJECT_SCHEMA, min_rows=cfg.rows_per_file))
    wall = time.perf_counter() - started

    manifest = build_manifest(
        out,
        KEPT_DIR,
        STAGES,
        config=cfg.to_dict(),
        provenance={
            "inputs": [{"path": f.path, "sha256": f.sha256, "bytes": f.size} for f in files],
            "generation_model": model,
            "generation_cache": cache_url,
        },
        licences=[guess_licence(files, cfg.data.license), "model outputs: the generation model's licence"],
        extra={"complete": True, "fingerprint": fp, "wall_seconds_last_run": round(wall, 2), "resumed_items": len(skip_ids)},
    )
    write_json(f"{out}/manifest.json", manifest)
    return manifest


def summary(manifest: dict) -> str:
    lines = [
        f"rows_in={manifest['rows_in']} rows_out={manifest['rows_out']} rows_rejected={manifest['rows_rejected']}",
    ]
    for name, s in manifest["stages"].items():
        lines.append(f"  {name:<14} {s['unit']:<12} in={s['in']:<6} out={s['out']:<6} rejected={s['rejected']}")
    if manifest.get("reject_reasons"):
        lines.append("  reject reasons: " + ", ".join(f"{k}={v}" for k, v in manifest["reject_reasons"].items()))
    if manifest.get("subsets"):
        lines.append("  subsets: " + ", ".join(f"{k}={v}" for k, v in manifest["subsets"].items()))
    return "\n".join(lines)
