"""Token counts with the model's real tokenizer: the instruction set, per-language ratios, code-switching,
parallel-task rows and the prompt template's overhead.

A target language's token count is estimated from the English one times a ratio measured with the same
tokenizer on parallel text (the same meanings in both languages): byte-level or byte-fallback
tokenizers that lack a script's characters inflate Thai and Khmer several times, so the ratio is
measured, never assumed.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import yaml

from sdrrl_ray.config import Config
from sdrrl_ray.errors import UserError

SAMPLES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "samples.yaml")
MAX_RATIO_PAIRS = 1000  # parallel pairs read to measure a ratio
CODESWITCH_SAMPLE = 2000  # questions code-switched to measure its token effect


def load_tokenizer(path: str, what: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path)
    except Exception as exc:  # noqa: BLE001 - any loader failure is the user's path/model
        raise UserError(f"{what}={path}: cannot load its tokenizer "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                        "point it at a local model folder, or pass tokenizer=FOLDER") from None


def count(tok: Any, texts: Sequence[str], chunk: int = 1024) -> np.ndarray:
    """Tokens of each text, without special tokens."""
    out = np.zeros(len(texts), dtype=np.int64)
    for start in range(0, len(texts), chunk):
        part = [t or "" for t in texts[start:start + chunk]]
        ids = tok(part, add_special_tokens=False)["input_ids"]
        out[start:start + len(part)] = [len(x) for x in ids]
    return out


# --------------------------------------------------------------------------------------------
# the instruction set


@dataclass
class Items:
    """The ``ok`` input records with their English token counts and the answer drawn for each."""

    item_ids: list
    questions: list
    answers: list  # gold answers
    q_tokens: np.ndarray
    a_tokens: np.ndarray
    self_answer: np.ndarray  # bool: the transfer set uses the model's own answer
    needs_generation: np.ndarray  # bool: the generation stage answers it
    n_records: int = 0
    reject_reasons: Counter = field(default_factory=Counter)

    @property
    def n(self) -> int:
        return len(self.item_ids)


def read_items(cfg: Config, tok: Any) -> Items:
    """Every record of ``data.path`` (``data.limit`` honoured) through the project's ingest and answer choice."""
    from sdrrl_ray.ingest.files import iter_rows, list_inputs
    from sdrrl_ray.stages.answer_choice import choose_answers

    ids, questions, answers, reasons, n = [], [], [], Counter(), 0
    for row in iter_rows(list_inputs(cfg.data), cfg.data):
        n += 1
        if row["status"] != "ok":
            reasons[row["reason"]] += 1
            continue
        ids.append(row["item_id"])
        questions.append(row["question"])
        answers.append(row["gold_answer"])
    if not ids:
        raise UserError(f"data.path={cfg.data.path}: no usable record ({n} read, rejects: {dict(reasons)})")
    chosen = choose_answers({"item_id": np.array(ids, dtype=object),
                             "status": np.array(["ok"] * len(ids), dtype=object)},
                            mode=cfg.answer.mode, p_self=cfg.answer.p_self, seed=cfg.seed,
                            generate_all=cfg.generate.generate_all)
    return Items(item_ids=ids, questions=questions, answers=answers, q_tokens=count(tok, questions),
                 a_tokens=count(tok, answers), self_answer=chosen["answer_source"] == "self",
                 needs_generation=np.asarray(chosen["needs_generation"], dtype=bool), n_records=n,
                 reject_reasons=reasons)


# --------------------------------------------------------------------------------------------
# target / source ratios


@dataclass(frozen=True)
class Ratio:
    lang: str
    value: float  # target tokens / source tokens for the same meanings
    source: str  # which parallel text gave it
    pairs: int
    src_tokens: int
    tgt_tokens: int


def builtin_sample(src: str, tgt: str) -> list[tuple[str, str]]:
    with open(SAMPLES_FILE, encoding="utf-8") as fh:
        sentences = yaml.safe_load(fh)["sentences"]
    if src not in sentences or tgt not in sentences:
        return []
    return list(zip(sentences[src], sentences[tgt]))


def parallel_sample(cfg: Config, tgt: str) -> tuple[list[tuple[str, str]], str]:
    """(pairs, where they came from): the config's corpus, else the demo data, else the built-in sample."""
    from sdrrl_ray.assets import demo_parallel_path
    from sdrrl_ray.parallel.corpus import read_parallel

    src = cfg.languages.source
    path = cfg.parallel.paths.get(tgt)
    if path and os.path.isfile(path):
        corpus = read_parallel(path, src_iso=src, tgt_iso=tgt, n_pairs=MAX_RATIO_PAIRS, seed=cfg.seed)
        return [(p.src, p.tgt) for p in corpus.pairs], f"config corpus {path}"
    demo = demo_parallel_path(tgt)
    if src == "en" and os.path.isfile(demo):
        corpus = read_parallel(demo, src_iso=src, tgt_iso=tgt, n_pairs=MAX_RATIO_PAIRS, seed=cfg.seed)
        note = f" (parallel.paths.{tgt} {path} is missing)" if path else ""
        return [(p.src, p.tgt) for p in corpus.pairs], f"demo data {demo}{note}"
    pairs = builtin_sample(src, tgt)
    if not pairs:
        raise UserError(f"no parallel text for {src}-{tgt} to measure its token ratio; set parallel.paths.{tgt}")
    note = f" (parallel.paths.{tgt} {path} is missing)" if path else ""
    return pairs, f"built-in sample {SAMPLES_FILE} ({len(pairs)} sentences){note}"


