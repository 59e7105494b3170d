"""The one place that knows stage order and resources: wires the stages into one Ray Data plan.

    read -> answer_choice -> run_columns -> generate (actor pool) -> expand_targets
      -> translate (actor pool) -> filter (actor pool)      [or: untranslated, for LL-only runs]
      -> assemble (variants + part rejects) -> code_switch (actor pool)
      -> (+ parallel-corpus rows) -> sink (kept | rejects)

:func:`plan_steps` lists the steps with their column contracts; :func:`build_plan` checks the
contracts (:func:`sdrrl_ray.schema.check_plan_columns`) and chains the steps onto a source (the
instruction files, or any dataset of ingest rows). Every actor pool comes from its config section.
Nothing is materialised here; the caller consumes the dataset (``write_datasink``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from sdrrl_ray.assets import resolve_comet_model
from sdrrl_ray.config import ActorPoolConfig, Config
from sdrrl_ray.engines.base import EngineOptions
from sdrrl_ray.ingest.files import InputFile
from sdrrl_ray.layout import sink
from sdrrl_ray.mt.backends import BackendOptions
from sdrrl_ray.runtime import actor_pool_args, batch_blocks
from sdrrl_ray.schema import TRANSLATED_VARIANTS, StageColumns, check_plan_columns, to_arrow
from sdrrl_ray.stages import (
    answer_choice,
    assemble,
    code_switch,
    generate,
    read,
    run_columns,
    targets,
    translate,
    untranslated,
)
from sdrrl_ray.stages import filter as filter_stage

# cheap per-row work runs as plain tasks on whole blocks, at most two at a time: each is far faster than the model
# and code-switching stages, and more only start more worker processes (~150 MB each; benchmarks/README.md)
LIGHT = dict(batch_size=None, num_cpus=0.25, concurrency=2)
# the sink (``write_datasink(..., **SINK)``): one write task at a time at the light tasks' CPU share; at Ray's
# default of 1 CPU it waited for a whole free CPU while finished blocks piled up in the object store
SINK = dict(ray_remote_args=dict(num_cpus=LIGHT["num_cpus"]), concurrency=1)
PARALLEL_ROWS = StageColumns.of("parallel_rows", inputs=(), outputs=())  # a union: no column changes


@dataclass(frozen=True)
class PlanInputs:
    files: list[InputFile]
    model_path: str
    generation_cache_url: str
    skip_items: frozenset = frozenset()  # items complete for every target
    done_targets: dict = field(default_factory=dict)  # item_id -> targets complete
    translation_models: dict = field(default_factory=dict)  # target -> resolved translation model
    parallel_rows: list = field(default_factory=list)  # parallel-corpus task rows still to write
    translation_cache_url: Optional[str] = None  # saved sentence translations (sdrrl_ray.translation_cache)


@dataclass(frozen=True)
class Step:
    columns: StageColumns
    apply: Callable  # Dataset -> Dataset

    @property
    def name(self) -> str:
        return self.columns.name


def translation_needed(cfg: Config) -> bool:
    return any(s in cfg.transfer.subsets for s in TRANSLATED_VARIANTS)


def sampling_settings(cfg: Config) -> dict:
    g = cfg.generate
    return dict(
        max_new_tokens=g.max_new_tokens, temperature=g.temperature, top_p=g.top_p,
        repetition_penalty=g.repetition_penalty
    )


def generation_seed(cfg: Config) -> int:
    return cfg.generate.seed if cfg.generate.seed is not None else cfg.seed


def engine_options(cfg: Config) -> EngineOptions:
    g = cfg.generate
    common = dict(dtype=g.dtype, trust_remote_code=g.trust_remote_code, engine_kwargs=dict(g.engine_kwargs))
    if g.engine == "hf":
        return EngineOptions(**common, num_threads=max(1, int(g.pool.num_cpus)))
    return EngineOptions(**common, tensor_parallel_size=g.tensor_parallel_size,
                         gpu_memory_utilization=g.gpu_memory_utilization, max_model_len=g.max_model_len,
                         concurrent_calls=g.batches_in_flight)


def backend_options(cfg: Config) -> BackendOptions:
    t = cfg.translate
    return BackendOptions(
        family=t.family, beam_size=t.beam_size, max_input_tokens=t.max_input_tokens,
        max_decoding_length=t.max_decoding_length, compute_type=t.compute_type,
        num_threads=max(1, int(t.pool.num_cpus)), engine=cfg.generate.engine, engine_options=engine_options(cfg),
    )


def filter_kwargs(cfg: Config) -> dict:
    f = {k: v for k, v in dataclasses.asdict(cfg.filter).items() if k != "pool"}
    if cfg.filter.qe.enabled:  # the actors get a model the worker loads (demo:cometkiwi is built here)
        f["qe"]["model"] = resolve_comet_model(cfg.filter.qe.model, cfg.filter.qe.python, "filter.qe.model")
    return dict(**f, languages=[cfg.languages.source, *cfg.languages.targets])


def filter_map_args(cfg: Config, pool: ActorPoolConfig) -> dict:
    """``map_batches`` arguments of the filter's actor pool (the plan's, and the pools benchmark's with its pool)."""
    return dict(fn_constructor_kwargs=filter_kwargs(cfg), batch_format=filter_stage.BATCH_FORMAT,
                **actor_pool_args(pool))


