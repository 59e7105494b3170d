"""``sdrrl transfer-set``: run the data plan into ``OUT`` with resume and a manifest.

Resume unit: an (item, target) set of rows, kept and rejected. Before a run goes on,
:func:`sdrrl_ray.layout.resume.prepare_resume` keeps only intact commits and whole sets (every row
carries its set's size, ``pair_rows``), so a rerun skips exactly the sets already written. Before a
run is declared complete the output is checked again, and against what ingest read.
"""

from __future__ import annotations

import logging
import time
import warnings

from sdrrl_ray import generation_cache, part_cache, storage, translation_cache
from sdrrl_ray.assets import per_pair, resolve_model, translation_model_paths
from sdrrl_ray.codeswitch.lexicon import dictionary_plan
from sdrrl_ray.config import Config
from sdrrl_ray.errors import OutputError, UserError
from sdrrl_ray.execution_stats import operator_stats
from sdrrl_ray.ingest.files import guess_licence, list_inputs, records_read, require_records, skipped_inputs
from sdrrl_ray.layout.lock import lock_owner
from sdrrl_ray.layout.paths import Out
from sdrrl_ray.layout.resume import prepare_resume, verify
from sdrrl_ray.layout.sink import SplitParquetSink
from sdrrl_ray.provenance import git_commit, versions
from sdrrl_ray.runtime import init_ray
from sdrrl_ray.schema import COMP, MT, VARIANTS
from sdrrl_ray.transfer.card import write_card
from sdrrl_ray.transfer.counts import count_output
from sdrrl_ray.transfer.fingerprint import fingerprint
from sdrrl_ray.transfer.parallel import parallel_rows
from sdrrl_ray.transfer.plan import (
    SINK,
    PlanInputs,
    build_plan,
    generation_seed,
    sampling_settings,
    translation_needed,
)

log = logging.getLogger("sdrrl_ray")


def translation_models(cfg: Config, gen_model_path: str) -> dict:
    """target -> resolved translation model (the generation model for the ``llm`` backend), after the
    start-up checks (QE available, every pair's language codes served)."""
    if not translation_needed(cfg):
        return {}
    from sdrrl_ray.filters.qe import check_qe_available

    check_qe_available(cfg)
    targets = list(cfg.languages.targets)
    if cfg.translate.backend == "llm":
        return {t: gen_model_path for t in targets}
    from sdrrl_ray.mt.codes import check_translation_models

    paths = translation_model_paths(cfg.translate.model, cfg.languages.source, targets)
    check_translation_models(paths, cfg.languages.source, cfg.translate.family,
                             what=f"translate.model={cfg.translate.model}")
    return paths


def translation_cache_url(cfg: Config, mt_model) -> str:
    """Folder of the saved translations of this backend, model(s) and settings (key file written)."""
    t = cfg.translate
    settings = {"family": t.family, "beam_size": t.beam_size, "max_input_tokens": t.max_input_tokens,
                "max_decoding_length": t.max_decoding_length, "compute_type": t.compute_type}
    if t.backend == "llm":
        settings.update(engine=cfg.generate.engine, sampling=sampling_settings(cfg))
    key = translation_cache.cache_key(backend=t.backend, models=mt_model, settings=settings)
    url = storage.join(t.cache_dir or Out(cfg.out_dir).translations, key)
    part_cache.write_key_file(url, {"backend": t.backend, "models": mt_model, "settings": settings})
    return url


