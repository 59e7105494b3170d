"""``run_train(cfg)``: transfer set -> tokenized Ray Dataset -> one Ray Train run per target -> HF folders.

Reads ``OUT/transfer_set/part-*.parquet`` (committed parts), tokenizes it in a Ray Data actor pool
(:class:`sdrrl_ray.train.tokenize.Tokenize`), and trains one model per target language
(``train.per_target``, the paper's setting) or one on every target (``train.per_target=false``).
Writes ``OUT/model/`` (one model) or ``OUT/model/<target>/`` (several), each with a
``train_summary.json``; ``OUT/train_log.jsonl``; ``OUT/plots/loss.png``; ``OUT/train_manifest.json``
(tokenization counts: trims and rejects with reasons, held-out split, subset sizes and weights, steps).

A target whose model folder already has a ``train_summary.json`` with the same fingerprint is skipped;
an interrupted run resumes from its latest checkpoint when the same command is run again.

Manual run: ``python -m sdrrl_ray.train.run CONFIG [key=value ...]``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import sys
import time
from collections import Counter
from typing import Optional

from sdrrl_ray.config import Config, TrainConfig
from sdrrl_ray.errors import UserError

log = logging.getLogger("sdrrl_ray")

KEPT_DIR = "transfer_set"  # = sdrrl_ray.pipeline.KEPT_DIR (not imported: pipeline pulls in the data stages)
READ_COLUMNS = ["id", "item_id", "subset", "tgt_lang", "question", "answer"]
META_COLUMNS = ["id", "item_id", "subset", "tgt_lang", "n_prompt", "n_answer", "n_tokens", "status", "reason"]
# train keys that change how a run is executed but not what it computes
_OPERATIONAL = ("storage_path", "max_failures", "num_to_keep", "resources_per_worker", "report_interval_s",
                "tokenize_pool", "resume_from", "offload_optimizer", "offload_params", "activation_checkpointing",
                "packing")


def transfer_set_files(out_dir: str) -> list[str]:
    """Committed ``part-*.parquet`` files of ``OUT/transfer_set`` (all parts when there is no commit log)."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(out_dir.rstrip("/"))
    parts = sorted(fs.glob(f"{root}/{KEPT_DIR}/part-*.parquet")) if fs.exists(f"{root}/{KEPT_DIR}") else []
    commits = f"{root}/.commits"
    if fs.exists(commits):
        done = {p.rsplit("/", 1)[-1] for p in fs.glob(f"{commits}/*")}
        parts = [p for p in parts if p.rsplit("/", 1)[-1][len("part-"):-len(".parquet")] in done]
    if not parts:
        raise UserError(f"no transfer set in {out_dir}/{KEPT_DIR} (no committed part-*.parquet); "
                        f"run `sdrrl transfer-set CONFIG` first or point out_dir at a finished run")
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return [p if protocol in ("file", "local") else f"{protocol}://{p}" for p in parts]


def check_train_config(cfg: Config) -> None:
    """Driver-side checks that need no Ray: batch arithmetic, export dtype, LoRA availability."""
    from sdrrl_ray.train.ds_config import check_batch, ds_config, resolve_export_dtype

    tc = cfg.train
    check_batch(tc, tc.num_workers)
    ds_config(tc, tc.num_workers, tc.use_gpu)
    resolve_export_dtype(tc, tc.use_gpu)
    if tc.lora:
        import importlib.util

        if importlib.util.find_spec("peft") is None:
            raise UserError("train.lora is set but the peft package is not installed; "
                            "pip install peft (on every node), or set train.lora={} for full fine-tuning")


def model_to_train(cfg: Config) -> str:
    from sdrrl_ray.models import resolve_model

    if cfg.train.model:
        return resolve_model(cfg.train.model, "train.model")
    return resolve_model(cfg.generate.model, "generate.model (train.model is empty, so the generator is trained)")


def effective_max_length(model_path: str, max_length: int) -> int:
    from transformers import AutoConfig

    limit = getattr(AutoConfig.from_pretrained(model_path), "max_position_embeddings", None)
    if limit and max_length > limit:
        log.warning("train.max_length=%d exceeds the model's %d positions; using %d", max_length, limit, limit)
        return int(limit)
    return int(max_length)


