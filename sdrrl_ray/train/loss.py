"""Collation (padding or packing) and the answer-token loss.

**Reduction, precisely.** For example ``x`` with answer tokens ``A_x`` (labels != -100):

    CE(x)  = (1/|A_x|) sum_{t in A_x} -log p(y_t | y_<t)          (mean over the example's answer tokens)
    L_step = (1/n_b) sum_{x in global batch b} w_x CE(x)          (w_x from :mod:`sdrrl_ray.train.plan`)

``n_b`` is the number of examples in the global batch, known to every rank from the plan. Each
micro-batch contributes ``scale * sum_{x in micro} w_x CE(x)`` with ``scale = accum * world / n_b``;
DeepSpeed divides the loss by ``accum`` in ``backward`` and averages gradients over ``world``, so
the optimizer sees exactly ``grad L_step`` -- the same whatever ``micro``, ``accum`` and ``world``
are, as long as ``G = micro x accum x world`` (which fixes the batches) is the same.

**Packing** (``train.packing``) concatenates a micro-batch's examples, in plan order, into as few
rows of ``max_length`` tokens as fit. Position ids restart at 0 for every example and the attention
mask is left out, so transformers (>= 4.5x, ``masking_utils.find_packed_sequence_indices``) builds a
block-diagonal causal mask from the position ids: examples never attend to each other, and the loss
equals the unpacked loss (tested). Packing only removes padding; it never changes which examples
are in a step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

IGNORE = -100


@dataclass(frozen=True)
class Example:
    input_ids: np.ndarray
    labels: np.ndarray
    weight: float = 1.0  # w_x
    subset: int = 0  # index into the run's subset names (metrics only)


def collate(examples: list[Example], *, pad_id: int, packing: bool = False, max_length: int = 0) -> dict:
    """Tensors for one micro-batch. ``example_index`` maps each token to its example (-1: no loss)."""
    if not examples:  # dummy micro-batch: one row, no loss tokens
        examples = [Example(np.asarray([pad_id, pad_id]), np.asarray([IGNORE, IGNORE]), 0.0, -1)]
        dummy = True
    else:
        dummy = False
    rows: list[list[int]] = []  # per row, the examples' positions in ``examples``
    if packing:
        if max_length <= 0:
            raise ValueError("[Internal] packing needs max_length")
        used = 0
        for i, ex in enumerate(examples):
            if not rows or used + len(ex.input_ids) > max_length:
                rows.append([])
                used = 0
            rows[-1].append(i)
            used += len(ex.input_ids)
    else:
        rows = [[i] for i in range(len(examples))]
    width = max(sum(len(examples[i].input_ids) for i in row) for row in rows)
    shape = (len(rows), width)
    input_ids = torch.full(shape, pad_id, dtype=torch.long)
    labels = torch.full(shape, IGNORE, dtype=torch.long)
    example_index = torch.full(shape, -1, dtype=torch.long)
    position_ids = torch.zeros(shape, dtype=torch.long)
    attention_mask = torch.zeros(shape, dtype=torch.long)
    for r, row in enumerate(rows):
        pos = 0
        for i in row:
            ex = examples[i]
            n = len(ex.input_ids)
            input_ids[r, pos:pos + n] = torch.as_tensor(np.asarray(ex.input_ids, dtype=np.int64))
            lab = torch.as_tensor(np.asarray(ex.labels, dtype=np.int64)).clone()
            lab[0] = IGNORE  # the first token of an example is never predicted (it is a prompt token anyway)
            labels[r, pos:pos + n] = lab
            if not dummy:
                example_index[r, pos:pos + n] = torch.where(lab != IGNORE, i, -1)
            position_ids[r, pos:pos + n] = torch.arange(n)
            attention_mask[r, pos:pos + n] = 1
            pos += n
        position_ids[r, pos:] = torch.arange(width - pos)  # padding: its own (ignored) segment
    n_ex = 0 if dummy else len(examples)
    out = dict(
        input_ids=input_ids,
        labels=labels,
        example_index=example_index,
        weights=torch.tensor([ex.weight for ex in examples[:n_ex]], dtype=torch.float32),
        subsets=torch.tensor([ex.subset for ex in examples[:n_ex]], dtype=torch.long),
        n_tokens=int(attention_mask.sum()),
    )
    if packing:
        out["position_ids"] = position_ids
    else:
        out["attention_mask"] = attention_mask
    return out


def model_inputs(batch: dict, device: torch.device) -> dict:
    keys = ("input_ids", "attention_mask", "position_ids")
    return {k: batch[k].to(device) for k in keys if k in batch}


def per_example_ce(logits: torch.Tensor, batch: dict) -> torch.Tensor:
    """Mean token cross-entropy over each example's answer tokens, shape (n_examples,), fp32."""
    device = logits.device
    labels = batch["labels"].to(device)[:, 1:]
    index = batch["example_index"].to(device)[:, 1:]
    n_ex = batch["weights"].numel()
    logits = logits[:, :-1, :].float()
    ce = F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE, reduction="none")
    index = index.reshape(-1)
    mask = index >= 0
    if n_ex == 0:
        return torch.zeros(0, device=device)
    sums = torch.zeros(n_ex, device=device, dtype=ce.dtype).index_add(0, index[mask], ce[mask])
    counts = torch.zeros(n_ex, device=device, dtype=ce.dtype).index_add(
        0, index[mask], torch.ones_like(ce[mask]))
    return sums / counts.clamp_min(1.0)


def forward_ce(model, batch: dict, device, chunks: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-example CE, shape (n_examples,); a zero that reaches every parameter) from one forward of
    ``model`` (a DeepSpeed engine or the module). ``chunks`` > 0: the model has the chunked answer loss
    (:mod:`sdrrl_ray.train.answer_loss`) and no full logits are made; 0: the model's own forward."""
    inputs = model_inputs(batch, device)
    if chunks:
        return model(**inputs, answer_labels=batch["labels"].to(device),
                     answer_index=batch["example_index"].to(device), answer_examples=batch["weights"].numel())
    logits = model(**inputs, use_cache=False).logits
    ce = per_example_ce(logits, batch)
    return ce, (logits.sum() * 0.0 if ce.numel() == 0 else ce.new_zeros(()))


def micro_loss(ce: torch.Tensor, zero: torch.Tensor, batch: dict, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss to backward, per-example CE detached). ``scale = accum * world / n_b``."""
    if ce.numel() == 0:  # dummy micro-batch: zero loss that still reaches every parameter
        return zero, ce.detach()
    w = batch["weights"].to(ce.device)
    return scale * (w * ce).sum(), ce.detach()