def code_switch_map_args(cfg: Config, pool: ActorPoolConfig) -> dict:
    """``map_batches`` arguments of the code-switching actor pool (the plan's, and the pools benchmark's)."""
    cs = cfg.code_switch
    return dict(fn_constructor_args=(cs.dictionaries or None, cfg.languages.source, list(cfg.languages.targets)),
                fn_constructor_kwargs=dict(p=cs.p, seed=cfg.seed, max_ngram=cs.max_ngram),
                batch_format=code_switch.BATCH_FORMAT, **actor_pool_args(pool))


def _tensor_parallel(cfg: Config, uses_engine: bool) -> int:
    return cfg.generate.tensor_parallel_size if uses_engine and cfg.generate.engine == "vllm" else 1


def plan_steps(cfg: Config, inputs: PlanInputs) -> list[Step]:
    """Every step after the read, in order, each with its column contract."""
    g, t, cs = cfg.generate, cfg.translate, cfg.code_switch
    steps = [
        Step(answer_choice.COLUMNS, lambda ds: ds.map_batches(
            answer_choice.choose_answers_arrow,
            fn_kwargs=dict(mode=cfg.answer.mode, p_self=cfg.answer.p_self, seed=cfg.seed, generate_all=g.generate_all),
            **LIGHT)),
        Step(run_columns.COLUMNS, lambda ds: ds.map_batches(
            run_columns.add_run_columns, fn_kwargs=dict(src=cfg.languages.source, done_targets=inputs.done_targets),
            **LIGHT)),
        Step(generate.COLUMNS, lambda ds: batch_blocks(ds, g.pool).map_batches(
            generate.Generator,
            fn_constructor_kwargs=dict(
                engine=g.engine, model_path=inputs.model_path, sampling=sampling_settings(cfg),
                seed=generation_seed(cfg), cache_url=inputs.generation_cache_url, system_prompt=g.system_prompt,
                max_prompt_tokens=g.max_prompt_tokens, engine_options=engine_options(cfg)),
            **actor_pool_args(g.pool, _tensor_parallel(cfg, True),
                              concurrent_calls=engine_options(cfg).concurrent_calls))),
        Step(targets.COLUMNS, lambda ds: ds.map_batches(
            targets.expand_targets, fn_kwargs=dict(targets=list(cfg.languages.targets)), **LIGHT)),
    ]
    if translation_needed(cfg):
        steps += [
            Step(translate.COLUMNS, lambda ds: batch_blocks(ds, t.pool).map_batches(
                translate.Translator,
                fn_constructor_kwargs=dict(backend=t.backend, model_paths=inputs.translation_models,
                                           options=backend_options(cfg), segment=t.segment,
                                           cache_url=inputs.translation_cache_url),
                **actor_pool_args(t.pool, _tensor_parallel(cfg, t.backend == "llm")))),
            Step(filter_stage.COLUMNS, lambda ds: ds.map_batches(
                filter_stage.TranslationFilter, **filter_map_args(cfg, cfg.filter.pool))),
        ]
    else:
        steps.append(Step(untranslated.COLUMNS, lambda ds: ds.map_batches(untranslated.untranslated, **LIGHT)))
    steps.append(Step(assemble.COLUMNS, lambda ds: ds.map_batches(
        assemble.assemble, fn_kwargs=dict(subsets=list(cfg.transfer.subsets), source_lang=cfg.languages.source),
        **LIGHT)))
    if cs.enabled:
        steps.append(Step(code_switch.COLUMNS, lambda ds: ds.map_batches(
            code_switch.CodeSwitcher, **code_switch_map_args(cfg, cs.pool))))
    if inputs.parallel_rows:  # small (n_pairs x tasks per target), built on the driver; never code-switched
        rows = inputs.parallel_rows
        steps.append(Step(PARALLEL_ROWS, lambda ds: ds.union(_rows_dataset(rows))))
    return steps


def _rows_dataset(rows: list[dict]):
    import ray.data

    names = list(dict.fromkeys(k for r in rows for k in r))
    return ray.data.from_arrow(to_arrow({k: np.array([r.get(k) for r in rows], dtype=object) for k in names}))


def check_steps(steps: list[Step]) -> None:
    """The steps' column contracts line up, from the read to the sink (raises PlanColumnError)."""
    check_plan_columns([read.COLUMNS, *(s.columns for s in steps), sink.COLUMNS])


def build_plan(cfg: Config, inputs: PlanInputs, *, source=None, steps: Optional[list[Step]] = None):
    """The transfer-set plan: ``source`` (default: the instruction files, read in order) through ``steps``
    (default: :func:`plan_steps`)."""
    steps = plan_steps(cfg, inputs) if steps is None else steps
    check_steps(steps)
    ds = source if source is not None else read.read_instructions(inputs.files, cfg.data, skip_ids=inputs.skip_items)
    for step in steps:
        ds = step.apply(ds)
    return ds