def _select(batch, targets: list, drop_rejected: bool, columns: Optional[list] = None):
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = pc.is_in(batch.column("tgt_lang"), value_set=pa.array(targets, pa.string()))
    if drop_rejected:
        mask = pc.and_(mask, pc.not_equal(batch.column("status"), "rejected"))
    out = batch.filter(mask)
    return out.select(columns) if columns else out


def tokenize_dataset(files: list[str], model_path: str, cfg: Config, max_length: int):
    import ray.data

    from sdrrl_ray.train.tokenize import Tokenize

    pool = cfg.train.tokenize_pool
    kwargs = dict(compute=ray.data.ActorPoolStrategy(min_size=pool.min_actors, max_size=pool.max_actors),
                  batch_size=pool.batch_size, num_cpus=pool.num_cpus)
    if pool.num_gpus:
        kwargs["num_gpus"] = pool.num_gpus
    if pool.resources:
        kwargs["resources"] = dict(pool.resources)
    ds = ray.data.read_parquet(files, columns=READ_COLUMNS)
    ds = ds.map_batches(_select, fn_kwargs=dict(targets=list(cfg.languages.targets), drop_rejected=False),
                        batch_format="pyarrow")
    return ds.map_batches(
        Tokenize,
        fn_constructor_kwargs=dict(model_path=model_path, max_length=max_length,
                                   system_prompt=cfg.generate.system_prompt,
                                   trust_remote_code=cfg.generate.trust_remote_code),
        batch_format="numpy",
        **kwargs,
    )


def file_sizes(files: list[str]) -> list:
    import fsspec

    sizes = []
    for f in files:
        fs, path = fsspec.core.url_to_fs(f)
        sizes.append([path.rsplit("/", 1)[-1], fs.size(path)])
    return sizes


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def fingerprint(cfg: Config, *, model_path: str, targets: list, sizes: list, max_length: int) -> str:
    """Everything that shapes a trained model: a changed value means a new run (and a new checkpoint folder)."""
    train = {k: v for k, v in cfg.to_dict()["train"].items() if k not in _OPERATIONAL}
    return _digest(dict(train=train, seed=cfg.seed, model=model_path, targets=targets, files=sizes,
                        max_length=max_length, system_prompt=cfg.generate.system_prompt))


def tokenized_cached(files: list[str], sizes: list, model_path: str, cfg: Config, max_length: int):
    """The tokenized transfer set, materialized; cached under ``OUT/train_cache/tokenized-<key>`` so that
    reruns, per-target jobs and presets on the same transfer set tokenize once."""
    import fsspec
    import ray.data

    key = _digest(dict(files=sizes, model=model_path, max_length=max_length, targets=sorted(cfg.languages.targets),
                       system_prompt=cfg.generate.system_prompt, version=1))
    url = _join(cfg.out_dir, "train_cache", f"tokenized-{key}")
    fs, path = fsspec.core.url_to_fs(url)
    if fs.exists(f"{path}/_COMPLETE"):
        return ray.data.read_parquet(url, file_extensions=["parquet"]).materialize()
    if fs.exists(path):
        fs.rm(path, recursive=True)  # left by an interrupted run
    ds = tokenize_dataset(files, model_path, cfg, max_length).materialize()
    ds.write_parquet(url)
    with fs.open(f"{path}/_COMPLETE", "w") as fh:
        fh.write(f"{ds.count()}\n")
    return ds


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts]) if "://" in root else os.path.join(root, *parts)


def training_groups(cfg: Config) -> list[tuple[str, list, str]]:
    """(name, targets, model folder) per model to train: one per target (``train.per_target``, the paper)
    or one for every target; ``OUT/model`` when there is one model, ``OUT/model/<name>`` otherwise."""
    targets = list(cfg.languages.targets)
    if cfg.train.per_target:
        groups = [(t, [t]) for t in targets]
    else:
        groups = [("multi" if len(targets) > 1 else targets[0], targets)]
    root = _join(cfg.out_dir, "model")
    return [(name, group, root if len(groups) == 1 else _join(root, name)) for name, group in groups]


