"""The one place that knows stage order and resources: wires the stages into one Ray Data plan.

    read instructions -> choose answer -> generate (actor pool) -> (item, target) rows
      -> translate (actor pool) -> filter (actor pool) -> variants + part rejects
      -> (+ parallel-corpus tasks) -> code-switch (actor pool) -> sink (kept | rejects)

Nothing is materialised here; the caller consumes the dataset (``write_datasink``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import ray.data

from sdrrl_ray.answer_choice import choose_answers_arrow
from sdrrl_ray.codeswitch import CodeSwitcher
from sdrrl_ray.columns import to_arrow
from sdrrl_ray.config import ActorPoolConfig, Config
from sdrrl_ray.fanout import assemble, expand_targets
from sdrrl_ray.generate import Generator
from sdrrl_ray.ingest import InputFile, read_instructions

KEPT_DIR = "transfer_set"
VARIANT_SUBSETS = ("LL", "TL", "LT", "TT")
KEPT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("item_id", pa.string()),
        ("subset", pa.string()),
        ("src_lang", pa.string()),
        ("tgt_lang", pa.string()),
        ("question_lang", pa.string()),
        ("answer_lang", pa.string()),
        ("answer_source", pa.string()),
        ("question", pa.string()),
        ("answer", pa.string()),
        ("n_switched", pa.int64()),
        ("switch_candidates", pa.int64()),
        ("switch_dict", pa.string()),
        ("record", pa.int64()),
        ("gen_cached", pa.bool_()),
    ]
)
REJECT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("item_id", pa.string()),
        ("tgt_lang", pa.string()),
        ("subset", pa.string()),
        ("part", pa.string()),
        ("record", pa.int64()),
        ("source_file", pa.string()),
        ("line", pa.int64()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("question", pa.string()),
        ("answer", pa.string()),
    ]
)


@dataclass(frozen=True)
class PlanInputs:
    files: list[InputFile]
    model_path: str
    generation_cache_url: str
    skip_items: frozenset = frozenset()  # items complete for every target
    done_targets: dict = field(default_factory=dict)  # item_id -> targets complete
    translation_model_path: str = ""
    parallel_rows: list = field(default_factory=list)  # parallel-corpus task rows still to write


def actor_pool_args(pool: ActorPoolConfig, tensor_parallel_size: int = 1) -> dict:
    """map_batches kwargs for an actor-pool stage; ``resources`` pin it to a node type when set.

    A GPU pool (``num_gpus > 0``) serving a vLLM engine with ``tensor_parallel_size`` N gets at least
    N GPUs per actor: the engine's N ranks all live in (and see the GPUs of) that one actor.
    """
    args = dict(
        compute=ray.data.ActorPoolStrategy(min_size=pool.min_actors, max_size=pool.max_actors),
        batch_size=pool.batch_size,
        num_cpus=pool.num_cpus,
    )
    if pool.num_gpus:
        args["num_gpus"] = max(pool.num_gpus, tensor_parallel_size)
    if pool.resources:
        args["resources"] = dict(pool.resources)
    return args


def batch_blocks(ds: ray.data.Dataset, pool: ActorPoolConfig) -> ray.data.Dataset:
    """Blocks of at most one batch before an actor-pool stage. An actor task takes a whole block, so
    an input that arrives as one block (a small file, one read task) would keep a pool of N actors
    at one busy actor, and hold every downstream stage until the whole input is through this one.
    A streaming repartition (no shuffle, no materialization) splits and merges blocks as they pass."""
    return ds.repartition(target_num_rows_per_block=pool.batch_size)


def translation_needed(cfg: Config) -> bool:
    return any(s in cfg.transfer.subsets for s in ("TL", "LT", "TT"))


def _add_run_columns(batch: dict, *, src: str, done_targets: dict):
    n = len(batch["item_id"])
    batch["src_lang"] = np.array([src] * n, dtype=object)
    batch["done_targets"] = np.array([",".join(sorted(done_targets.get(i, ()))) for i in batch["item_id"]], dtype=object)
    return to_arrow(batch)


def _untranslated(batch: dict):
    """Subsets without translated text (LL only): nothing to translate or filter."""
    n = len(batch["item_id"])
    for part in ("question", "answer"):
        batch[f"{part}_tgt"] = np.full(n, None, dtype=object)
        batch[f"{part}_ok"] = np.ones(n, dtype=bool)
        batch[f"{part}_reason"] = np.full(n, None, dtype=object)
    return to_arrow(batch)


def build_plan(cfg: Config, inputs: PlanInputs) -> ray.data.Dataset:
    g = cfg.generate
    ds = read_instructions(inputs.files, cfg.data, skip_ids=inputs.skip_items)
    # cheap per-row work runs as plain tasks on whole blocks
    light = dict(batch_size=None, num_cpus=0.25)
    ds = ds.map_batches(
        choose_answers_arrow,
        fn_kwargs=dict(mode=cfg.answer.mode, p_self=cfg.answer.p_self, seed=cfg.seed, generate_all=g.generate_all),
        **light,
    )
    ds = ds.map_batches(_add_run_columns, fn_kwargs=dict(src=cfg.languages.source, done_targets=inputs.done_targets), **light)
    ds = batch_blocks(ds, g.pool)
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
        **actor_pool_args(g.pool, g.tensor_parallel_size if g.engine == "vllm" else 1),
    )
    ds = ds.map_batches(expand_targets, fn_kwargs=dict(targets=list(cfg.languages.targets)), **light)
    if translation_needed(cfg):
        ds = translation_stages(ds, cfg, inputs)
    else:
        ds = ds.map_batches(_untranslated, **light)
    ds = ds.map_batches(assemble, fn_kwargs=dict(subsets=list(cfg.transfer.subsets), source_lang=cfg.languages.source), **light)
    if cfg.code_switch.enabled:
        cs = cfg.code_switch
        ds = ds.map_batches(
            CodeSwitcher,
            fn_constructor_args=(cs.dictionaries or None, cfg.languages.source, list(cfg.languages.targets)),
            fn_constructor_kwargs=dict(p=cs.p, seed=cfg.seed, max_ngram=cs.max_ngram),
            compute=ray.data.ActorPoolStrategy(size=1),
            batch_size=256,
            num_cpus=0.25,
        )
    if inputs.parallel_rows:  # small (n_pairs x tasks per target), built on the driver; never code-switched
        ds = ds.union(ray.data.from_arrow(to_arrow(_columns(inputs.parallel_rows))))
    return ds


def _columns(rows: list[dict]) -> dict:
    names = list(dict.fromkeys(k for r in rows for k in r))
    return {k: np.array([r.get(k) for r in rows], dtype=object) for k in names}


def translation_stages(ds: ray.data.Dataset, cfg: Config, inputs: PlanInputs) -> ray.data.Dataset:
    from sdrrl_ray.filters.stage import TranslationFilter
    from sdrrl_ray.translate.stage import Translator

    t = cfg.translate
    ds = batch_blocks(ds, t.pool)
    ds = ds.map_batches(
        Translator,
        fn_constructor_kwargs=translator_kwargs(cfg, inputs),
        **actor_pool_args(t.pool, cfg.generate.tensor_parallel_size if t.backend == "llm" and cfg.generate.engine == "vllm" else 1),
    )
    return ds.map_batches(
        TranslationFilter,
        fn_constructor_kwargs=filter_kwargs(cfg),
        compute=ray.data.ActorPoolStrategy(size=1),
        batch_size=64,
        num_cpus=0.5,
    )


def translator_kwargs(cfg: Config, inputs: PlanInputs) -> dict:
    t = cfg.translate
    kwargs = dict(
        backend=t.backend,
        model=t.model,
        model_path=inputs.translation_model_path,
        family=t.family,
        beam_size=t.beam_size,
        max_input_tokens=t.max_input_tokens,
        max_decoding_length=t.max_decoding_length,
        compute_type=t.compute_type,
        segment=t.segment,
    )
    if t.backend == "llm":
        kwargs.update(engine=cfg.generate.engine, engine_options=engine_options(cfg))
    kwargs["num_threads"] = max(1, int(t.pool.num_cpus))
    return kwargs


def filter_kwargs(cfg: Config) -> dict:
    import dataclasses

    return dict(**dataclasses.asdict(cfg.filter), languages=[cfg.languages.source, *cfg.languages.targets])


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
