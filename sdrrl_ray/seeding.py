"""Per-row randomness from a hash of (seed, row id, purpose): independent of batch boundaries."""

from __future__ import annotations

import hashlib
import random


def row_seed(seed: int, row_id: str, purpose: str) -> int:
    digest = hashlib.blake2b(f"{seed}\x1f{purpose}\x1f{row_id}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def row_uniform(seed: int, row_id: str, purpose: str) -> float:
    """A uniform draw in [0, 1) fixed by (seed, row_id, purpose)."""
    return row_seed(seed, row_id, purpose) / 2.0**64


def row_rng(seed: int, row_id: str, purpose: str) -> random.Random:
    return random.Random(row_seed(seed, row_id, purpose))