def _check_model_layout(root: str, n_models: int) -> None:
    """One model in OUT/model and per-target models in OUT/model/<target>/ must not replace each other."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(root)
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


def _tokenize_counts(meta, targets: list) -> dict:
    rows = [r for r in meta if r["tgt_lang"] in targets]
    status = Counter(r["status"] for r in rows)
    reasons = Counter(r["reason"] for r in rows if r["status"] == "rejected")
    return dict(rows=len(rows), ok=status.get("ok", 0), trimmed=status.get("trimmed", 0),
                rejected=status.get("rejected", 0), reject_reasons=dict(reasons),
                tokens=sum(r["n_tokens"] for r in rows), answer_tokens=sum(r["n_answer"] for r in rows))


def _train_one(cfg: Config, *, name: str, targets: list, dataset, meta: list, model_path: str, fp: str,
               max_length: int, model_dir: str, log_url: str, pad_id: int, test_hooks: Optional[dict]) -> dict:
    from sdrrl_ray.manifest import write_json
    from sdrrl_ray.train import plan as planlib
    from sdrrl_ray.train.trainer import build_trainer, storage_path

    tc: TrainConfig = cfg.train
    start = time.perf_counter()
    run_name = f"sdrrl-train-{name}-{fp}"
    if test_hooks:  # a test's variants of one config must not restore each other's checkpoints
        run_name += "-t" + _digest(test_hooks)[:6]
    counts = _tokenize_counts(meta, targets)
    kept = [r for r in meta if r["tgt_lang"] in targets and r["status"] != "rejected"]
    idx = planlib.build_index([r["id"] for r in kept], [r["item_id"] for r in kept], [r["subset"] for r in kept],
                              heldout_fraction=tc.heldout_fraction, seed=cfg.seed, weighting=tc.loss_weighting)
    if idx.n_train == 0:
        raise UserError(f"no trainable rows for target {name}: {counts['rows']} rows, {counts['rejected']} rejected "
                        f"({counts['reject_reasons']}); raise train.max_length or check OUT/transfer_set")
    G = tc.micro_batch_size * tc.grad_accum * tc.num_workers
    spe = planlib.steps_per_epoch(idx.item_starts, cfg.seed, tc.epochs, G)
    names = sorted(set(idx.train_subsets) | set(idx.heldout_subsets))
    env = {"TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    if not tc.use_gpu:
        env["DS_ACCELERATOR"] = "cpu"
    if os.environ.get("TORCH_EXTENSIONS_DIR"):
        env["TORCH_EXTENSIONS_DIR"] = os.environ["TORCH_EXTENSIONS_DIR"]
    loop_config = dict(train=tc, seed=cfg.seed, model_path=model_path, index=idx, subset_names=names,
                       steps_per_epoch=spe, export_dir=model_dir, log_path=log_url, run=run_name, target=name,
                       pad_id=pad_id, max_length=max_length, env=env, resume_from=tc.resume_from,
                       test_hooks=test_hooks or {})
    trainer = build_trainer(cfg, dataset=dataset, loop_config=loop_config, run_name=run_name)
    log.info("target %s: run %s, %d training rows (%d items), %d held out, %s steps per epoch",
             name, run_name, idx.n_train, idx.n_items, len(idx.heldout_ids), spe)
    try:
        result = trainer.fit()
    except Exception as exc:
        raise RuntimeError(
            f"training for target {name} failed (run {run_name}, checkpoints under {storage_path(cfg)}/{run_name}); "
            f"rerun the same command to resume from the last checkpoint"
        ) from exc
    from sdrrl_ray.train.metrics import merge_parts

    merge_parts(log_url)
    sub_counts = Counter(idx.train_subsets)
    weights = {s: float(idx.train_weights[idx.train_subsets.index(s)]) for s in sorted(sub_counts)}
    summary = dict(
        target=name, targets=targets, fingerprint=fp, run=run_name, model_dir=model_dir, base_model=model_path,
        tokenize=dict(counts, max_length=max_length),
        heldout=dict(items=len({r["item_id"] for r in kept}) - idx.n_items, rows=len(idx.heldout_ids),
                     fraction=tc.heldout_fraction),
        train=dict(items=idx.n_items, rows=idx.n_train, subsets=dict(sorted(sub_counts.items())), weights=weights,
                   loss_weighting=tc.loss_weighting, global_batch=G, steps_per_epoch=spe),
        result=result.return_value,
        checkpoints=f"{storage_path(cfg)}/{run_name}",
        seconds=round(time.perf_counter() - start, 1),
        skipped=False,
    )
    if "://" not in model_dir:
        os.makedirs(model_dir, exist_ok=True)
    write_json(_join(model_dir, "train_summary.json"), summary)
    return summary


def run_train(cfg: Config, *, _test_hooks: Optional[dict] = None) -> dict:
    """Train on ``OUT/transfer_set``; returns a summary dict (per target: counts, steps, losses, paths).

    ``_test_hooks`` is for tests only (fault injection, per-step row ids; see :mod:`sdrrl_ray.train.loop`).
    """
    import pyarrow as pa
    import ray

    from sdrrl_ray.manifest import git_commit, read_json, versions, write_json
    from sdrrl_ray.runtime import init_ray
    from sdrrl_ray.train.metrics import read_log

    start = time.perf_counter()
    if "://" not in cfg.out_dir:  # workers may run elsewhere (another cwd): every path they get is absolute
        cfg = dataclasses.replace(cfg, out_dir=os.path.abspath(os.path.expanduser(cfg.out_dir)))
    check_train_config(cfg)
    model_path = model_to_train(cfg)
    files = transfer_set_files(cfg.out_dir)
    sizes = file_sizes(files)
    max_length = effective_max_length(model_path, cfg.train.max_length)
    targets = list(cfg.languages.targets)
    groups = training_groups(cfg)
    log_url = _join(cfg.out_dir, "train_log.jsonl")
    _check_model_layout(_join(cfg.out_dir, "model"), len(groups))
    per_target, todo = {}, []
    for name, group, model_dir in groups:
        fp = fingerprint(cfg, model_path=model_path, targets=group, sizes=sizes, max_length=max_length)
        previous = read_json(_join(model_dir, "train_summary.json"))
        if previous and previous.get("fingerprint") == fp and not _test_hooks:
            log.info("target %s: %s already holds this run's model (fingerprint %s); skipped", name, model_dir, fp)
            per_target[name] = {**previous, "skipped": True}
        else:
            todo.append((name, group, model_dir, fp))

    if todo:
        init_ray(cfg.ray)
        tokenized = tokenized_cached(files, sizes, model_path, cfg, max_length)
        meta = pa.concat_tables(ray.get(tokenized.select_columns(META_COLUMNS).to_arrow_refs())).to_pylist()
        present = {r["tgt_lang"] for r in meta}
        missing = [t for t in targets if t not in present]
        if missing:
            raise UserError(f"{cfg.out_dir}/{KEPT_DIR} has no rows for target(s) {missing} (it has {sorted(present)}); "
                            f"run sdrrl transfer-set for them or set languages.targets={sorted(present)}")
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model_path)
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        for name, group, model_dir, fp in todo:
            dataset = tokenized
            if len(groups) > 1:  # workers read the whole dataset each epoch: give them this target's rows only
                dataset = tokenized.map_batches(_select, fn_kwargs=dict(targets=group, drop_rejected=True),
                                                batch_format="pyarrow").materialize()
            per_target[name] = _train_one(cfg, name=name, targets=group, dataset=dataset, meta=meta,
                                          model_path=model_path, fp=fp, max_length=max_length, model_dir=model_dir,
                                          log_url=log_url, pad_id=pad_id, test_hooks=_test_hooks)
    per_target = {name: per_target[name] for name, _, _ in groups}

    plot_url = _join(cfg.out_dir, "plots", "loss.png")
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
    manifest_url = _join(cfg.out_dir, "train_manifest.json")
    write_json(manifest_url, summary)
    summary["manifest"] = manifest_url
    return summary


def _plot(records: list, runs: dict, url: str) -> Optional[str]:
    from sdrrl_ray.train.metrics import plot_losses

    if "://" not in url:
        return plot_losses(records, runs, url)
    import tempfile

    import fsspec

    with tempfile.TemporaryDirectory() as d:
        local = plot_losses(records, runs, os.path.join(d, "loss.png"))
        if local is None:
            return None
        fs, path = fsspec.core.url_to_fs(url)
        fs.put(local, path)
    return url


def main(argv: Optional[list] = None) -> int:
    from sdrrl_ray.config import load_config

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print("usage: python -m sdrrl_ray.train.run CONFIG [key=value ...]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        summary = run_train(load_config(argv[0], argv[1:]))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: summary[k] for k in ("model_dirs", "train_log", "plot", "manifest", "seconds")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
