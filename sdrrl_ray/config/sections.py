"""The configuration schema: one frozen dataclass per section, with its defaults and the checks
that need no other section. Defaults live here and only here; :mod:`.load` reads YAML and overrides
into these classes and runs the cross-section checks.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from sdrrl_ray.config.arms import CompareConfig
from sdrrl_ray.config.checks import _above_zero, _at_least, _check_out_dir, _fraction, _one_of, _positive
from sdrrl_ray.errors import ConfigError
from sdrrl_ray.schema import PARALLEL_TASKS, SUBSETS


@dataclass(frozen=True)
class DataConfig:
    path: str = ""  # instruction file: local path or fsspec URL (s3://, gs://, file://)
    format: str = "auto"  # auto | alpaca | jsonl | dolly | sharegpt | parquet
    limit: Optional[int] = None  # keep the first N records (after reading, before rejects)
    id_field: str = "auto"  # column holding a stable id; auto: id / item_id / example_id if present
    max_chars: int = 20000  # longer questions or answers are rejected (reason too_long)
    license: str = "auto"  # licence the outputs inherit; auto: guessed from the file name, else unknown

    def __post_init__(self):
        _one_of("data.format", self.format, ("auto", "alpaca", "jsonl", "dolly", "sharegpt", "parquet"))
        _positive("data.max_chars", self.max_chars)
        if self.limit is not None:
            _positive("data.limit", self.limit)


@dataclass(frozen=True)
class LanguagesConfig:
    source: str = "en"
    targets: tuple[str, ...] = ("ja",)


@dataclass(frozen=True)
class AnswerConfig:
    mode: str = "mixed"  # mixed: gold or self with p_self; gold: gold only; self: the model's own only
    p_self: float = 0.5  # probability of the model's own answer in mixed mode (paper: equal sampling)

    def __post_init__(self):
        _one_of("answer.mode", self.mode, ("mixed", "gold", "self"))
        if not 0.0 <= self.p_self <= 1.0:
            raise ConfigError([f"answer.p_self={self.p_self} must be in [0, 1]"])


@dataclass(frozen=True)
class ActorPoolConfig:
    min_actors: int = 1
    max_actors: int = 1
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    batch_size: int = 16
    resources: dict = field(default_factory=dict)  # custom resources pinning the pool to a node type

    def __post_init__(self):
        _positive("min_actors", self.min_actors)
        _positive("max_actors", self.max_actors)
        if self.max_actors < self.min_actors:
            raise ConfigError([f"max_actors={self.max_actors} is below min_actors={self.min_actors}; "
                               f"raise max_actors to at least {self.min_actors}"])
        _positive("batch_size", self.batch_size)
        _at_least("num_cpus", self.num_cpus, 0)
        _at_least("num_gpus", self.num_gpus, 0)


@dataclass(frozen=True)
class GenerateConfig:
    engine: str = "hf"  # hf (transformers generate; CPU or GPU) | vllm
    model: str = ""  # local folder, s3:// URL, or hub id on a cluster with hub access; "demo" = the built-in tiny model
    generate_all: bool = False  # True: answer every item, not only those whose chosen answer is the model's
    cache_dir: str = ""  # saved answers (shared by per-target jobs); empty = OUT/generations
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy (the default, deterministic)
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: Optional[int] = None  # sampling seed; None = the run's seed
    system_prompt: Optional[str] = None
    max_prompt_tokens: int = 1024  # longer prompts are rejected (reason prompt_too_long)
    dtype: str = "auto"  # auto: bfloat16 on GPU, float32 on CPU
    trust_remote_code: bool = False
    tensor_parallel_size: int = 1  # vllm only
    gpu_memory_utilization: float = 0.9  # vllm only
    max_model_len: Optional[int] = None  # vllm only
    batches_in_flight: int = 64  # vllm: batches one engine serves; x batch_size ~ 4x max_num_seqs
    engine_kwargs: dict = field(default_factory=dict)  # extra vllm.LLM / from_pretrained kwargs
    pool: ActorPoolConfig = field(default_factory=ActorPoolConfig)

    def __post_init__(self):
        _one_of("generate.engine", self.engine, ("hf", "vllm"))
        _positive("generate.max_new_tokens", self.max_new_tokens)
        _positive("generate.max_prompt_tokens", self.max_prompt_tokens)
        _positive("generate.tensor_parallel_size", self.tensor_parallel_size)
        _positive("generate.batches_in_flight", self.batches_in_flight)
        if self.max_model_len is not None:
            _positive("generate.max_model_len", self.max_model_len)
        if self.temperature < 0:
            raise ConfigError([f"generate.temperature={self.temperature} must be >= 0 (0 = greedy)"])
        _fraction("generate.top_p", self.top_p, zero=False)
        _fraction("generate.gpu_memory_utilization", self.gpu_memory_utilization, zero=False)
        _above_zero("generate.repetition_penalty", self.repetition_penalty)


@dataclass(frozen=True)
class TranslateConfig:
    backend: str = "ct2"  # ct2 (CTranslate2) | hf (transformers seq2seq) | llm (prompted, through generate.engine)
    model: str = ""  # HF folder (converted for ct2 on first use) or an already converted CTranslate2 folder
    family: str = "auto"  # auto | nllb | m2m100 | marian: which language codes the model uses
    beam_size: int = 4  # paper: NLLB-200-3.3B, beam 4
    max_input_tokens: int = 256  # sentences are split and packed up to this length
    max_decoding_length: int = 512
    compute_type: str = "auto"  # auto: int8 on CPU, float16 on GPU (ct2)
    segment: bool = True  # split long texts into sentences and reassemble
    cache_dir: str = ""  # saved sentence translations (shared by runs and compare arms); empty = OUT/translations
    pool: ActorPoolConfig = field(default_factory=lambda: ActorPoolConfig(batch_size=32))

    def __post_init__(self):
        _one_of("translate.backend", self.backend, ("ct2", "hf", "llm"))
        _one_of("translate.family", self.family, ("auto", "nllb", "m2m100", "marian"))
        _positive("translate.beam_size", self.beam_size)
        _positive("translate.max_input_tokens", self.max_input_tokens)
        _positive("translate.max_decoding_length", self.max_decoding_length)


@dataclass(frozen=True)
class QEConfig:
    enabled: bool = False
    threshold: float = 0.8  # paper: CometKiwi < 0.8 rejected
    model: str = "Unbabel/wmt22-cometkiwi-da"
    python: Optional[str] = None  # python of a separate environment that has unbabel-comet
    url: Optional[str] = None  # or an HTTP scoring service
    batch_size: int = 32

    def __post_init__(self):
        _positive("filter.qe.batch_size", self.batch_size)


@dataclass(frozen=True)
class CometConfig:
    """Reference-based COMET for FLORES (paper: wmt22-comet-da, 0-100), scored in a separate environment."""

    enabled: bool = False
    model: str = "Unbabel/wmt22-comet-da"  # hub id, checkpoint, folder; demo:comet-da = tiny random-init (tests)
    python: Optional[str] = None  # python of a separate environment that has unbabel-comet
    url: Optional[str] = None  # or an HTTP scoring service (filters/qe_worker.py --serve)
    batch_size: int = 32

    def __post_init__(self):
        _positive("eval.comet.batch_size", self.batch_size)


@dataclass(frozen=True)
class FilterConfig:
    langid: bool = True
    langid_min_share: float = 0.5  # script share for languages identified by script (Khmer)
    rules: bool = True
    min_length_ratio: float = 0.2  # bounds on len(translation)/len(source), scaled per script
    max_length_ratio: float = 5.0
    max_repeat_ngram: int = 4  # an n-gram repeated more than this many times in a row is a loop
    qe: QEConfig = field(default_factory=QEConfig)
    pool: ActorPoolConfig = field(default_factory=lambda: ActorPoolConfig(batch_size=64, num_cpus=0.5))

    def __post_init__(self):
        _fraction("filter.langid_min_share", self.langid_min_share)
        _at_least("filter.min_length_ratio", self.min_length_ratio, 0)
        _above_zero("filter.max_length_ratio", self.max_length_ratio)
        if self.min_length_ratio > self.max_length_ratio:
            raise ConfigError([f"filter.min_length_ratio={self.min_length_ratio} is above "
                               f"filter.max_length_ratio={self.max_length_ratio}; every translation would be "
                               "rejected (swap them, or lower the minimum)"])
        _positive("filter.max_repeat_ngram", self.max_repeat_ngram)


@dataclass(frozen=True)
class CodeSwitchConfig:
    enabled: bool = True
    p: float = 0.15  # paper: each dictionary word replaced with p = 0.15
    dictionaries: str = ""  # folder with MUSE-format files <src>-<tgt>.txt (MUSE codes: nb is "no")
    max_ngram: int = 4  # longest dictionary entry (in words) matched for spaced scripts
    pool: ActorPoolConfig = field(default_factory=lambda: ActorPoolConfig(batch_size=256, num_cpus=0.25))

    def __post_init__(self):
        if not 0.0 <= self.p <= 1.0:
            raise ConfigError([f"code_switch.p={self.p} must be in [0, 1]"])
        _positive("code_switch.max_ngram", self.max_ngram)


@dataclass(frozen=True)
class ParallelConfig:
    enabled: bool = True
    paths: dict = field(default_factory=dict)  # target iso -> TSV (Tatoeba layout or 2 columns) or JSONL
    n_pairs: int = 1000  # paper: 1,000 OPUS-100 pairs per language
    tasks: tuple[str, ...] = PARALLEL_TASKS

    def __post_init__(self):
        _positive("parallel.n_pairs", self.n_pairs)


@dataclass(frozen=True)
class TransferConfig:
    subsets: tuple[str, ...] = SUBSETS  # which subsets to emit

    def __post_init__(self):
        bad = [s for s in self.subsets if s not in SUBSETS]
        if bad:
            raise ConfigError([f"transfer.subsets has unknown {bad}; choose from {list(SUBSETS)}"])


@dataclass(frozen=True)
class TrainConfig:
    model: str = ""  # model to fine-tune; empty = generate.model (self-distillation)
    per_target: bool = True  # one model per target language (paper); False: one multi-target model
    epochs: int = 4
    max_steps: Optional[int] = None  # stop after this many optimizer steps (the schedule ends there too)
    early_stopping_patience: int = 1  # epochs without held-out improvement before stopping
    heldout_fraction: float = 0.05  # share of item_ids held out for early stopping
    learning_rate: float = 2e-5
    lr_schedule: str = "cosine"  # cosine | linear | constant
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    micro_batch_size: int = 4
    grad_accum: int = 1
    global_batch_size: Optional[int] = None  # checked: micro x accum x world
    max_length: int = 1024
    packing: bool = False
    loss_chunk_tokens: int = 4096  # loss from answer tokens' logits, this many at a time (0: full logits)
    loss_weighting: str = "eq6"  # eq6 (1/|D_d| per subset, paper Eq. 6) | mean
    zero_stage: int = 3
    precision: str = "auto"  # auto: bf16 on GPU, fp32 on CPU
    activation_checkpointing: bool = False
    offload_optimizer: bool = False
    offload_params: bool = False
    lora: dict = field(default_factory=dict)  # peft LoraConfig kwargs; empty = full fine-tuning
    num_workers: int = 2
    use_gpu: bool = False
    resources_per_worker: dict = field(default_factory=dict)
    checkpoint_every_steps: int = 0  # 0: each epoch only
    num_to_keep: int = 2
    # after a successful export: latest = delete all checkpoints but the latest and its optimizer state; all = keep
    keep_checkpoints: str = "latest"
    max_failures: int = 0
    storage_path: str = ""  # shared storage (s3:// or NFS) for checkpoints; empty = OUT/checkpoints
    max_grad_norm: float = 1.0  # gradient clipping on the whole accumulated gradient (0 = off)
    export_dtype: str = "auto"  # auto: bf16 when trained in bf16, else fp32 (CPU); or bf16 | fp16 | fp32
    # metric-only ray.train.report at most this often (Ray consumes ~1 report/2 s); every step goes to train_log.jsonl
    report_interval_s: float = 2.0
    resume_from: str = ""  # explicit checkpoint folder to start from; empty = the run's own latest checkpoint, if any
    # also write the model after each epoch k to OUT/epochs/<target>/epoch-<k>/ (kept; the eval phase then
    # measures each one's off-target rate: paper App. E, Fig. 3); part of the run's fingerprint
    export_every_epoch: bool = False
    # --- metrics where users watch them (sdrrl_ray/train/trackers.py); neither is part of the fingerprint ---
    report_to: tuple[str, ...] = ()  # any of tensorboard | wandb | mlflow, logged from rank 0
    # held-out loss also every N steps within an epoch (logged only; early stopping stays per epoch);
    # None: about twice per epoch; 0: at the epoch end only
    eval_every_steps: Optional[int] = None
    # Ray Data tokenization stage
    tokenize_pool: ActorPoolConfig = field(default_factory=lambda: ActorPoolConfig(batch_size=256))

    def __post_init__(self):
        _one_of("train.loss_weighting", self.loss_weighting, ("eq6", "mean"))
        _one_of("train.lr_schedule", self.lr_schedule, ("cosine", "linear", "constant"))
        _one_of("train.precision", self.precision, ("auto", "bf16", "fp32"))
        _one_of("train.keep_checkpoints", self.keep_checkpoints, ("latest", "all"))
        _one_of("train.zero_stage", self.zero_stage, (0, 1, 2, 3))
        for name in ("epochs", "micro_batch_size", "grad_accum", "max_length", "num_workers", "num_to_keep"):
            _positive(f"train.{name}", getattr(self, name))
        if self.global_batch_size is not None:
            _positive("train.global_batch_size", self.global_batch_size)
        for name in ("early_stopping_patience", "checkpoint_every_steps", "loss_chunk_tokens"):
            _at_least(f"train.{name}", getattr(self, name), 0, whole=True)
        _at_least("train.max_failures", self.max_failures, -1, whole=True)  # -1: retry without limit (Ray)
        _above_zero("train.learning_rate", self.learning_rate)
        _fraction("train.heldout_fraction", self.heldout_fraction, one=False)
        _fraction("train.warmup_ratio", self.warmup_ratio)
        for name in ("weight_decay", "max_grad_norm", "report_interval_s"):
            _at_least(f"train.{name}", getattr(self, name), 0)
        for name in self.report_to:
            _one_of("train.report_to", name, ("tensorboard", "wandb", "mlflow"))
        for name in ("eval_every_steps", "max_steps"):
            if getattr(self, name) is not None:
                _at_least(f"train.{name}", getattr(self, name), 0, whole=True)


@dataclass(frozen=True)
class EvalConfig:
    tasks: tuple[str, ...] = ("belebele", "flores", "xlsum", "mkqa", "ner", "offtarget", "alignment")
    data_dir: str = ""  # folder with each benchmark's released files
    models: dict = field(default_factory=dict)  # name -> model folder; empty = base + trained
    limit: Optional[int] = None  # items per task and language
    shots: int = 0
    max_new_tokens: int = 128
    engine: str = "hf"
    # --- added with the evaluation suite (sdrrl_ray/evaluation) ---
    baseline: str = ""  # model row the report's deltas are taken against; empty: "base" if evaluated, else the first
    predictions: str = ""  # folder of saved prediction JSONL files to score without running a model (score-only)
    task_max_new_tokens: dict = field(default_factory=dict)  # task -> max_new_tokens, overriding max_new_tokens
    prompts: dict = field(default_factory=dict)  # task -> prompt template overriding the task's default
    max_prompt_tokens: int = 1024  # longer prompts get their passage/article truncated (also capped by the model)
    temperature: float = 0.0  # 0 = greedy (default); sampling is seeded per item from the run's seed
    top_p: float = 1.0
    belebele_mode: str = "loglik"  # loglik (option log-likelihood) | generate (answer extraction) | both
    flores_split: str = "devtest"  # dev | devtest (flores200_dataset/<split>/<code>.<split>)
    split: str = "test"  # XL-Sum and NER file split (<name>_<split>.jsonl, <lang>/<split>)
    bleu_tokenize: str = "flores200"  # paper signature tok:flores200 (sacreBLEU SentencePiece model)
    # tokenizer when the flores200 model is unavailable; auto: char for unspaced scripts, else 13a
    bleu_fallback: str = "auto"
    bleu_download: bool = True  # let sacreBLEU fetch the flores200 model when it is missing (needs network)
    contamination: bool = True  # flag eval items that overlap OUT/transfer_set and data.path
    contamination_ngram: int = 13  # word n-gram length (GPT-3 / lm-eval-harness decontamination)
    contamination_char_ngram: int = 25  # character n-gram length for unspaced scripts (ja, th, zh, km)
    plots: bool = True  # write PNG plots under OUT/plots
    comet: CometConfig = field(default_factory=CometConfig)  # FLORES COMET beside BLEU and chrF++
    pool: ActorPoolConfig = field(default_factory=lambda: ActorPoolConfig(batch_size=8))  # inference actor pool

    def __post_init__(self):
        allowed = ("belebele", "flores", "xlsum", "mkqa", "ner", "offtarget", "alignment")
        bad = [t for t in self.tasks if t not in allowed]
        if bad:
            raise ConfigError([f"eval.tasks has unknown {bad}; choose from {list(allowed)}"])
        _one_of("eval.engine", self.engine, ("hf", "vllm"))
        _one_of("eval.belebele_mode", self.belebele_mode, ("loglik", "generate", "both"))
        _one_of("eval.flores_split", self.flores_split, ("dev", "devtest"))
        _positive("eval.max_new_tokens", self.max_new_tokens)
        _positive("eval.max_prompt_tokens", self.max_prompt_tokens)
        if self.limit is not None:
            _positive("eval.limit", self.limit)
        _positive("eval.contamination_ngram", self.contamination_ngram)
        _positive("eval.contamination_char_ngram", self.contamination_char_ngram)
        _fraction("eval.top_p", self.top_p, zero=False)
        for task, value in self.task_max_new_tokens.items():
            _positive(f"eval.task_max_new_tokens.{task}", value)
        if self.shots < 0:
            raise ConfigError([f"eval.shots={self.shots} must be >= 0"])
        if self.temperature < 0:
            raise ConfigError([f"eval.temperature={self.temperature} must be >= 0 (0 = greedy)"])
        bad_tasks = [t for t in (*self.task_max_new_tokens, *self.prompts) if t not in allowed]
        if bad_tasks:
            raise ConfigError([f"eval.task_max_new_tokens/eval.prompts name unknown tasks {bad_tasks}; "
                               f"choose from {list(allowed)}"])
        not_text = [t for t, v in self.prompts.items() if not isinstance(v, str)]
        if not_text:
            raise ConfigError([f"eval.prompts for {not_text} must be strings "
                               "(quote templates that contain ': ' or braces)"])


@dataclass(frozen=True)
class RayConfig:
    address: Optional[str] = None  # None: connect to a running cluster if any, else start a local one
    num_cpus: Optional[int] = None  # only for a local instance
    timeout_s: int = 0  # 0: none
    gpu_release_timeout_s: int = 300  # jobs/full.py: wait this long for one phase's GPU actors to end before the next

    def __post_init__(self):
        if self.num_cpus is not None:
            _positive("ray.num_cpus", self.num_cpus)
        _at_least("ray.timeout_s", self.timeout_s, 0, whole=True)
        _at_least("ray.gpu_release_timeout_s", self.gpu_release_timeout_s, 0, whole=True)


@dataclass(frozen=True)
class Config:
    out_dir: str = "out"
    seed: int = 0
    rows_per_file: int = 1024  # rows bundled per output Parquet part (also the unit of resume)
    data: DataConfig = field(default_factory=DataConfig)
    languages: LanguagesConfig = field(default_factory=LanguagesConfig)
    answer: AnswerConfig = field(default_factory=AnswerConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    translate: TranslateConfig = field(default_factory=TranslateConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    code_switch: CodeSwitchConfig = field(default_factory=CodeSwitchConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    transfer: TransferConfig = field(default_factory=TransferConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)  # sdrrl compare
    ray: RayConfig = field(default_factory=RayConfig)

    def __post_init__(self):
        _check_out_dir(self.out_dir)
        _positive("rows_per_file", self.rows_per_file)

    def to_dict(self) -> dict:
        return _jsonable(dataclasses.asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj
