"""Collation and the answer-token loss on the real demo Llama (CPU, no Ray): packed == unpacked,
Eq. 6 equal to a by-hand reference, accumulation invariance of the gradient."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sdrrl_ray.stages.tokenize import encode_example
from sdrrl_ray.train import answer_loss
from sdrrl_ray.train.loss import IGNORE, Example, collate, forward_ce, micro_loss, per_example_ce
from sdrrl_ray.train.plan import example_weights

QA = [
    ("LL", "What is the capital of France?", "Paris is the capital of France."),
    ("TT", "日本の首都は？", "東京です。"),
    ("TL", "猫は何が好き？", "The cat likes fish very much, especially in the evening."),
    ("mt", "Translate the following sentence from English to Japanese.\nGood morning.", "おはようございます。"),
    ("LL", "Count to five.", "One, two, three, four, five."),
    ("mt", "Translate the following sentence from English to Japanese.\nThank you.", "ありがとう。"),
]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def lm(tiny_lm):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(tiny_lm)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm, dtype=torch.float32)
    model.eval()
    return tok, model


def examples(tok, weighting="eq6"):
    w = example_weights([s for s, _, _ in QA], weighting)
    names = sorted({s for s, _, _ in QA})
    out = []
    for (subset, q, a), wi in zip(QA, w):
        enc = encode_example(tok, q, a, 128)
        out.append(Example(np.asarray(enc["input_ids"]), np.asarray(enc["labels"]), float(wi), names.index(subset)))
    return out


CHUNKS = 3  # the chunked answer loss in these tests (several chunks, some of them short)


@pytest.fixture(scope="module")
def lm_chunked(tiny_lm):
    """A second copy of the same model with the chunked answer loss installed."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_lm, dtype=torch.float32)
    model.eval()
    assert answer_loss.supports(model)
    answer_loss.install(model, CHUNKS)
    return model


def loss_of(model, exs, *, packing, scale, max_length=128, chunks=0):
    b = collate(exs, pad_id=0, packing=packing, max_length=max_length)
    return micro_loss(*forward_ce(model, b, CPU, chunks), b, scale)


def test_collate_pads_right_and_masks_padding(lm):
    tok, _ = lm
    exs = examples(tok)
    b = collate(exs, pad_id=0)
    lengths = [len(e.input_ids) for e in exs]
    assert b["input_ids"].shape == (len(exs), max(lengths))
    for r, e in enumerate(exs):
        n = len(e.input_ids)
        assert b["attention_mask"][r, :n].all() and not b["attention_mask"][r, n:].any()
        assert (b["labels"][r, n:] == IGNORE).all()
        assert b["labels"][r, :n].tolist() == [IGNORE] + e.labels[1:].tolist()
    assert b["n_tokens"] == sum(lengths) and "position_ids" not in b


def test_packing_keeps_examples_apart_and_matches_unpacked_loss(lm):
    tok, model = lm
    exs = examples(tok)
    packed = collate(exs, pad_id=0, packing=True, max_length=64)
    assert packed["input_ids"].shape[0] < len(exs) and "attention_mask" not in packed
    assert packed["position_ids"][0, 0] == 0 and (packed["position_ids"] == 0).sum() >= len(exs)
    with torch.no_grad():
        lu, ceu = loss_of(model, exs, packing=False, scale=0.25)
        lp, cep = loss_of(model, exs, packing=True, scale=0.25, max_length=64)
    assert torch.allclose(ceu, cep, atol=1e-5) and lp.item() == pytest.approx(lu.item(), rel=1e-5)
    # and packing is not a no-op: the model does see the packed rows as one sequence otherwise
    b = collate(exs, pad_id=0, packing=True, max_length=64)
    ones = {"input_ids": b["input_ids"], "attention_mask": torch.ones_like(b["input_ids"])}
    with torch.no_grad():
        leaked = per_example_ce(model(**ones, use_cache=False).logits, b)
    assert not torch.allclose(leaked, cep, atol=1e-3)


def test_eq6_loss_equals_by_hand_reference(lm):
    tok, model = lm
    exs = examples(tok)
    with torch.no_grad():
        loss, _ = loss_of(model, exs, packing=False, scale=1.0 / len(exs))
        sizes = Counter(s for s, _, _ in QA)
        per_subset: dict = {}
        for (subset, q, a) in QA:
            enc = encode_example(tok, q, a, 128)
            logits = model(input_ids=torch.tensor([enc["input_ids"]])).logits[0]
            ce = F.cross_entropy(logits[:-1], torch.tensor(enc["labels"][1:]), ignore_index=-100)
            per_subset[subset] = per_subset.get(subset, 0.0) + ce.item() / sizes[subset]
    eq6 = sum(per_subset.values())  # sum_d (1/|D_d|) sum_{x in D_d} CE(x)
    assert loss.item() == pytest.approx(eq6 / len(sizes), rel=1e-5)  # the batch loss is Eq. 6 / K


