"""Data preparation for training: the committed transfer set, tokenized in a Ray Data actor pool
(:class:`sdrrl_ray.stages.tokenize.Tokenize`) and cached under ``OUT/train_cache`` so that reruns,
per-target jobs and presets on the same transfer set tokenize once; the model's length limit; the
per-target selection and the tokenization counts.
"""

from __future__ import annotations

import hashlib
import json
import logging

from sdrrl_ray import storage
from sdrrl_ray.config import Config
from sdrrl_ray.errors import UserError
from sdrrl_ray.layout.parts import committed_files
from sdrrl_ray.layout.paths import TRANSFER_SET, Out
from sdrrl_ray.runtime import actor_pool_args

log = logging.getLogger("sdrrl_ray")

READ_COLUMNS = ["id", "item_id", "subset", "tgt_lang", "question", "answer"]
META_COLUMNS = ["id", "item_id", "subset", "tgt_lang", "n_prompt", "n_answer", "n_tokens", "status", "reason"]
TOKENIZED_VERSION = 1  # bump when the tokenization changes what it writes


def digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def transfer_set_files(out_dir: str) -> list[str]:
    """Committed ``part-*.parquet`` files of ``OUT/transfer_set``; a clear error when there are none."""
    files = committed_files(out_dir, TRANSFER_SET)
    if not files:
        raise UserError(f"no transfer set in {Out(out_dir).transfer_set} (no committed part-*.parquet); "
                        f"run `sdrrl transfer-set CONFIG` first or point out_dir at a finished run")
    return files


def file_sizes(files: list[str]) -> list:
    sizes = []
    for f in files:
        fs, path = storage.url_to_fs(f)
        sizes.append([path.rsplit("/", 1)[-1], fs.size(path)])
    return sizes


def effective_max_length(model_path: str, max_length: int) -> int:
    from transformers import AutoConfig

    limit = getattr(AutoConfig.from_pretrained(model_path), "max_position_embeddings", None)
    if limit and max_length > limit:
        log.warning("train.max_length=%d exceeds the model's %d positions; using %d", max_length, limit, limit)
        return int(limit)
    return int(max_length)


def select_targets(batch, targets: list):
    import pyarrow as pa
    import pyarrow.compute as pc

    return batch.filter(pc.is_in(batch.column("tgt_lang"), value_set=pa.array(targets, pa.string())))


def tokenize_dataset(files: list[str], model_path: str, cfg: Config, max_length: int):
    import ray.data

    from sdrrl_ray.stages.tokenize import Tokenize

    ds = ray.data.read_parquet(files, columns=READ_COLUMNS)
    ds = ds.map_batches(select_targets, fn_kwargs=dict(targets=list(cfg.languages.targets)),
                        batch_format="pyarrow")
    return ds.map_batches(
        Tokenize,
        fn_constructor_kwargs=dict(model_path=model_path, max_length=max_length,
                                   system_prompt=cfg.generate.system_prompt,
                                   trust_remote_code=cfg.generate.trust_remote_code),
        batch_format="numpy",
        **actor_pool_args(cfg.train.tokenize_pool),
    )


def tokenized_cached(files: list[str], sizes: list, model_path: str, cfg: Config, max_length: int) -> str:
    """The URL of the tokenized transfer set, a folder of Parquet files under ``OUT/train_cache/tokenized-<key>``:
    tokenized here unless a finished one is there, so that reruns, per-target jobs and presets on the same
    transfer set tokenize once."""
    key = digest(dict(files=sizes, model=model_path, max_length=max_length, targets=sorted(cfg.languages.targets),
                      system_prompt=cfg.generate.system_prompt, version=TOKENIZED_VERSION))
    url = Out(cfg.out_dir).train_cache(f"tokenized-{key}")
    fs, path = storage.url_to_fs(url)
    if not fs.exists(f"{path}/_COMPLETE"):
        if fs.exists(path):
            fs.rm(path, recursive=True)  # left by an interrupted run
        ds = tokenize_dataset(files, model_path, cfg, max_length).materialize()
        ds.context.enable_progress_bars = False  # the write takes well under a second
        ds.write_parquet(url)
        with fs.open(f"{path}/_COMPLETE", "w") as fh:
            fh.write(f"{ds.count()}\n")
    return url
