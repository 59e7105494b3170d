"""The DeepSpeed config as a pure function of the train config, and the learning-rate schedule.

``micro_batch_size x grad_accum x world_size`` is the global batch; when ``train.global_batch_size``
is set it must equal that product (checked here, with the numbers in the message). Precision:
``auto`` is bf16 on GPU and fp32 on CPU. The optimizer is a client ``torch.optim.AdamW`` (no
DeepSpeed op to compile), except with ``offload_optimizer``, where DeepSpeed's CPU Adam is required
and configured here.
"""

from __future__ import annotations

import math

from sdrrl_ray.config import TrainConfig
from sdrrl_ray.errors import ConfigError


def resolve_precision(train: TrainConfig, on_gpu: bool) -> str:
    """bf16 | fp32."""
    if train.precision == "auto":
        return "bf16" if on_gpu else "fp32"
    return train.precision


def resolve_export_dtype(train: TrainConfig, on_gpu: bool) -> str:
    """bf16 | fp16 | fp32: ``auto`` keeps the training precision (bf16 on GPU, fp32 on CPU)."""
    allowed = ("auto", "bf16", "fp16", "fp32")
    if train.export_dtype not in allowed:
        raise ConfigError([f"train.export_dtype={train.export_dtype!r} is not one of {list(allowed)}"])
    if train.export_dtype == "auto":
        return resolve_precision(train, on_gpu)
    return train.export_dtype


def check_batch(train: TrainConfig, world_size: int) -> int:
    """The global batch size; raises when ``train.global_batch_size`` disagrees with the product."""
    problems = []
    for name in ("micro_batch_size", "grad_accum"):
        value = getattr(train, name)
        if not isinstance(value, int) or value < 1:
            problems.append(f"train.{name}={value!r} must be a positive integer")
    if world_size < 1:
        problems.append(f"world size {world_size} (train.num_workers) must be >= 1")
    if problems:
        raise ConfigError(problems)
    product = train.micro_batch_size * train.grad_accum * world_size
    if train.global_batch_size is not None and train.global_batch_size != product:
        raise ConfigError([
            f"train.global_batch_size={train.global_batch_size} but train.micro_batch_size={train.micro_batch_size}"
            f" x train.grad_accum={train.grad_accum} x world size {world_size} (train.num_workers) = {product};"
            f" set train.grad_accum={_suggest(train, world_size)} or leave train.global_batch_size empty"
        ])
    return product


def _suggest(train: TrainConfig, world_size: int) -> str:
    per = train.micro_batch_size * world_size
    if train.global_batch_size and train.global_batch_size % per == 0:
        return str(train.global_batch_size // per)
    return f"global_batch_size / (micro_batch_size x world size) (not an integer here: {train.global_batch_size}/{per})"


def ds_config(train: TrainConfig, world_size: int, on_gpu: bool) -> dict:
    """DeepSpeed config dict for ``deepspeed.initialize``."""
    global_batch = check_batch(train, world_size)
    precision = resolve_precision(train, on_gpu)
    problems = []
    if train.offload_params and train.zero_stage != 3:
        problems.append(f"train.offload_params needs train.zero_stage=3 (got {train.zero_stage})")
    if train.offload_optimizer and train.zero_stage == 0:
        problems.append("train.offload_optimizer needs train.zero_stage 1, 2 or 3 (got 0)")
    if problems:
        raise ConfigError(problems)
    zero: dict = {"stage": train.zero_stage}
    if train.zero_stage == 3:
        zero.update(stage3_gather_16bit_weights_on_model_save=True, overlap_comm=on_gpu, contiguous_gradients=True)
    elif train.zero_stage in (1, 2):
        zero.update(overlap_comm=on_gpu, contiguous_gradients=True)
    if train.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": on_gpu}
    if train.offload_params:
        zero["offload_param"] = {"device": "cpu", "pin_memory": on_gpu}
    cfg = {
        "train_batch_size": global_batch,
        "train_micro_batch_size_per_gpu": train.micro_batch_size,
        "gradient_accumulation_steps": train.grad_accum,
        "gradient_clipping": float(train.max_grad_norm),
        "zero_optimization": zero,
        "bf16": {"enabled": precision == "bf16"},
        "fp16": {"enabled": False},
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    if train.offload_optimizer:  # DeepSpeedCPUAdam (JIT-compiled on first use)
        cfg["optimizer"] = {"type": "AdamW", "params": {"lr": train.learning_rate, "weight_decay": train.weight_decay}}
    return cfg


class WarmupDecay:
    """LR multiplier: linear warmup, then cosine / linear decay to 0, or constant (picklable)."""

    def __init__(self, total_steps: int, warmup_steps: int, kind: str):
        self.total = max(1, int(total_steps))
        self.warmup = max(0, int(warmup_steps))
        self.kind = kind

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        if self.kind == "constant":
            return 1.0
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        if self.kind == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_steps(train: TrainConfig, total_steps: int) -> int:
    return int(math.ceil(train.warmup_ratio * total_steps))
