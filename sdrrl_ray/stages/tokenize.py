"""Tokenization stage: transfer-set rows -> token ids and loss labels (a Ray Data ``map_batches`` class).

Each row is rendered by the one prompt builder, :func:`sdrrl_ray.prompts.render_example` (the model's
chat template, else the paper's ``Question:`` / ``Answer:`` layout), as ``prompt + completion`` and
tokenized as one text without added special tokens, exactly as ``apply_chat_template(tokenize=True)``
and the generation engine tokenize it. A token belongs to the completion when it starts at or after
the prompt's last character (fast tokenizers, through offsets); slow tokenizers encode the two parts
separately. Labels are the token ids on completion tokens and -100 on prompt tokens (the collator
adds -100 on padding).

Truncation to ``max_length``: a row whose prompt leaves no room for one answer token is rejected
(reason ``prompt_too_long``); a longer answer is cut at ``max_length`` (status ``trimmed``, its loss
covers the answer tokens that remain). Rows are never dropped here: every row comes out with a
``status`` so that the caller counts trims and rejects.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pyarrow as pa

from sdrrl_ray.prompts import render_example

IGNORE = -100
OK, TRIMMED, REJECTED = "ok", "trimmed", "rejected"

INPUT_COLUMNS = {
    "id": "unique row id",
    "item_id": "source item; the variants of one item share it",
    "subset": "LL | TL | LT | TT | mt | comp",
    "tgt_lang": "target language of the row",
    "question": "prompt text",
    "answer": "completion text",
}
OUTPUT_COLUMNS = {
    "id": "as input",
    "item_id": "as input",
    "subset": "as input",
    "tgt_lang": "as input",
    "input_ids": "token ids of prompt + completion, at most max_length (empty when rejected)",
    "labels": "input_ids on completion tokens, -100 on prompt tokens",
    "n_prompt": "prompt tokens",
    "n_answer": "completion tokens kept (the tokens the loss covers)",
    "n_tokens": "len(input_ids)",
    "status": "ok | trimmed | rejected",
    "reason": "why rejected ('' otherwise)",
}


def split_tokens(tokenizer: Any, prompt: str, completion: str) -> tuple[list[int], int]:
    """(token ids of prompt + completion, number of prompt tokens)."""
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(prompt + completion, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        cut = len(prompt)
        n_prompt = sum(1 for start, _end in enc["offset_mapping"] if start < cut)
        return ids, n_prompt
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    c = tokenizer(completion, add_special_tokens=False)["input_ids"]
    return list(p) + list(c), len(p)


def encode_example(
    tokenizer: Any, question: str, answer: str, max_length: int, system_prompt: Optional[str] = None
) -> dict:
    """One row of :data:`OUTPUT_COLUMNS` (without the pass-through columns)."""
    prompt, completion = render_example(tokenizer, question, answer, system_prompt)
    ids, n_prompt = split_tokens(tokenizer, prompt, completion)
    status, reason = OK, ""
    if n_prompt >= len(ids):
        status, reason = REJECTED, "empty_answer"
    elif n_prompt >= max_length:
        status, reason = REJECTED, "prompt_too_long"
    elif len(ids) > max_length:
        status, ids = TRIMMED, ids[:max_length]
    if status == REJECTED:
        return dict(input_ids=[], labels=[], n_prompt=n_prompt, n_answer=0, n_tokens=0, status=status, reason=reason)
    labels = [IGNORE] * n_prompt + ids[n_prompt:]
    return dict(input_ids=ids, labels=labels, n_prompt=n_prompt, n_answer=len(ids) - n_prompt, n_tokens=len(ids),
                status=status, reason=reason)


def check_columns(batch: Any, stage: str = "train.Tokenize") -> None:
    present = list(batch.keys()) if hasattr(batch, "keys") else list(batch.column_names)
    missing = [c for c in INPUT_COLUMNS if c not in present]
    if missing:
        raise ValueError(f"{stage}: missing input columns {missing}; present: {sorted(present)}")


class Tokenize:
    """``map_batches`` callable: adds the :data:`OUTPUT_COLUMNS` to a batch of transfer-set rows."""

    def __init__(self, model_path: str, max_length: int, system_prompt: Optional[str] = None,
                 trust_remote_code: bool = False):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code)
        self.max_length = int(max_length)
        self.system_prompt = system_prompt

    def __call__(self, batch: dict) -> pa.Table:
        check_columns(batch)
        rows = [
            encode_example(self.tokenizer, str(q), str(a), self.max_length, self.system_prompt)
            for q, a in zip(batch["question"], batch["answer"])
        ]
        out = {c: pa.array([str(v) for v in np.asarray(batch[c]).tolist()], pa.string())
               for c in ("id", "item_id", "subset", "tgt_lang")}
        out["input_ids"] = pa.array([r["input_ids"] for r in rows], pa.list_(pa.int32()))
        out["labels"] = pa.array([r["labels"] for r in rows], pa.list_(pa.int32()))
        for c in ("n_prompt", "n_answer", "n_tokens"):
            out[c] = pa.array([r[c] for r in rows], pa.int32())
        out["status"] = pa.array([r["status"] for r in rows], pa.string())
        out["reason"] = pa.array([r["reason"] for r in rows], pa.string())
        return pa.table(out)
