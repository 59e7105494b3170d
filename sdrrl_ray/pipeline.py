"""The one place that knows stage order and resources: wires the stages into a Ray Data plan.

Nothing is materialised here; the caller consumes the dataset (``write_datasink``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import ray.data

from sdrrl_ray.answer_choice import choose_answers_arrow
from sdrrl_ray.columns import to_arrow
from sdrrl_ray.config import ActorPoolConfig, Config
from sdrrl_ray.generate import Generator
from sdrrl_ray.ingest import InputFile, read_instructions
from sdrrl_ray.manifest import StageSpec

# Output of the stages built so far: one row per item with its chosen answer.
KEPT_DIR = "transfer_set"
KEPT_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("record", pa.int64()),
        ("src_lang", pa.string()),
        ("question", pa.string()),
        ("answer", pa.string()),
        ("answer_source", pa.string()),
        ("gold_answer", pa.string()),
        ("generated_answer", pa.string()),
        ("needs_generation", pa.bool_()),
        ("gen_output_tokens", pa.int64()),
        ("gen_finish_reason", pa.string()),
        ("gen_cached", pa.bool_()),
    ]
)
REJECT_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("record", pa.int64()),
        ("source_file", pa.string()),
        ("line", pa.int64()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("question", pa.string()),
        ("gold_answer", pa.string()),
    ]
)
STAGES = [
    StageSpec("ingest", "record"),
    StageSpec("answer_choice", "item"),
    StageSpec("generate", "item"),
]


@dataclass(frozen=True)
class PlanInputs:
    files: list[InputFile]
    skip_ids: frozenset
    model_path: str
    generation_cache_url: str


def actor_pool_args(pool: ActorPoolConfig) -> dict:
    """map_batches kwargs for an actor-pool stage; resources pin it to a node type when set."""
    args = dict(
        compute=ray.data.ActorPoolStrategy(min_size=pool.min_actors, max_size=pool.max_actors),
        batch_size=pool.batch_size,
        num_cpus=pool.num_cpus,
    )
    if pool.num_gpus:
        args["num_gpus"] = pool.num_gpus
    if pool.resources:
        args["resources"] = dict(pool.resources)
    return args


def _add_source_lang(batch: dict, *, src: str) -> dict:
    batch["src_lang"] = np.array([src] * len(batch["item_id"]), dtype=object)
    return to_arrow(batch)


def build_plan(cfg: Config, inputs: PlanInputs) -> ray.data.Dataset:
    g = cfg.generate
    ds = read_instructions(inputs.files, cfg.data, skip_ids=inputs.skip_ids)
    # cheap per-row draw: plain tasks, whole blocks
    ds = ds.map_batches(
        choose_answers_arrow,
        fn_kwargs=dict(mode=cfg.answer.mode, p_self=cfg.answer.p_self, seed=cfg.seed, generate_all=g.generate_all),
        batch_size=None,
        num_cpus=0.25,
    )
    ds = ds.map_batches(_add_source_lang, fn_kwargs=dict(src=cfg.languages.source), batch_size=None, num_cpus=0.25)
    ds = ds.map_batches(
        Generator,
        fn_constructor_kwargs=dict(
            engine=g.engine,
            model_path=inputs.model_path,
            sampling=sampling_settings(cfg),
            seed=generation_seed(cfg),
            cache_url=inputs.generation_cache_url,
            system_prompt=g.system_prompt,
            max_prompt_tokens=g.max_prompt_tokens,
            engine_options=engine_options(cfg),
        ),
        **actor_pool_args(g.pool),
    )
    return ds


def sampling_settings(cfg: Config) -> dict:
    g = cfg.generate
    return dict(
        max_new_tokens=g.max_new_tokens, temperature=g.temperature, top_p=g.top_p, repetition_penalty=g.repetition_penalty
    )


def generation_seed(cfg: Config) -> int:
    return cfg.generate.seed if cfg.generate.seed is not None else cfg.seed


def engine_options(cfg: Config) -> dict:
    g = cfg.generate
    opts = dict(dtype=g.dtype, trust_remote_code=g.trust_remote_code, engine_kwargs=dict(g.engine_kwargs))
    if g.engine == "hf":
        opts["num_threads"] = max(1, int(g.pool.num_cpus))
    else:
        opts.update(
            tensor_parallel_size=g.tensor_parallel_size,
            gpu_memory_utilization=g.gpu_memory_utilization,
            max_model_len=g.max_model_len,
        )
    return opts
