"""The answer-token loss without the full logits (``train.loss_chunk_tokens``).

A causal LM's own forward projects every position (prompt, answer and padding) to the vocabulary and the
loss then upcasts those logits to fp32: for micro-batch 8 x 2048 tokens and a 32k vocabulary that is 1 GB in
bf16 plus 2 GB in fp32 plus their gradient. Here the model's trunk runs as usual, then only the answer
positions' hidden states are projected, a chunk at a time, each chunk's logits upcast to fp32, its cross-entropy
taken and the chunk recomputed in backward (activation checkpointing of the projection): at most one chunk's
logits exist at any time. The per-example mean CE equals :func:`sdrrl_ray.train.loss.per_example_ce` on the
full logits (tested within 1e-5 on CPU fp32), so Eq. 6's weighting and the batch-invariance of the loss hold.

**Same number of projections on every rank.** Under ZeRO-3 each call of the output layer gathers its weight
across ranks (a collective), so every rank must make the same number of calls in a micro-step whatever its
token count: the number of chunks is fixed by the configuration (``ceil(micro x max_length / chunk_tokens)``);
a rank with fewer answer tokens gets smaller (possibly empty) chunks, never fewer.

The projection is the model's output embedding module (``get_output_embeddings()``), called as a module so
that ZeRO-3's hooks gather it; models whose logits are more than that projection (final soft-capping, a logit
scale) are refused by :func:`supports` and keep the model's own forward.
"""

from __future__ import annotations

import math
import types
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

# configuration keys of models whose logits are not just the output projection of the last hidden state
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier_scale")


def n_chunks(micro_batch_size: int, max_length: int, chunk_tokens: int) -> int:
    """Chunks per micro-batch: a function of the configuration only, so equal on every rank."""
    return max(1, math.ceil(micro_batch_size * max_length / chunk_tokens))


def _causal_lm(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model  # peft wraps the LM


def supports(model: Any) -> bool:
    """True when the model's logits are its output projection of the trunk's last hidden state."""
    lm = _causal_lm(model)
    try:
        head, trunk = lm.get_output_embeddings(), lm.get_decoder()
    except (AttributeError, NotImplementedError):
        return False
    if head is None or trunk is None or not isinstance(head, torch.nn.Linear):
        return False
    cfg = getattr(lm, "config", None)
    return not any(getattr(cfg, key, None) not in (None, 0, 1, 1.0) for key in _LOGIT_TRANSFORMS)


def _chunk_ce(head: torch.nn.Module, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(head(hidden).float(), labels, reduction="none")


def chunked_answer_ce(hidden: torch.Tensor, head: torch.nn.Module, labels: torch.Tensor, example_index: torch.Tensor,
                      n_examples: int, chunks: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-example mean CE over answer tokens, shape (n_examples,), fp32; a zero that depends on every
    parameter the forward used, for a micro-batch without answer tokens).

    ``hidden`` is the trunk's last hidden state (batch, seq, width); ``labels`` / ``example_index`` are the
    collated tensors of :func:`sdrrl_ray.train.loss.collate` (position t predicts token t + 1)."""
    width = hidden.size(-1)
    h = hidden[:, :-1, :].reshape(-1, width)
    y = labels[:, 1:].reshape(-1)
    idx = example_index[:, 1:].reshape(-1)
    keep = (idx >= 0).nonzero(as_tuple=True)[0]  # answer tokens only (the example index marks them)
    h, y, idx = h.index_select(0, keep), y.index_select(0, keep), idx.index_select(0, keep)
    pieces = []
    for hs, ys in zip(torch.tensor_split(h, chunks), torch.tensor_split(y, chunks)):
        if torch.is_grad_enabled():  # recompute the chunk's logits in backward instead of keeping them
            pieces.append(checkpoint(_chunk_ce, head, hs, ys, use_reentrant=False))
        else:
            pieces.append(_chunk_ce(head, hs, ys))
    ce = torch.cat(pieces)
    zero = hidden.sum() * 0.0 + sum(p.sum() for p in pieces) * 0.0
    sums = torch.zeros(n_examples, device=ce.device, dtype=ce.dtype).index_add(0, idx, ce)
    counts = torch.zeros(n_examples, device=ce.device, dtype=ce.dtype).index_add(0, idx, torch.ones_like(ce))
    return sums / counts.clamp_min(1.0), zero


def install(model: Any, chunks: int) -> None:
    """Give the causal LM a forward that, when called with ``answer_labels`` / ``answer_index`` /
    ``answer_examples``, returns ``(per-example CE, zero)`` from :func:`chunked_answer_ce` instead of logits;
    without them it is the model's own forward. The model's weights, state dict and export are unchanged."""
    lm = _causal_lm(model)
    own_forward = lm.forward
    trunk, head = lm.get_decoder(), lm.get_output_embeddings()

    def forward(self, *args, answer_labels=None, answer_index=None, answer_examples=None, **kwargs):
        if answer_labels is None:
            return own_forward(*args, **kwargs)
        # what a wrapper (peft) passes on that the trunk does not take: the labels, options left at None
        kwargs = {k: v for k, v in kwargs.items() if v is not None and k not in ("labels", "use_cache")}
        hidden = trunk(*args, use_cache=False, **kwargs).last_hidden_state
        return chunked_answer_ce(hidden, head, answer_labels, answer_index, int(answer_examples), chunks)

    lm.forward = types.MethodType(forward, lm)


def enable(model: Any, micro_batch_size: int, max_length: int, chunk_tokens: int) -> int:
    """Install the chunked answer loss when ``chunk_tokens`` > 0 and the model :func:`supports` it; returns the
    chunks per micro-batch to pass to :func:`sdrrl_ray.train.loss.forward_ce` (0: the model's own forward)."""
    if not chunk_tokens or not supports(model):
        return 0
    chunks = n_chunks(micro_batch_size, max_length, chunk_tokens)
    install(model, chunks)
    return chunks
