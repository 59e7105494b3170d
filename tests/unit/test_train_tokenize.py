"""The tokenization stage on dict batches (no Ray): label masks against apply_chat_template, the
paper's fallback layout, truncation (trims and rejects)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sdrrl_ray.stages.tokenize import IGNORE, INPUT_COLUMNS, OUTPUT_COLUMNS, Tokenize, encode_example

CHATS = [
    ("What is 2+2?", "It is four."),
    ("日本の首都はどこですか？", "東京です。"),
    ("Translate to Thai: good morning", "สวัสดีตอนเช้า"),
    ("  leading and trailing spaces  ", "  answer with spaces "),
    ("multi\nline\nquestion", "line one\nline two"),
]


@pytest.fixture(scope="module")
def tokenizer(tiny_lm):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_lm)


def _ids(enc):
    return list(enc["input_ids"] if hasattr(enc, "keys") else enc)


@pytest.mark.parametrize("question,answer", CHATS)
def test_label_mask_matches_apply_chat_template(tokenizer, question, answer):
    msgs = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    full = _ids(tokenizer.apply_chat_template(msgs, tokenize=True))
    prompt = _ids(tokenizer.apply_chat_template(msgs[:1], tokenize=True, add_generation_prompt=True))
    enc = encode_example(tokenizer, question, answer, max_length=256)
    assert enc["status"] == "ok"
    assert enc["input_ids"] == full
    assert enc["n_prompt"] == len(prompt) and full[:len(prompt)] == prompt
    assert enc["labels"] == [IGNORE] * len(prompt) + full[len(prompt):]
    assert enc["labels"][-1] == tokenizer.convert_tokens_to_ids("<|end|>")  # the end-of-turn token is learned
    assert enc["n_answer"] == len(full) - len(prompt)


def test_fallback_layout_without_chat_template(tokenizer):
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = None
    enc = encode_example(tok, "Name a colour.", "Blue.", max_length=256)
    prompt_ids = tok("Question: Name a colour.\nAnswer:", add_special_tokens=False)["input_ids"]
    full_ids = tok("Question: Name a colour.\nAnswer: Blue." + tok.eos_token, add_special_tokens=False)["input_ids"]
    assert enc["input_ids"] == full_ids
    assert enc["n_prompt"] == len(prompt_ids)
    assert tok.decode(enc["input_ids"][enc["n_prompt"]:]) == " Blue." + tok.eos_token


def test_truncation_trims_answers_and_rejects_long_prompts(tokenizer):
    full = encode_example(tokenizer, "Say many words.", "many " * 40, max_length=1000)
    trimmed = encode_example(tokenizer, "Say many words.", "many " * 40, max_length=20)
    assert trimmed["status"] == "trimmed" and trimmed["n_tokens"] == 20
    assert trimmed["input_ids"] == full["input_ids"][:20] and trimmed["labels"] == full["labels"][:20]
    assert trimmed["n_answer"] == 20 - full["n_prompt"]
    one = encode_example(tokenizer, "Say many words.", "many " * 40, max_length=full["n_prompt"] + 1)
    assert one["status"] == "trimmed" and one["n_answer"] == 1
    rejected = encode_example(tokenizer, "word " * 50, "short", max_length=20)
    assert rejected["status"] == "rejected" and rejected["reason"] == "prompt_too_long"
    assert rejected["input_ids"] == [] and rejected["n_answer"] == 0


def test_stage_call_on_a_dict_batch(tiny_lm):
    stage = Tokenize(tiny_lm, max_length=24)
    batch = {
        "id": np.array(["a", "b", "c"]),
        "item_id": np.array(["i1", "i1", "i2"]),
        "subset": np.array(["LL", "TT", "mt"]),
        "tgt_lang": np.array(["ja", "ja", "ja"]),
        "question": np.array(["Hi?", "word " * 40, "Say many words."]),
        "answer": np.array(["Hello.", "x", "many " * 40]),
        "n_switched": np.array([0, 0, 0]),
    }
    out = stage(batch)
    assert out.num_rows == 3 and set(OUTPUT_COLUMNS) == set(out.column_names)
    assert out.column("status").to_pylist() == ["ok", "rejected", "trimmed"]
    assert out.column("reason").to_pylist() == ["", "prompt_too_long", ""]
    assert out.column("id").to_pylist() == ["a", "b", "c"]
    lens = [len(x) for x in out.column("input_ids").to_pylist()]
    assert lens == out.column("n_tokens").to_pylist() and max(lens) <= 24


def test_stage_names_missing_columns(tiny_lm):
    stage = Tokenize(tiny_lm, max_length=24)
    with pytest.raises(ValueError, match=r"train.Tokenize: missing input columns \['answer'\]"):
        stage({k: np.array(["x"]) for k in INPUT_COLUMNS if k != "answer"})
