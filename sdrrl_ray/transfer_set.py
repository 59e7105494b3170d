"""``sdrrl transfer-set``: run the data plan into ``OUT`` with resume and a manifest.

Resume unit: an (item, target) pair. Its kept rows and reject rows always travel in one block
and are committed together by the sink, so a rerun skips exactly the pairs already written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import defaultdict

from sdrrl_ray import generation_cache, sink
from sdrrl_ray.accounting import count_output
from sdrrl_ray.codeswitch import dictionary_plan
from sdrrl_ray.config import Config
from sdrrl_ray.errors import UserError
from sdrrl_ray.execution_stats import operator_stats
from sdrrl_ray.ingest import guess_licence, list_inputs
from sdrrl_ray.manifest import git_commit, read_json, versions, write_json
from sdrrl_ray.models import resolve_model
from sdrrl_ray.parallel_rows import parallel_rows
from sdrrl_ray.pipeline import (
    KEPT_DIR,
    KEPT_SCHEMA,
    REJECT_SCHEMA,
    VARIANT_SUBSETS,
    PlanInputs,
    build_plan,
    generation_seed,
    sampling_settings,
    translation_needed,
)
from sdrrl_ray.runtime import init_ray

log = logging.getLogger("sdrrl_ray")

# config sections that change no row of the output (resources, later phases)
_NOT_IN_FINGERPRINT = ("out_dir", "ray", "train", "eval", "rows_per_file")


def _content_hash(path: str) -> str:
    """sha256 of a file, or of a folder's files (names and contents); '' when missing."""
    import os

    if not path or not os.path.exists(path):
        return ""
    h = hashlib.sha256()
    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(d, f) for d, _, names in os.walk(path) for f in names)
    for name in files:
        h.update(os.path.relpath(name, path).encode())
        with open(name, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()


def fingerprint(cfg: Config, files: list, models: dict) -> str:
    """What decides the rows: config (minus resources and later phases), input and resource
    file contents, models. Paths are replaced by content hashes, so the same run submitted from
    another folder (a Ray Job's working_dir upload) resumes instead of being refused."""
    conf = {k: v for k, v in cfg.to_dict().items() if k not in _NOT_IN_FINGERPRINT}
    for section in conf.values():
        if isinstance(section, dict):
            section.pop("pool", None)
    conf["generate"].pop("cache_dir", None)
    conf["data"]["path"] = [f.sha256 for f in files]
    conf["code_switch"]["dictionaries"] = _content_hash(cfg.code_switch.dictionaries)
    conf["parallel"]["paths"] = {t: _content_hash(p) for t, p in cfg.parallel.paths.items()}
    # a local folder is known by its config and weight files; a hub id or URL only by its name
    models = {k: {kk: vv for kk, vv in v.items() if kk != "path" or "config_sha256" not in v} if v else v
              for k, v in models.items()}
    payload = {"config": conf, "models": models}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def completed(out: str) -> tuple[set, dict, frozenset]:
    """(done (item_id, tgt) pairs, item -> done targets, items complete for every target)."""
    done: set = set()
    for sub in (KEPT_DIR, sink.REJECTS):
        table = sink.read_output(out, sub, ["item_id", "tgt_lang"])
        if table is not None:
            done.update(zip(table.column("item_id").to_pylist(), table.column("tgt_lang").to_pylist()))
    by_item: dict = defaultdict(set)
    whole: set = set()
    for item, tgt in done:
        if tgt is None:
            whole.add(item)
        else:
            by_item[item].add(tgt)
    return done, dict(by_item), frozenset(whole)


def run_transfer_set(cfg: Config) -> dict:
    """Build (or finish) the transfer set in ``cfg.out_dir``; return the manifest."""
    out = cfg.out_dir.rstrip("/")
    files = list_inputs(cfg.data)
    model_path = resolve_model(cfg.generate.model)
    gen_model = generation_cache.model_fingerprint(model_path)
    mt_path = ""
    if translation_needed(cfg):
        from sdrrl_ray.filters import check_qe_available
        from sdrrl_ray.translate import check_translation_model, resolve_translation_model

        check_qe_available(cfg)
        check_translation_model(cfg.translate.model, cfg.languages.source, list(cfg.languages.targets),
                                cfg.translate.backend, cfg.translate.family)
        mt_path = resolve_translation_model(cfg.translate.model) if cfg.translate.backend != "llm" else model_path
    models = {"generate": gen_model, "translate": generation_cache.model_fingerprint(mt_path) if mt_path else None}
    fp = fingerprint(cfg, files, models)

    previous = read_json(f"{out}/run.json")
    if previous is not None and previous.get("fingerprint") != fp:
        raise UserError(
            f"{out} holds a run with another config, input or model (fingerprint {previous.get('fingerprint')} != {fp}); "
            "use a new out_dir, or delete the old one to start over"
        )
    manifest = read_json(f"{out}/manifest.json")
    if manifest is not None and manifest.get("complete") and manifest.get("fingerprint") == fp:
        log.warning("%s is complete for this config and input; nothing to do", out)
        return manifest

    removed = sink.prepare_output(out, KEPT_DIR)
    if removed:
        log.warning("removed %d uncommitted part file(s) left by an interrupted run", removed)
    write_json(f"{out}/run.json", {"fingerprint": fp, "started_at": time.time()})
    done, done_targets, whole = completed(out)
    targets = set(cfg.languages.targets)
    skip_items = whole | {item for item, tgts in done_targets.items() if targets <= tgts}
    if done:
        log.warning("resuming: %d (item, target) pair(s) already complete in %s are skipped", len(done), out)
    par_rows, par_report = parallel_rows(cfg, done)
    # rows per pair: mt gives two (both directions), comp one
    n_parallel_tasks = sum(r.get("pairs_used", 0) * (2 * ("mt" in r["tasks"]) + ("comp" in r["tasks"])) for r in par_report.values() if r.get("pairs_used"))

    key = generation_cache.cache_key(
        model=gen_model, engine=cfg.generate.engine, sampling=sampling_settings(cfg),
        seed=generation_seed(cfg), system_prompt=cfg.generate.system_prompt,
    )
    cache_url = f"{(cfg.generate.cache_dir or f'{out}/generations').rstrip('/')}/{key}"
    generation_cache.write_key_file(
        cache_url, {"model": gen_model, "engine": cfg.generate.engine, "sampling": sampling_settings(cfg), "seed": generation_seed(cfg)}
    )

    init_ray(cfg.ray)
    started = time.perf_counter()
    inputs = PlanInputs(
        files=files, model_path=model_path, generation_cache_url=cache_url, skip_items=skip_items,
        done_targets={k: v for k, v in done_targets.items() if k not in skip_items},
        translation_model_path=mt_path, parallel_rows=par_rows,
    )
    plan = build_plan(cfg, inputs)
    executing = time.perf_counter()
    plan.write_datasink(sink.SplitParquetSink(out, KEPT_DIR, KEPT_SCHEMA, REJECT_SCHEMA, min_rows=cfg.rows_per_file))
    wall = time.perf_counter() - started
    execution = {"seconds": round(time.perf_counter() - executing, 3), "operators": operator_stats(plan, executing)}

    variants = [s for s in cfg.transfer.subsets if s in VARIANT_SUBSETS]
    manifest = count_output(
        out, KEPT_DIR, n_targets=len(cfg.languages.targets), variants=variants,
        translated=translation_needed(cfg), code_switched=cfg.code_switch.enabled, parallel_tasks=n_parallel_tasks,
    )
    manifest.update(
        complete=True,
        fingerprint=fp,
        code_switch={"enabled": cfg.code_switch.enabled, "p": cfg.code_switch.p,
                     "dictionaries": dictionary_plan(cfg.code_switch.dictionaries or None, cfg.languages.source, cfg.languages.targets)},
        parallel=par_report,
        config=cfg.to_dict(),
        versions=versions(),
        provenance={
            "inputs": [{"path": f.path, "sha256": f.sha256, "bytes": f.size} for f in files],
            "models": models,
            "generation_cache": cache_url,
            "code_commit": git_commit(),
        },
        licences=licences(cfg, files),
        wall_seconds_last_run=round(wall, 2),
        execution_last_run=execution,  # Ray Data's per-operator timing of this run (sdrrl_ray.execution_stats)
        resumed_pairs=len(done),
    )
    write_json(f"{out}/manifest.json", manifest)
    return manifest


def licences(cfg: Config, files: list) -> list[str]:
    out = [f"instructions: {guess_licence(files, cfg.data.license)}",
           "self-generated answers: the generation model's licence and terms of use",
           "translations: the translation model's licence"]
    if cfg.code_switch.enabled and "muse" in (cfg.code_switch.dictionaries or "").lower():
        out.append("code-switching dictionaries: MUSE, CC BY-NC 4.0")
    for tgt, path in cfg.parallel.paths.items():
        if "tatoeba" in str(path).lower():
            out.append(f"parallel corpus ({tgt}): Tatoeba, CC BY 2.0 FR")
    return out


def summary(manifest: dict) -> str:
    lines = [
        f"rows_in={manifest['rows_in']} rows_out={manifest['rows_out']} rows_rejected={manifest['rows_rejected']} "
        f"rows_written={manifest.get('rows_written')}",
    ]
    for name, s in manifest["stages"].items():
        lines.append(f"  {name:<14} {s['unit']:<17} in={s['in']:<7} out={s['out']:<7} rejected={s['rejected']}")
    if manifest.get("subsets"):
        lines.append("  subsets: " + ", ".join(f"{k}={v}" for k, v in manifest["subsets"].items()))
    if manifest.get("reject_reasons"):
        lines.append("  reject reasons: " + ", ".join(f"{k}={v}" for k, v in manifest["reject_reasons"].items()))
    return "\n".join(lines)