def token_ratio(tok: Any, pairs: Sequence[tuple[str, str]], lang: str = "", source: str = "") -> Ratio:
    src = int(count(tok, [p[0] for p in pairs]).sum())
    tgt = int(count(tok, [p[1] for p in pairs]).sum())
    if src == 0:
        raise UserError(f"the parallel text for {lang} ({source}) has no source-language tokens")
    return Ratio(lang=lang, value=tgt / src, source=source, pairs=len(pairs), src_tokens=src, tgt_tokens=tgt)


# --------------------------------------------------------------------------------------------
# code-switching


@dataclass(frozen=True)
class Switch:
    factor: float  # tokens after / tokens before, over the questions it was tried on
    switched_per_question: float
    dictionary: str  # the lexicon's name or "none"


def codeswitch_effect(tok: Any, texts: Sequence[str], lexicon: Any, *, lang: str, p: float, seed: int,
                      ids: Sequence[str]) -> Switch:
    """Code-switch ``texts`` for real (the project's code, per-row seeds) and compare token counts."""
    import random

    from sdrrl_ray import languages as langs
    from sdrrl_ray.codeswitch.switch import code_switch_text
    from sdrrl_ray.seeding import row_rng

    if lexicon is None or not texts:
        return Switch(1.0, 0.0, "none")
    out, switched = [], 0
    spaced = langs.get(lang).spaces
    for text, row_id in zip(texts, ids):
        rng = row_rng(seed, str(row_id), "code_switch") if row_id is not None else random.Random(0)
        new, k, _, _ = code_switch_text(text, lexicon, p=p, rng=rng, spaced=spaced)
        out.append(new)
        switched += k
    before = int(count(tok, list(texts)).sum())
    after = int(count(tok, out).sum())
    return Switch(after / before if before else 1.0, switched / len(texts), lexicon.name or "dictionary")


# --------------------------------------------------------------------------------------------
# rows as the trainer tokenizes them


def template_overhead(tok: Any, questions: Sequence[str], answers: Sequence[str],
                      system_prompt: Optional[str]) -> float:
    """Mean tokens a training row adds beyond its question and answer (chat template or Question:/Answer:)."""
    from sdrrl_ray.stages.tokenize import encode_example

    n = min(64, len(questions))
    full = [encode_example(tok, q, a, 10**9, system_prompt)["n_tokens"] for q, a in zip(questions[:n], answers[:n])]
    bare = count(tok, list(questions[:n])) + count(tok, list(answers[:n]))
    return max(0.0, float(np.mean(np.asarray(full) - bare))) if n else 0.0


def row_tokens(tok: Any, rows: Sequence[dict], max_length: int, system_prompt: Optional[str]) -> np.ndarray:
    """Training tokens of each row (prompt + answer, cut at ``max_length``; 0 for a row the trainer rejects)."""
    from sdrrl_ray.stages.tokenize import encode_example

    return np.array([encode_example(tok, r["question"], r["answer"], max_length, system_prompt)["n_tokens"]
                     for r in rows],
                    dtype=np.int64)


def parallel_rows(cfg: Config, tgt: str) -> tuple[list[dict], str]:
    """The ``mt``/``comp`` rows the pipeline would add for ``tgt`` (built by the project's own code)."""
    from sdrrl_ray.parallel.corpus import read_parallel
    from sdrrl_ray.parallel.tasks import make_tasks

    p = cfg.parallel
    tasks = [t for t in p.tasks if t in cfg.transfer.subsets]
    path = p.paths.get(tgt)
    if not p.enabled or not tasks:
        return [], "parallel tasks off"
    if not path:
        return [], f"no parallel.paths.{tgt}: no mt/comp rows"
    if not os.path.isfile(path):
        return [], f"parallel.paths.{tgt}={path} is missing here: no mt/comp rows counted"
    corpus = read_parallel(path, src_iso=cfg.languages.source, tgt_iso=tgt, n_pairs=p.n_pairs, seed=cfg.seed)
    rows = make_tasks(corpus.pairs, src_iso=cfg.languages.source, tgt_iso=tgt, seed=cfg.seed, tasks=tasks)
    return rows, f"{len(corpus.pairs)} pairs of {path}"


# --------------------------------------------------------------------------------------------
# model size


def count_params(path: Optional[str], name: str) -> tuple[Optional[float], str]:
    """(parameters, how they were found): safetensors headers, else config.json on the meta device,
    else the size written in the model's name (``Llama-2-7b`` -> 7e9). No weights are loaded."""
    if path and os.path.isdir(path):
        n = _safetensors_params(path)
        if n:
            return float(n), f"safetensors headers in {path}"
        if os.path.isfile(os.path.join(path, "config.json")):
            n = _meta_params(path)
            if n:
                return float(n), f"{path}/config.json (meta-device model)"
    n = params_from_name(name)
    if n:
        return n, f"the size in the model's name {os.path.basename(name.rstrip('/'))!r}"
    return None, "unknown"


def params_from_name(name: str) -> Optional[float]:
    m = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([mMbB])(?![a-zA-Z])", os.path.basename(str(name).rstrip("/")))
    if not m:
        return None
    return float(m.group(1)) * (1e9 if m.group(2).lower() == "b" else 1e6)


def _safetensors_params(path: str) -> int:
    import json
    import struct

    total = 0
    for name in sorted(os.listdir(path)):
        if not name.endswith(".safetensors"):
            continue
        with open(os.path.join(path, name), "rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(size))
        for key, meta in header.items():
            if key != "__metadata__":
                total += int(np.prod(meta["shape"])) if meta["shape"] else 1
    return total


def _meta_params(path: str) -> int:
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

        config = AutoConfig.from_pretrained(path)
        loader = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
        with torch.device("meta"):
            model = loader.from_config(config)
        return sum(p.numel() for p in model.parameters())
    except Exception:  # noqa: BLE001 - an unknown architecture: fall back to the name
        return 0
