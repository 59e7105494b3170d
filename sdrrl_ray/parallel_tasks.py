"""Parallel-corpus tasks: translation instructions both ways and sentence completion (paper-spec 2.7).

:func:`read_parallel` reads a sentence-pair file, :func:`make_tasks` turns the pairs into rows with
the same columns as the four variants (:mod:`sdrrl_ray.variants`), using the paper's Table 1
templates::

    Translate the following sentence from English to Japanese.\\n<source sentence>   -> <target sentence>
    Translate the following sentence from Japanese to English.\\n<target sentence>   -> <source sentence>
    Complete the following sentence in Japanese according to its context.\\n<prefix> -> <whole sentence>

Accepted files (``src``/``tgt`` are the requested languages' ISO 639-1 codes):

* TSV, 2 columns: ``src<TAB>tgt``;
* TSV, Tatoeba layout, 4 columns: ``src-code<TAB>tgt-code<TAB>src<TAB>tgt`` with ISO 639-3 codes
  (``eng jpn ...``; a script suffix such as ``jpn_Hira`` is allowed). The first pair's codes must
  be the requested pair (in either order: ``jpn eng`` columns are swapped), else the file is
  refused; a later line with other codes is a bad line;
* JSONL (``.jsonl``/``.json``): ``{"src": ..., "tgt": ...}``, ``{"<src_iso>": ..., "<tgt_iso>": ...}``
  or OPUS-100's Hugging Face form ``{"translation": {"<src_iso>": ..., "<tgt_iso>": ...}}``.

Bad lines are never dropped silently: each is listed with its line number and reason in
:attr:`ParallelCorpus.bad`. Blank lines are counted in :attr:`ParallelCorpus.n_blank`.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, NamedTuple, Optional, Sequence

from sdrrl_ray import languages as langs
from sdrrl_ray.codeswitch import Lexicon, segment
from sdrrl_ray.errors import UserError
from sdrrl_ray.seeding import row_rng

__all__ = ["Pair", "ParallelCorpus", "read_parallel", "make_tasks", "count_tasks", "split_points", "TEMPLATES"]

TEMPLATES = {
    "mt": "Translate the following sentence from {from_name} to {to_name}.\n{sentence}",
    "comp": "Complete the following sentence in {name} according to its context.\n{prefix}",
}
TASKS = ("mt", "comp")

# ISO 639-3 (and other) codes used by Tatoeba/OPUS beyond the NLLB code's prefix.
_EXTRA_CODES = {
    "zh": {"cmn", "zho", "chi", "yue"},
    "nb": {"nor", "nno"},
    "ms": {"msa", "may", "zlm"},
    "fr": {"fre"},
    "cs": {"cze"},
}


class Pair(NamedTuple):
    src: str
    tgt: str
    index: int  # line number in the file (1-based), so ids built from it trace back to the file


@dataclass
class ParallelCorpus:
    """What :func:`read_parallel` read: the (sampled) pairs and an account of every line."""

    path: str
    layout: str  # tsv2 | tatoeba | jsonl
    pairs: list[Pair]
    n_lines: int = 0  # lines in the file
    n_valid: int = 0  # good pairs before sampling
    n_blank: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    swapped: bool = False  # Tatoeba columns were tgt-src and were swapped


def _codes(iso: str) -> set[str]:
    codes = {iso}
    lang = langs.REGISTRY.get(iso)
    if lang is not None:
        codes.add(lang.nllb.split("_")[0])
    return codes | _EXTRA_CODES.get(iso, set())


def _code(field_: str) -> str:
    return field_.strip().split("_")[0].split("-")[0].lower()


def _read_jsonl(line: str, src_iso: str, tgt_iso: str) -> tuple[Optional[tuple], Optional[str]]:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"invalid_json ({exc.msg})"
    if not isinstance(rec, dict):
        return None, "not a JSON object"
    if isinstance(rec.get("translation"), dict):
        rec = rec["translation"]
    for a, b in (("src", "tgt"), (src_iso, tgt_iso)):
        if a in rec and b in rec:
            src, tgt = rec[a], rec[b]
            if not isinstance(src, str) or not isinstance(tgt, str):
                return None, f"fields {a!r}/{b!r} are not strings"
            return (src, tgt), None
    return None, f"needs keys src/tgt or {src_iso}/{tgt_iso} (has {sorted(rec)[:6]})"


def read_parallel(
    path: str | os.PathLike, *, src_iso: str, tgt_iso: str, n_pairs: Optional[int], seed: Any
) -> ParallelCorpus:
    """Read sentence pairs and sample ``n_pairs`` of them (seeded; file order kept) when there are more.

    ``n_pairs=None`` keeps all. Raises :class:`UserError` for a missing file, a Tatoeba file of
    another language pair, or a file without a single good pair.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"parallel corpus {path} does not exist; fix parallel.paths.{tgt_iso}")
    if n_pairs is not None and n_pairs <= 0:
        raise ValueError(f"read_parallel: n_pairs={n_pairs} must be positive (or None for all)")
    is_json = path.endswith((".jsonl", ".json"))
    layout = "jsonl" if is_json else ""
    src_codes, tgt_codes = _codes(src_iso), _codes(tgt_iso)
    corpus = ParallelCorpus(path=path, layout=layout, pairs=[])
    valid: list[Pair] = []
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for lineno, line in enumerate(fh, start=1):
                corpus.n_lines = lineno
                line = line.rstrip("\r\n")
                if not line.strip():
                    corpus.n_blank += 1
                    continue
                if corpus.layout == "jsonl":
                    pair, reason = _read_jsonl(line, src_iso, tgt_iso)
                else:
                    fields_ = line.split("\t")
                    if not corpus.layout:
                        if len(fields_) not in (2, 4):
                            raise UserError(
                                f"{path} line {lineno}: {len(fields_)} tab-separated columns; expected 2 "
                                f"(src<TAB>tgt) or 4 (Tatoeba: src-code<TAB>tgt-code<TAB>src<TAB>tgt)"
                            )
                        corpus.layout = "tsv2" if len(fields_) == 2 else "tatoeba"
                        if corpus.layout == "tatoeba":
                            a, b = _code(fields_[0]), _code(fields_[1])
                            if a in tgt_codes and b in src_codes:
                                corpus.swapped = True
                            elif not (a in src_codes and b in tgt_codes):
                                raise UserError(
                                    f"{path} line {lineno}: language codes {fields_[0]}-{fields_[1]} do not "
                                    f"match the requested pair {src_iso}-{tgt_iso} (expected one of "
                                    f"{sorted(src_codes)} and {sorted(tgt_codes)}); is this the right file?"
                                )
                    pair, reason = _read_tsv(fields_, corpus, src_codes, tgt_codes)
                if pair is not None:
                    src, tgt = pair[0].strip(), pair[1].strip()
                    if not src or not tgt:
                        pair, reason = None, "empty sentence"
                    else:
                        valid.append(Pair(src, tgt, lineno))
                if pair is None:
                    corpus.bad.append((lineno, reason))
    except UnicodeDecodeError as exc:
        raise UserError(f"parallel corpus {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    corpus.layout = corpus.layout or "tsv2"
    corpus.n_valid = len(valid)
    if not valid:
        first = f"; first bad line {corpus.bad[0][0]}: {corpus.bad[0][1]}" if corpus.bad else ""
        raise UserError(f"parallel corpus {path} has no usable {src_iso}-{tgt_iso} pair{first}")
    if n_pairs is not None and len(valid) > n_pairs:
        # seeded by the pair, not the path: a moved or renamed file gives the same sample
        rng = row_rng(seed, f"{src_iso}-{tgt_iso}", "parallel_sample")
        keep = sorted(rng.sample(range(len(valid)), n_pairs))
        valid = [valid[i] for i in keep]
    corpus.pairs = valid
    return corpus


def _read_tsv(fields_: list[str], corpus: ParallelCorpus, src_codes: set, tgt_codes: set):
    if corpus.layout == "tsv2":
        if len(fields_) != 2:
            return None, f"{len(fields_)} columns (expected 2)"
        return (fields_[0], fields_[1]), None
    if len(fields_) != 4:
        return None, f"{len(fields_)} columns (expected 4: src-code, tgt-code, src, tgt)"
    a, b = _code(fields_[0]), _code(fields_[1])
    if corpus.swapped:
        a, b = b, a
    if not (a in src_codes and b in tgt_codes):
        return None, f"language codes {fields_[0]}-{fields_[1]} are not the file's pair"
    return ((fields_[3], fields_[2]) if corpus.swapped else (fields_[2], fields_[3])), None


# --------------------------------------------------------------------------------------------
# completion split points

_WORD = re.compile(r"\w")


def split_points(sentence: str, *, spaced: bool, lexicon: Optional[Lexicon] = None) -> list[int]:
    """Positions where ``sentence`` may be cut for completion: word boundaries, never the ends.

    Spaced scripts: the end of every whitespace-separated word but the last. Unspaced scripts:
    every token boundary of the longest-match segmenter (dictionary words when ``lexicon`` holds
    the language's words, else character clusters, never inside a Latin word or before a
    combining mark). Both the prefix and the rest must contain a word character, so a cut never
    leaves only punctuation on either side.
    """
    if spaced:
        cuts = [m.end() for m in re.finditer(r"\S+", sentence)][:-1]
    else:
        cuts, pos = [], 0
        for surface, _ in segment(sentence, lexicon, spaced=False):
            pos += len(surface)
            cuts.append(pos)
        cuts = cuts[:-1]
    return [
        c for c in cuts if not sentence[c - 1].isspace() and _WORD.search(sentence[:c]) and _WORD.search(sentence[c:])
    ]


# --------------------------------------------------------------------------------------------
# task rows


def _pairs(pairs: Iterable) -> list[Pair]:
    out = []
    for i, p in enumerate(pairs):
        out.append(p if isinstance(p, Pair) else Pair(p[0], p[1], i))
    return out


def make_tasks(
    pairs: Iterable,
    *,
    src_iso: str,
    tgt_iso: str,
    seed: Any,
    tasks: Sequence[str] = TASKS,
    lexicon: Optional[Lexicon] = None,
) -> list[dict]:
    """Rows for the ``mt`` (both directions) and ``comp`` subsets, columns as :mod:`sdrrl_ray.variants`.

    ``pairs`` are :class:`Pair` s (their ``index`` names the rows) or ``(src, tgt)`` tuples (their
    position does). Per pair: ``mt`` src->tgt, ``mt`` tgt->src, ``comp`` on the target sentence,
    cut uniformly at one of :func:`split_points` (seeded per pair); a sentence with no split point
    gets no ``comp`` row (:func:`count_tasks` counts them). ``lexicon``: optional target-language
    dictionary that gives word boundaries to unspaced scripts.
    """
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise ValueError(f"make_tasks: unknown tasks {bad}; choose from {list(TASKS)}")
    src_name, tgt_name = langs.get(src_iso).name, langs.get(tgt_iso).name
    spaced = langs.get(tgt_iso).spaces
    rows: list[dict] = []
    for pair in _pairs(pairs):
        item = f"par:{tgt_iso}:{pair.index}"
        base = {"item_id": item, "src_lang": src_iso, "tgt_lang": tgt_iso, "answer_source": "parallel"}
        if "mt" in tasks:
            for a, b, a_name, b_name, text, answer in (
                (src_iso, tgt_iso, src_name, tgt_name, pair.src, pair.tgt),
                (tgt_iso, src_iso, tgt_name, src_name, pair.tgt, pair.src),
            ):
                question = TEMPLATES["mt"].format(from_name=a_name, to_name=b_name, sentence=text)
                rows.append(_row(f"{item}:mt-{a}-{b}", "mt", a, b, question, answer, base))
        if "comp" in tasks:
            cuts = split_points(pair.tgt, spaced=spaced, lexicon=lexicon)
            if cuts:
                cut = row_rng(seed, item, "comp_split").choice(cuts)
                question = TEMPLATES["comp"].format(name=tgt_name, prefix=pair.tgt[:cut])
                rows.append(_row(f"{item}:comp", "comp", tgt_iso, tgt_iso, question, pair.tgt, base))
    return rows


def _row(id_: str, subset: str, qlang: str, alang: str, question: str, answer: str, base: dict) -> dict:
    return {
        "id": id_,
        "item_id": base["item_id"],
        "subset": subset,
        "src_lang": base["src_lang"],
        "tgt_lang": base["tgt_lang"],
        "question_lang": qlang,
        "answer_lang": alang,
        "answer_source": base["answer_source"],
        "question": question,
        "answer": answer,
    }


def count_tasks(rows: Iterable[dict], *, n_pairs: int, tasks: Sequence[str] = TASKS) -> dict:
    """``{"mt": n, "comp": n, "comp_too_short": n}`` for :func:`make_tasks` rows built from ``n_pairs`` pairs."""
    counts = Counter(r["subset"] for r in rows)
    out = {t: counts.get(t, 0) for t in tasks}
    if "comp" in tasks:
        out["comp_too_short"] = n_pairs - counts.get("comp", 0)
    return out
