"""Parallel-corpus tasks (paper-spec 2.7): :func:`make_tasks` turns sentence pairs
(:mod:`.corpus`) into rows with the same columns as the four variants, using the paper's Table 1
templates::

    Translate the following sentence from English to Japanese.\\n<source sentence>   -> <target sentence>
    Translate the following sentence from Japanese to English.\\n<target sentence>   -> <source sentence>
    Complete the following sentence in Japanese according to its context.\\n<prefix> -> <whole sentence>
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Iterable, Optional, Sequence

from sdrrl_ray import languages as langs
from sdrrl_ray.codeswitch.lexicon import Lexicon
from sdrrl_ray.codeswitch.words import segment
from sdrrl_ray.parallel.corpus import Pair
from sdrrl_ray.schema import COMP, MT, PARALLEL_TASKS
from sdrrl_ray.seeding import row_rng

__all__ = ["make_tasks", "count_tasks", "split_points", "TEMPLATES", "TASKS"]

TEMPLATES = {
    MT: "Translate the following sentence from {from_name} to {to_name}.\n{sentence}",
    COMP: "Complete the following sentence in {name} according to its context.\n{prefix}",
}
TASKS = PARALLEL_TASKS


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
    """Rows for the ``mt`` (both directions) and ``comp`` subsets, columns as :mod:`sdrrl_ray.stages.variants`.

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
        if MT in tasks:
            for a, b, a_name, b_name, text, answer in (
                (src_iso, tgt_iso, src_name, tgt_name, pair.src, pair.tgt),
                (tgt_iso, src_iso, tgt_name, src_name, pair.tgt, pair.src),
            ):
                question = TEMPLATES[MT].format(from_name=a_name, to_name=b_name, sentence=text)
                rows.append(_row(f"{item}:{MT}-{a}-{b}", MT, a, b, question, answer, base))
        if COMP in tasks:
            cuts = split_points(pair.tgt, spaced=spaced, lexicon=lexicon)
            if cuts:
                cut = row_rng(seed, item, "comp_split").choice(cuts)
                question = TEMPLATES[COMP].format(name=tgt_name, prefix=pair.tgt[:cut])
                rows.append(_row(f"{item}:{COMP}", COMP, tgt_iso, tgt_iso, question, pair.tgt, base))
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
    if COMP in tasks:
        out["comp_too_short"] = n_pairs - counts.get(COMP, 0)
    return out
