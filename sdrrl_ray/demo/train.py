"""Training set, model and training loop of the demo LM (plain PyTorch, CPU, seeded).

The examples are chat-formatted question/answer pairs where the answer is in the question's
language (en, ja, th). The mix is English-heavy, like the pretraining of the LLMs SDRRL starts
from: all of the English instruction data (facts, small tasks, reading comprehension) and English
sentence completion; for Japanese and Thai only the Q/A pairs of a few topics
(:func:`sdrrl_ray.demo.datagen.target_qa_items`: no reading comprehension) and completion of a
third of the parallel sentences, so that the model knows their scripts and words but is weak in
them. The loss covers the answer tokens (and the end-of-turn token) only.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from typing import Callable, Collection, NamedTuple, Optional

import torch

from sdrrl_ray import languages
from sdrrl_ray.demo import assets
from sdrrl_ray.demo.hparams import Hyperparameters
from sdrrl_ray.ingest import records
from sdrrl_ray.prompts import render_example


class Example(NamedTuple):
    lang: str
    question: str
    answer: str


TARGET_COMPLETION_EVERY = 3  # Japanese / Thai completion uses every 3rd parallel sentence


def qa_examples(exclude: Collection[str] = ()) -> list[Example]:
    """Q/A pairs: every English instruction, and ja / th versions of the few target topics; English
    questions in ``exclude`` are left out in every language."""
    from sdrrl_ray.demo import datagen

    out = []
    for rec in assets.read_instructions():
        question, answer = records.alpaca(rec)
        if question not in exclude:
            out.append(Example("en", question, answer))
    for qa in datagen.target_qa_items():
        if qa.en_q not in exclude:
            out += [Example("ja", qa.ja_q, qa.ja_a), Example("th", qa.th_q, qa.th_a)]
    return out


_KANA = re.compile(r"[\u3040-\u30ff]")
COMPLETE_PROMPT = {
    "en": "Complete the sentence: {}",
    "ja": "次の文を完成させてください：{}",
    "th": "เติมประโยคต่อไปนี้ให้สมบูรณ์: {}",
}


def _prefix(sentence: str, spaces: bool) -> str:
    """About the first half of ``sentence``: whole words, or whole characters without a split mark."""
    if spaces:
        words = sentence.split()
        return " ".join(words[: max(1, len(words) // 2)])
    cut = max(1, len(sentence) // 2)
    while cut < len(sentence) and unicodedata.category(sentence[cut]) == "Mn":  # Thai vowel/tone marks
        cut += 1
    return sentence[:cut]


def _sentences() -> dict[str, list[str]]:
    """Per language: the English parallel sentences, every 3rd ja / th one, and the corpus lines in ja / th."""
    out: dict[str, list[str]] = {"en": [], "ja": [], "th": []}
    for lang in ("ja", "th"):
        for k, (en, tgt) in enumerate(assets.read_parallel(lang)):
            if k % TARGET_COMPLETION_EVERY == 0:
                out[lang].append(tgt)
            if lang == "ja":
                out["en"].append(en)
    with open(assets.corpus_path(), encoding="utf-8") as f:
        for line in (line.strip() for line in f):
            if _KANA.search(line):  # Japanese; the Chinese lines have no kana
                out["ja"].append(line)
            elif languages.script_share(line, "Thai") > 0.5:
                out["th"].append(line)
    return out


def completion_examples() -> list[Example]:
    """Sentence completion in en, ja and th: (half a sentence, with or without an instruction) -> the sentence.

    They show the model far more varied text per language than the Q/A templates alone.
    """
    out = []
    for lang, sentences in _sentences().items():
        for i, sentence in enumerate(sentences):
            prefix = _prefix(sentence, spaces=lang == "en")
            question = COMPLETE_PROMPT[lang].format(prefix) if i % 2 == 0 else prefix
            out.append(Example(lang, question, sentence))
    return out


def make_model(tokenizer, hp: Hyperparameters):
    """A freshly initialised (seeded) Llama sized for ``tokenizer``."""
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hp.hidden_size,
        intermediate_size=hp.intermediate_size,
        num_hidden_layers=hp.num_layers,
        num_attention_heads=hp.num_heads,
        num_key_value_heads=hp.num_kv_heads,
        head_dim=hp.hidden_size // hp.num_heads,
        max_position_embeddings=hp.max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(hp.seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return model


def _encode(tokenizer, ex: Example, max_len: int) -> tuple[list[int], list[int]]:
    prompt, completion = render_example(tokenizer, ex.question, ex.answer)
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    c = tokenizer(completion, add_special_tokens=False)["input_ids"]
    ids = (p + c)[:max_len]
    labels = ([-100] * len(p) + c)[:max_len]
    return ids, labels


def _collate(rows: list[tuple[list[int], list[int]]], pad_id: int) -> dict:
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row_ids, row_labels) in enumerate(rows):
        ids[i, : len(row_ids)] = torch.tensor(row_ids)
        labels[i, : len(row_labels)] = torch.tensor(row_labels)
        mask[i, : len(row_ids)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _answer_loss(model, batch: dict) -> torch.Tensor:
    """Next-token cross-entropy on the answer positions only.

    The output projection runs on those positions alone: with a 4k vocabulary and hidden size 128
    it is the largest matrix, so this roughly halves the step time.
    """
    hidden = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    targets = batch["labels"][:, 1:]
    keep = targets != -100
    logits = model.lm_head(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits, targets[keep])


def _length_batches(encoded: list, size: int, rng: random.Random) -> list[list[int]]:
    """One epoch of batches in a seeded random order, each of examples of similar length (they are
    shuffled, cut into pools of 4 batches, and each pool sorted by length): less padding, while each
    batch still mixes kinds of examples."""
    order = list(range(len(encoded)))
    rng.shuffle(order)
    pool = 4 * size
    out = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: len(encoded[i][0]))
        out += [chunk[k:k + size] for k in range(0, len(chunk), size)]
    rng.shuffle(out)
    return out


def train(
    model,
    tokenizer,
    examples: list[Example],
    hp: Hyperparameters,
    log: Optional[Callable[[int, float], None]] = None,
) -> float:
    """Train ``model`` in place for ``hp.steps`` steps; return the mean loss of the last 50 steps.

    Batches are drawn epoch by epoch from a seeded shuffle, grouped by length; the learning rate warms up linearly,
    then follows a cosine down to a tenth of ``hp.lr``.
    """
    encoded = [_encode(tokenizer, ex, hp.max_positions) for ex in examples]
    rng = random.Random(hp.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=hp.lr, betas=(0.9, 0.95), weight_decay=hp.weight_decay)

    def lr_factor(step: int) -> float:
        warm = min(1.0, (step + 1) / hp.warmup_steps)
        return warm * (0.1 + 0.45 * (1 + math.cos(math.pi * step / hp.steps)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    model.train()
    batches: list[list[int]] = []
    recent: list[float] = []
    for step in range(hp.steps):
        if not batches:
            batches = _length_batches(encoded, hp.batch_size, rng)
        batch = _collate([encoded[i] for i in batches.pop()], tokenizer.pad_token_id)
        loss = _answer_loss(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        recent = (recent + [loss.item()])[-50:]
        if log is not None and (step % 100 == 0 or step == hp.steps - 1):
            log(step, loss.item())
    model.eval()
    return sum(recent) / len(recent)