def test_gradient_independent_of_micro_batching(lm):
    """Eq. 6 weights, unequal lengths: one micro-batch of 6 vs 6 of 1 vs 3 of 2 (scaled as DeepSpeed does)."""
    tok, model = lm
    exs = examples(tok)
    n = len(exs)

    def grads(micro):
        model.zero_grad()
        accum = n // micro
        for k in range(accum):
            loss, _ = loss_of(model, exs[k * micro:(k + 1) * micro], packing=False, scale=accum / n)
            (loss / accum).backward()  # DeepSpeed divides by grad-accumulation steps
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    g6, g1, g2 = grads(6), grads(1), grads(2)
    assert torch.allclose(g6, g1, rtol=1e-4, atol=1e-7) and torch.allclose(g6, g2, rtol=1e-4, atol=1e-7)


def test_dummy_micro_batch_has_zero_loss_and_reaches_the_graph(lm):
    _, model = lm
    b = collate([], pad_id=0)
    assert b["weights"].numel() == 0 and (b["labels"] == IGNORE).all()
    model.zero_grad()
    loss, ce = micro_loss(*forward_ce(model, b, CPU, 0), b, scale=3.0)
    assert loss.item() == 0.0 and ce.numel() == 0
    loss.backward()
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())


def _grads(model, exs, chunks, packing=False):
    model.zero_grad()
    loss, ce = loss_of(model, exs, packing=packing, scale=1.0 / len(exs), max_length=64, chunks=chunks)
    loss.backward()
    return loss.detach(), ce, torch.cat([p.grad.flatten() for p in model.parameters()])


@pytest.mark.parametrize("packing", [False, True])
def test_chunked_answer_loss_equals_the_full_logits_loss(lm, lm_chunked, packing):
    """Same weights, same batch: per-example CE, the Eq. 6 loss and every gradient as from the full logits."""
    tok, model = lm
    exs = examples(tok)
    loss_full, ce_full, g_full = _grads(model, exs, 0, packing)
    loss_chunk, ce_chunk, g_chunk = _grads(lm_chunked, exs, CHUNKS, packing)
    assert torch.allclose(ce_chunk, ce_full, atol=1e-5)
    assert abs(loss_chunk.item() - loss_full.item()) < 1e-5
    assert torch.allclose(g_chunk, g_full, rtol=1e-4, atol=1e-6)


def test_chunked_answer_loss_projects_answer_tokens_only_a_chunk_at_a_time(lm, lm_chunked):
    """The output layer sees CHUNKS calls of at most ceil(answer tokens / CHUNKS) rows in the forward, never
    the batch x sequence logits; a batch with fewer answer tokens still makes CHUNKS calls (ZeRO-3 gathers)."""
    tok, _ = lm
    exs = examples(tok)
    head = lm_chunked.get_output_embeddings()
    for batch_exs in (exs, exs[:2]):
        b = collate(batch_exs, pad_id=0)
        rows: list = []
        handle = head.register_forward_hook(lambda m, i, o: rows.append(i[0].shape[0]))
        try:
            with torch.no_grad():
                forward_ce(lm_chunked, b, CPU, CHUNKS)
        finally:
            handle.remove()
        answer = int((b["example_index"][:, 1:] >= 0).sum())
        assert len(rows) == CHUNKS and sum(rows) == answer
        assert max(rows) == -(-answer // CHUNKS) < b["input_ids"].numel()


def test_chunked_answer_loss_dummy_micro_batch_reaches_every_parameter(lm_chunked):
    b = collate([], pad_id=0)
    lm_chunked.zero_grad()
    loss, ce = micro_loss(*forward_ce(lm_chunked, b, CPU, CHUNKS), b, scale=3.0)
    assert loss.item() == 0.0 and ce.numel() == 0
    loss.backward()
    assert all(p.grad is not None and not p.grad.any() for p in lm_chunked.parameters())


def test_chunked_model_keeps_its_own_forward_and_refuses_transformed_logits(lm, lm_chunked, tiny_lm):
    from transformers import AutoModelForCausalLM

    tok, model = lm
    ids = torch.tensor([tok("Paris is the capital")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(lm_chunked(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-6)
    capped = AutoModelForCausalLM.from_pretrained(tiny_lm, dtype=torch.float32)
    capped.config.final_logit_softcapping = 30.0  # logits are not the bare projection: the own forward stays
    assert not answer_loss.supports(capped)
    assert answer_loss.n_chunks(4, 1024, 4096) == 1 and answer_loss.n_chunks(8, 2048, 4096) == 4


def test_enable_installs_only_when_asked_and_supported(tiny_lm):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_lm, dtype=torch.float32)
    assert answer_loss.enable(model, 4, 128, 0) == 0 and "forward" not in vars(model)
    assert answer_loss.enable(model, 4, 128, 100) == 6 and "forward" in vars(model)
