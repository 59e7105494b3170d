"""``run_train(cfg)``: transfer set -> tokenized Ray Dataset -> one Ray Train run per target -> HF folders.

Reads the committed transfer set and tokenizes it (:mod:`.data`), and trains one model per target language
(``train.per_target``, the paper's setting) or one on every target (``train.per_target=false``).
Writes ``OUT/model/`` (one model) or ``OUT/model/<target>/`` (several), each with a
``train_summary.json``; with ``train.export_every_epoch`` also ``OUT/epochs/<name>/epoch-<k>/``, the model
after each epoch k (the summary's ``epoch_exports``); ``OUT/train_log.jsonl``; ``OUT/plots/loss.png``;
``OUT/train_manifest.json`` (tokenization counts: trims and rejects with reasons, held-out split, subset sizes
and weights, steps).

A target whose model folder already has a ``train_summary.json`` with the same fingerprint is skipped;
an interrupted run resumes from its latest checkpoint when the same command is run again (from the one
before it, with a warning, when the latest is damaged: :mod:`sdrrl_ray.train.checkpoints`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from typing import Optional

from sdrrl_ray import storage
from sdrrl_ray.assets import resolve_model
from sdrrl_ray.config import Config, TrainConfig
from sdrrl_ray.errors import UserError
from sdrrl_ray.layout.paths import TRAIN_SUMMARY, Out
from sdrrl_ray.provenance import git_commit, versions
from sdrrl_ray.train import run_index
from sdrrl_ray.train.data import (
    META_COLUMNS,
    digest,
    effective_max_length,
    file_sizes,
    tokenized_cached,
    transfer_set_files,
)

log = logging.getLogger("sdrrl_ray")

# train keys that change how a run is executed but not what it computes
_OPERATIONAL = ("storage_path", "max_failures", "num_to_keep", "keep_checkpoints", "resources_per_worker",
                "report_interval_s",
                "tokenize_pool", "resume_from", "offload_optimizer", "offload_params", "activation_checkpointing",
                "packing", "report_to", "eval_every_steps")


def check_train_config(cfg: Config) -> None:
    """Driver-side checks that need no Ray: batch arithmetic, export dtype, LoRA availability."""
    from sdrrl_ray.train.ds_config import check_batch, ds_config, resolve_export_dtype

    tc = cfg.train
    check_batch(tc, tc.num_workers)
    ds_config(tc, tc.num_workers, tc.use_gpu)
    resolve_export_dtype(tc, tc.use_gpu)
    if tc.report_to:
        from sdrrl_ray.train.trackers import check_trackers

        check_trackers(tc.report_to)
    if tc.lora:
        import importlib.util

        if importlib.util.find_spec("peft") is None:
            raise UserError("train.lora is set but the peft package is not installed; "
                            "pip install peft (on every node), or set train.lora={} for full fine-tuning")


def model_to_train(cfg: Config) -> str:
    if cfg.train.model:
        return resolve_model(cfg.train.model, "train.model")
    return resolve_model(cfg.generate.model, "generate.model (train.model is empty, so the generator is trained)")


def fingerprint(cfg: Config, *, model_path: str, targets: list, sizes: list, max_length: int) -> str:
    """Everything that shapes a trained model: a changed value means a new run (and a new checkpoint folder)."""
    train = {k: v for k, v in cfg.to_dict()["train"].items() if k not in _OPERATIONAL}
    return digest(dict(train=train, seed=cfg.seed, model=model_path, targets=targets, files=sizes,
                        max_length=max_length, system_prompt=cfg.generate.system_prompt))


def training_groups(cfg: Config) -> list[tuple[str, list, str]]:
    """(name, targets, model folder) per model to train: one per target (``train.per_target``, the paper)
    or one for every target; ``OUT/model`` when there is one model, ``OUT/model/<name>`` otherwise."""
    targets = list(cfg.languages.targets)
    if cfg.train.per_target:
        groups = [(t, [t]) for t in targets]
    else:
        groups = [("multi" if len(targets) > 1 else targets[0], targets)]
    out = Out(cfg.out_dir)
    return [(name, group, out.models if len(groups) == 1 else out.model(name)) for name, group in groups]


def _check_model_layout(root: str, n_models: int) -> None:
    """One model in OUT/model and per-target models in OUT/model/<target>/ must not replace each other."""
    fs, path = storage.url_to_fs(root)
    if not fs.exists(path):
        return
    if n_models == 1:
        nested = [p.rsplit("/", 2)[-2] for p in fs.glob(f"{path}/*/train_summary.json")]
        if nested:
            raise UserError(f"{root} holds per-target models ({', '.join(sorted(nested))}); training one model there "
                            f"would replace them: use another out_dir, or remove {root}")
    elif fs.exists(f"{path}/config.json"):
        raise UserError(f"{root} holds a single model; per-target models go to {root}/<target>/ and would be deleted "
                        f"with it on its next export: use another out_dir, or remove {root}")


def _train_one(cfg: Config, *, name: str, targets: list, rows_url: str, index_ref, info: dict, model_path: str,
               fp: str, max_length: int, model_dir: str, log_url: str, pad_id: int,
               test_hooks: Optional[dict]) -> dict:
    """``index_ref`` / ``info``: the run's Index (a Ray ref) and its counts, from :mod:`.run_index`."""
    from sdrrl_ray.train.trainer import build_trainer, storage_path

    tc: TrainConfig = cfg.train
    start = time.perf_counter()
    run_name = f"sdrrl-train-{name}-{fp}"
    if test_hooks:  # a test's variants of one config must not restore each other's checkpoints
        run_name += "-t" + digest(test_hooks)[:6]
    counts = info["counts"]
    if info["n_train"] == 0:
        raise UserError(f"no trainable rows for target {name}: {counts['rows']} rows, {counts['rejected']} rejected "
                        f"({counts['reject_reasons']}); raise train.max_length or check OUT/transfer_set")
    G = tc.micro_batch_size * tc.grad_accum * tc.num_workers
    spe = info["steps_per_epoch"]
    env = {"TOKENIZERS_PARALLELISM": "false",
           **{k: os.environ[k] for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT") if k in os.environ}}
    if not tc.use_gpu:
        env["DS_ACCELERATOR"] = "cpu"
    if os.environ.get("TORCH_EXTENSIONS_DIR"):
        env["TORCH_EXTENSIONS_DIR"] = os.environ["TORCH_EXTENSIONS_DIR"]
    from sdrrl_ray.train.checkpoints import check_run_state

    # a damaged latest checkpoint (or Ray's record of them): warn here; the workers resume from the one before
    fallback, warnings = check_run_state(f"{storage_path(cfg)}/{run_name}")
    for line in warnings:
        log.warning("target %s: %s", name, line)
    loop_config = dict(train=tc, seed=cfg.seed, model_path=model_path, rows_url=rows_url, index=index_ref,
                       steps_per_epoch=spe, export_dir=model_dir, epochs_dir=Out(cfg.out_dir).epoch_models(name),
                       log_path=log_url, run=run_name, target=name,
                       pad_id=pad_id, max_length=max_length, env=env, resume_from=tc.resume_from,
                       fallback_checkpoint=fallback, test_hooks=test_hooks or {})
    from sdrrl_ray.train.follow import Follower, can_follow

    follow = can_follow(log_url)  # on a terminal the driver draws the progress line; else rank 0 prints lines
    loop_config["console_progress"] = not follow
    if tc.report_to:
        from sdrrl_ray.train.trackers import tracker_spec

        loop_config["trackers"] = tracker_spec(tc.report_to, out_dir=cfg.out_dir, run=run_name, params=cfg.to_dict())
    trainer = build_trainer(cfg, loop_config=loop_config, run_name=run_name)
    log.info("target %s: run %s, %d training rows (%d items), %d held out, %s steps per epoch",
             name, run_name, info["n_train"], info["n_items"], info["n_heldout"], spe)
    try:
        with Follower(log_url, run_name, name, sum(spe)) if follow else contextlib.nullcontext():
            result = trainer.fit()
    except Exception as exc:
        raise RuntimeError(
            f"training for target {name} failed (run {run_name}, checkpoints under {storage_path(cfg)}/{run_name}); "
            f"rerun the same command to resume from the last checkpoint"
        ) from exc
    from sdrrl_ray.train.metrics import merge_parts, read_log

    merge_parts(log_url)
    epoch_exports = {r["epoch"] + 1: r["path"] for r in read_log(log_url)  # this run's, a redone epoch once
                     if r.get("run") == run_name and r.get("event") == "epoch_export"}
    sub_counts = {s: n for s, (n, _) in info["subsets"].items()}
    weights = {s: w for s, (_, w) in sorted(info["subsets"].items())}
    summary = dict(
        target=name, targets=targets, fingerprint=fp, run=run_name, model_dir=model_dir, base_model=model_path,
        tokenize=dict(counts, max_length=max_length),
        heldout=dict(items=info["heldout_items"], rows=info["n_heldout"], fraction=tc.heldout_fraction),
        train=dict(items=info["n_items"], rows=info["n_train"], subsets=dict(sorted(sub_counts.items())),
                   weights=weights,
                   loss_weighting=tc.loss_weighting, global_batch=G, steps_per_epoch=spe),
        result=result.return_value,
        checkpoints=f"{storage_path(cfg)}/{run_name}",
        epoch_exports={str(k): epoch_exports[k] for k in sorted(epoch_exports)},
        seconds=round(time.perf_counter() - start, 1),
        skipped=False,
    )
    storage.write_json(storage.join(model_dir, TRAIN_SUMMARY), summary)  # first: the run is done (a rerun skips it)
    _after_export(cfg, summary)
    storage.write_json(storage.join(model_dir, TRAIN_SUMMARY), summary)
    return summary


def _after_export(cfg: Config, summary: dict) -> None:
    """The model cards (model folder, per-epoch exports), then the checkpoints pruned unless
    ``train.keep_checkpoints=all``; adds ``cards`` and ``pruned`` to ``summary``. Failures only warn."""
    from sdrrl_ray.train.card import write_card
    from sdrrl_ray.train.checkpoints import prune

    name, tconf = summary["target"], {**cfg.to_dict()["train"], "seed": cfg.seed}
    cards = []
    try:
        cards.append(write_card(summary["model_dir"], summary=summary, out_dir=cfg.out_dir, train_config=tconf))
        for k, path in summary["epoch_exports"].items():
            cards.append(write_card(path, summary=summary, out_dir=cfg.out_dir, train_config=tconf, epoch=int(k)))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("target %s: model card not written (%s)", name, exc)
    summary["cards"] = cards
    if cfg.train.keep_checkpoints == "all":
        summary["pruned"] = None
        return
    if not storage.exists(storage.join(summary["model_dir"], "config.json")):
        log.warning("target %s: %s has no config.json; checkpoints kept", name, summary["model_dir"])
        summary["pruned"] = None
        return
    try:
        pruned = prune(summary["checkpoints"])
    except (OSError, ValueError) as exc:
        log.warning("target %s: checkpoints under %s not pruned (%s)", name, summary["checkpoints"], exc)
        summary["pruned"] = None
        return
    summary["pruned"] = pruned
    log.info("target %s: checkpoints pruned (train.keep_checkpoints=latest): kept %s without its optimizer state "
             "(%s), deleted %d older checkpoint folder(s); %.1f MB freed", name, pruned["kept"],
             ", ".join(pruned["files_deleted"]) or "none found", len(pruned["folders_deleted"]),
             pruned["bytes_freed"] / 1e6)


def run_train(cfg: Config, *, _test_hooks: Optional[dict] = None) -> dict:
    """Train on ``OUT/transfer_set``; returns a summary dict (per target: counts, steps, losses, paths).

    ``_test_hooks`` is for tests only (fault injection, per-step row ids; see :mod:`sdrrl_ray.train.loop`).
    """
    import ray
    import ray.data

    from sdrrl_ray.runtime import init_ray
    from sdrrl_ray.train.metrics import read_log

    start = time.perf_counter()
    # workers may run elsewhere (another cwd): every path they get is absolute
    cfg = dataclasses.replace(cfg, out_dir=storage.absolute(cfg.out_dir))
    out = Out(cfg.out_dir)
    check_train_config(cfg)
    model_path = model_to_train(cfg)
    files = transfer_set_files(cfg.out_dir)
    sizes = file_sizes(files)
    max_length = effective_max_length(model_path, cfg.train.max_length)
    targets = list(cfg.languages.targets)
    groups = training_groups(cfg)
    log_url = out.train_log
    _check_model_layout(out.models, len(groups))
    per_target, todo = {}, []
    for name, group, model_dir in groups:
        fp = fingerprint(cfg, model_path=model_path, targets=group, sizes=sizes, max_length=max_length)
        previous = storage.read_json(storage.join(model_dir, TRAIN_SUMMARY))
        if previous and previous.get("fingerprint") == fp and not _test_hooks:
            log.info("target %s: %s already holds this run's model (fingerprint %s); skipped", name, model_dir, fp)
            per_target[name] = {**previous, "skipped": True}
        else:
            todo.append((name, group, model_dir, fp))

    if todo:
        init_ray(cfg.ray)
        rows_url = tokenized_cached(files, sizes, model_path, cfg, max_length)
        meta = ray.data.read_parquet(rows_url, columns=META_COLUMNS, file_extensions=["parquet"])
        meta.context.enable_progress_bars = False  # a read of a few columns, well under a second
        meta_refs = meta.to_arrow_refs()
        tc = cfg.train
        refs = run_index.start(meta_refs, [group for _, group, _, _ in todo], heldout_fraction=tc.heldout_fraction,
                               seed=cfg.seed, weighting=tc.loss_weighting, epochs=tc.epochs, max_steps=tc.max_steps,
                               global_batch=tc.micro_batch_size * tc.grad_accum * tc.num_workers)
        infos = ray.get([info for _, info in refs])
        present = set(infos[0]["present"])
        missing = [t for t in targets if t not in present]
        if missing:
            # the tokenized set holds the configured targets only: name what it has of those, not the transfer set's
            fix = f" or set languages.targets={sorted(present)}" if present else ""
            raise UserError(f"{out.transfer_set} has no rows for target(s) {missing} of languages.targets="
                            f"{list(targets)}; run sdrrl transfer-set for them{fix}")
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model_path)
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        for (name, group, model_dir, fp), (index_ref, _), info in zip(todo, refs, infos):
            per_target[name] = _train_one(cfg, name=name, targets=group, rows_url=rows_url, index_ref=index_ref,
                                          info=info, model_path=model_path, fp=fp, max_length=max_length,
                                          model_dir=model_dir, log_url=log_url, pad_id=pad_id, test_hooks=_test_hooks)
    per_target = {name: per_target[name] for name, _, _ in groups}

    plot_url = out.plot("loss.png")
    plot = _plot(read_log(log_url), {n: s["run"] for n, s in per_target.items()}, plot_url)
    summary = dict(
        targets=per_target,
        model_dirs={n: s["model_dir"] for n, s in per_target.items()},
        base_model=model_path,
        transfer_set_files=len(files),
        trained=[name for name, *_ in todo],
        train_log=log_url,
        plot=plot,
        config=cfg.to_dict()["train"],
        seed=cfg.seed,
        versions=versions(),
        git_commit=git_commit(),
        seconds=round(time.perf_counter() - start, 1),
    )
    manifest_url = out.train_manifest
    storage.write_json(manifest_url, summary)
    summary["manifest"] = manifest_url
    return summary


def _plot(records: list, runs: dict, url: str) -> Optional[str]:
    """The loss plot, drawn locally and put at ``url`` (``OUT/plots/loss.png``)."""
    import tempfile

    from sdrrl_ray.train.metrics import plot_losses

    with tempfile.TemporaryDirectory() as d:
        local = plot_losses(records, runs, os.path.join(d, "loss.png"))
        if local is None:
            return None
        return storage.upload(local, url)
