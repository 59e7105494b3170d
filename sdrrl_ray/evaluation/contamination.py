"""Contamination check: evaluation items whose text overlaps the training data.

Training texts: the transfer set (its committed parts, columns ``question`` and ``answer``, every
subset and language) and its source instructions (``data.path``: questions and gold answers).

Evaluation texts per item: what the model reads and what it is scored against (BELEBELE passage and
question, FLORES source and reference, XL-SUM article and summary, MKQA question, NER sentence,
off-target instruction and input, alignment sentences). MKQA answers are short entities (a name, a
year, "an orange pencil"): a training text equal to one (a model's answer to another question) does not
reveal the item, so they are not checked.

Both sides are tokenized with :func:`.metrics.text.tokenize` (words; characters for unspaced
scripts). An item is flagged

- ``exact`` when one of its texts equals a training text after that normalization, or
- ``ngram`` when they share an n-gram: ``eval.contamination_ngram`` (13) words, as GPT-3 and
  lm-eval-harness decontamination, or ``eval.contamination_char_ngram`` (25) characters for texts
  mostly in unspaced scripts.

Texts shorter than the n-gram length are checked for exact matches only. The eval side is indexed
(it is small) and the training texts are streamed past it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Iterable, Iterator, Optional

from sdrrl_ray.evaluation.metrics.text import mostly_unspaced, tokenize
from sdrrl_ray.layout.parts import iter_batches
from sdrrl_ray.layout.paths import TRANSFER_SET, Out

log = logging.getLogger(__name__)


def item_texts(task: str, item: dict) -> list[str]:
    """The texts of one evaluation item that training data must not contain."""
    if task == "belebele":
        f = item["fields"]
        return [f.get("flores_passage", ""), f.get("question", "")]
    if task == "flores":
        return [item["source"], item["reference"]]
    if task == "xlsum":
        return [item["text"], item["summary"]]
    if task == "mkqa":
        return [item["question"]]
    if task == "ner":
        return [item["sentence"]]
    if task == "offtarget":
        return [item["instruction"], item.get("input", "")]
    if task == "alignment":
        return [item["x"], item["en"]]
    return []


def _grams(tokens: list[str], n: int) -> Iterator[int]:
    for i in range(len(tokens) - n + 1):
        yield hash(tuple(tokens[i:i + n]))


class ContaminationIndex:
    def __init__(self, ngram: int = 13, char_ngram: int = 25):
        self.ngram = ngram
        self.char_ngram = char_ngram
        self.exact: dict[tuple, set] = defaultdict(set)
        self.grams: dict[int, set] = defaultdict(set)  # n-gram hash -> item keys
        self.n_items = 0

    def _n(self, tokens: list[str]) -> int:
        return self.char_ngram if mostly_unspaced(tokens) else self.ngram

    def add(self, key: tuple, texts: Iterable[str]) -> None:
        self.n_items += 1
        for text in texts:
            tokens = tokenize(text)
            if not tokens:
                continue
            self.exact[tuple(tokens)].add(key)
            n = self._n(tokens)
            for g in _grams(tokens, n):
                self.grams[g].add(key)

    def check(self, text: str) -> tuple[set, set]:
        """(keys matched exactly, keys sharing an n-gram) for one training text."""
        tokens = tokenize(text)
        if not tokens:
            return set(), set()
        exact = set(self.exact.get(tuple(tokens), ()))
        hits: set = set()
        for n in {self.ngram, self.char_ngram}:
            for g in _grams(tokens, n):
                found = self.grams.get(g)
                if found:
                    hits |= found
        return exact, hits


def transfer_texts(out_dir: str) -> Iterator[str]:
    """question and answer of every committed row of ``OUT/transfer_set``."""
    for batch in iter_batches(out_dir, TRANSFER_SET, ["question", "answer"]):
        for col in batch.columns:
            for value in col.to_pylist():
                if value:
                    yield value


def source_texts(cfg) -> Iterator[str]:
    """Questions and gold answers of the instruction file (``data.path``), when it is readable."""
    if not cfg.data.path:
        return
    from sdrrl_ray.ingest.files import iter_rows, list_inputs

    for row in iter_rows(list_inputs(cfg.data), cfg.data):
        for key in ("question", "gold_answer"):
            if row.get(key):
                yield row[key]


def check(cfg, items_by_unit: dict, out_dir: Optional[str] = None) -> dict:
    """Flag items of ``items_by_unit`` ((task, unit name) -> items); returns the report section."""
    e = cfg.eval
    index = ContaminationIndex(e.contamination_ngram, e.contamination_char_ngram)
    for (task, unit), items in items_by_unit.items():
        for item in items:
            index.add((task, unit, item["item_id"]), item_texts(task, item))
    flags: dict[tuple, dict] = {}
    sources = {"transfer_set": 0, "instructions": 0}
    notes = []

    def scan(name: str, texts: Iterable[str]) -> None:
        for text in texts:
            sources[name] += 1
            exact, grams = index.check(text)
            for key in exact | grams:
                entry = flags.setdefault(key, {"exact": False, "ngram": False, "sources": set()})
                entry["exact"] |= key in exact
                entry["ngram"] |= key in grams
                entry["sources"].add(name)

    scan("transfer_set", transfer_texts(out_dir or cfg.out_dir))
    try:
        scan("instructions", source_texts(cfg))
    except Exception as exc:  # noqa: BLE001 - an unreadable instruction file must not stop the report
        notes.append(f"instructions ({cfg.data.path}) not checked: {exc}")
    if not sources["transfer_set"]:
        notes.append(f"no transfer set under {Out(out_dir or cfg.out_dir).transfer_set}")
    by_unit: dict = defaultdict(lambda: {"flagged": 0, "exact": 0, "ngram": 0, "items": []})
    for (task, unit, item_id), entry in sorted(flags.items()):
        u = by_unit[f"{task}/{unit}"]
        u["flagged"] += 1
        u["exact"] += entry["exact"]
        u["ngram"] += entry["ngram"]
        u["items"].append({"item_id": item_id, "exact": entry["exact"], "ngram": entry["ngram"],
                           "sources": sorted(entry["sources"])})
    totals = {f"{t}/{u}": len(items) for (t, u), items in items_by_unit.items()}
    for key, u in by_unit.items():
        u["of"] = totals.get(key, 0)
    return {
        "method": {"ngram": e.contamination_ngram, "char_ngram": e.contamination_char_ngram,
                   "tokenizer": "words; characters for unspaced scripts"},
        "texts_scanned": sources,
        "eval_items": index.n_items,
        "flagged": sum(u["flagged"] for u in by_unit.values()),
        "by_unit": dict(by_unit),
        "notes": notes,
    }
