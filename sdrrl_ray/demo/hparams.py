"""Hyperparameters of the demo LM (part of its build cache key)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Hyperparameters:
    """Everything that shapes the demo LM besides the data; part of the cache key."""

    vocab_size: int = 4096  # upper bound; the BPE trainer may stop earlier
    hidden_size: int = 128
    intermediate_size: int = 384
    num_layers: int = 2
    num_heads: int = 2  # head_dim 64: vLLM's CPU attention needs head_dim >= 32
    num_kv_heads: int = 1
    max_positions: int = 256
    steps: int = 3000
    batch_size: int = 16
    lr: float = 3e-3
    warmup_steps: int = 50
    weight_decay: float = 0.01
    seed: int = 0
    threads: int = 1  # fixed, so that the CPU build is deterministic; 1 stays fast on a busy machine