def run_transfer_set(cfg: Config) -> dict:
    """Build (or finish) the transfer set in ``cfg.out_dir``; return the manifest."""
    out = cfg.out_dir.rstrip("/")
    paths = Out(out)
    files = list_inputs(cfg.data)
    variants = [s for s in cfg.transfer.subsets if s in VARIANTS]
    if variants:  # a run of parallel-corpus tasks only needs no instructions
        require_records(files)
    model_path = resolve_model(cfg.generate.model)
    gen_model = generation_cache.model_fingerprint(model_path)
    mt_paths = translation_models(cfg, model_path)
    if not mt_paths:
        mt_model = None
    elif cfg.translate.backend == "llm" or not per_pair(cfg.translate.model):
        mt_model = generation_cache.model_fingerprint(next(iter(mt_paths.values())))
    else:
        mt_model = {t: generation_cache.model_fingerprint(p) for t, p in mt_paths.items()}
    models = {"generate": gen_model, "translate": mt_model}
    fp = fingerprint(cfg, files, models)

    previous = storage.read_json(paths.run)
    if previous is not None and previous.get("fingerprint") != fp:
        raise UserError(
            f"{out} holds a run with another config, input or model "
            f"(fingerprint {previous.get('fingerprint')} != {fp}); "
            "use a new out_dir, or delete the old one to start over"
        )
    manifest = storage.read_json(paths.manifest)
    state = prepare_resume(out)  # only intact commits and whole (item, target) sets stay
    if manifest is not None and manifest.get("complete") and manifest.get("fingerprint") == fp:
        if not (state.damaged or state.uncommitted or state.incomplete):
            log.warning("%s is complete for this config and input; nothing to do", out)
            if not storage.exists(paths.card):  # a run made before the card existed
                write_card(out, manifest)
            return manifest
        manifest["complete"] = False
        storage.write_json(paths.manifest, manifest)
    storage.write_json(paths.run, {"fingerprint": fp, "started_at": time.time()})
    done, done_targets, whole = state.done, state.by_item, state.whole
    targets = set(cfg.languages.targets)
    skip_items = whole | {item for item, tgts in done_targets.items() if targets <= tgts}
    if done:
        log.warning("resuming: %d (item, target) pair(s) already complete in %s are skipped", len(done), out)
    par_rows, par_report = parallel_rows(cfg, done)
    # rows per pair: mt gives two (both directions), comp one
    n_parallel_tasks = sum(
        r.get("pairs_used", 0) * (2 * (MT in r["tasks"]) + (COMP in r["tasks"]))
        for r in par_report.values() if r.get("pairs_used")
    )

    key = generation_cache.cache_key(
        model=gen_model, engine=cfg.generate.engine, sampling=sampling_settings(cfg),
        seed=generation_seed(cfg), system_prompt=cfg.generate.system_prompt,
    )
    cache_url = storage.join(cfg.generate.cache_dir or paths.generations, key)
    part_cache.write_key_file(
        cache_url,
        {"model": gen_model, "engine": cfg.generate.engine, "sampling": sampling_settings(cfg),
         "seed": generation_seed(cfg)},
    )

    mt_cache_url = translation_cache_url(cfg, mt_model) if mt_paths else None

    init_ray(cfg.ray)
    started = time.perf_counter()
    inputs = PlanInputs(
        files=files, model_path=model_path, generation_cache_url=cache_url, skip_items=skip_items,
        done_targets={k: v for k, v in done_targets.items() if k not in skip_items},
        translation_models=mt_paths, parallel_rows=par_rows, translation_cache_url=mt_cache_url,
    )
    plan = build_plan(cfg, inputs)
    executing = time.perf_counter()
    with warnings.catch_warnings():
        # the one read task streams many blocks, but Ray Data counts it as one input and warns that the light
        # tasks' cap of two (LIGHT) cannot be reached; it is, as the blocks arrive
        warnings.filterwarnings("ignore", message="The maximum number of concurrent tasks", category=UserWarning)
        plan.write_datasink(SplitParquetSink(out, min_rows=cfg.rows_per_file, owner=lock_owner(out)), **SINK)
    wall = time.perf_counter() - started
    execution = {"seconds": round(time.perf_counter() - executing, 3), "operators": operator_stats(plan, executing)}

    manifest = count_output(
        out, n_targets=len(cfg.languages.targets), variants=variants,
        translated=translation_needed(cfg), code_switched=cfg.code_switch.enabled, parallel_tasks=n_parallel_tasks,
        records_in=records_read(files, cfg.data.limit) if variants else 0,  # parallel-only: no instruction rows
    )
    damaged, partial = verify(out)
    problems = list(manifest.pop("problems"))
    if damaged:
        problems.append(f"{len(damaged)} committed part(s) do not match their size and sha256")
    if partial:
        problems.append(f"{len(partial)} (item, target) set(s) are partly written or written twice")
    manifest.update(
        complete=not problems,
        problems=problems,
        fingerprint=fp,
        code_switch={"enabled": cfg.code_switch.enabled, "p": cfg.code_switch.p,
                     "dictionaries": dictionary_plan(cfg.code_switch.dictionaries or None, cfg.languages.source,
                                                     cfg.languages.targets)},
        parallel=par_report,
        config=cfg.to_dict(),
        versions=versions(),
        provenance={
            "inputs": [{"path": f.path, "sha256": f.sha256, "bytes": f.size, "records": f.records} for f in files],
            "skipped": skipped_inputs(cfg.data),
            "models": models,
            "generation_cache": cache_url,
            "translation_cache": mt_cache_url,
            "code_commit": git_commit(),
        },
        licences=licences(cfg, files),
        wall_seconds_last_run=round(wall, 2),
        execution_last_run=execution,  # Ray Data's per-operator timing of this run (sdrrl_ray.execution_stats)
        resumed_pairs=len(done),
    )
    storage.write_json(paths.manifest, manifest)
    if problems:
        raise OutputError(f"{out} does not add up: {'; '.join(problems)}; run the same command again to redo "
                          f"what is missing (details in {paths.manifest})")
    write_card(out, manifest)  # OUT/README.md, the dataset card
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
