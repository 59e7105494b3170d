"""Code-switching stage (paper-spec 2.6): the question of every variant row, with the dictionary
of its direction; answers are never touched. A source-language question uses the src->tgt
dictionary, a translated (target-language) question the tgt->src one.

Randomness is per row, from ``seeding.row_rng(seed, row_id, "code_switch")``; results never depend on
how rows are batched. :class:`CodeSwitcher` is the callable class for an actor pool (it loads the
dictionaries once); :func:`code_switch` the batch transform it calls.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

import numpy as np
import pyarrow as pa

from sdrrl_ray import languages as langs
from sdrrl_ray.codeswitch.lexicon import Lexicon, dictionary_plan, load_lexicons
from sdrrl_ray.codeswitch.switch import code_switch_text
from sdrrl_ray.schema import VARIANTS, StageColumns, require_columns, with_columns
from sdrrl_ray.seeding import row_rng

INPUT_COLUMNS = {
    "id": "stable row id (seeds the row's randomness)",
    "question": "question text to code-switch",
    "question_lang": "ISO 639-1 language of the question",
    "src_lang": "source language of the pair",
    "tgt_lang": "target language of the pair",
}
OUTPUT_COLUMNS = {
    "question": "the question with dictionary words switched",
    "n_switched": "words replaced in this row",
    "switch_candidates": "dictionary words found in this row (each one replaced with probability p)",
    "switch_dict": "dictionary used (its name), 'none' when the direction has none, 'off' for rows not switched",
}
COLUMNS = StageColumns.of("code_switch", INPUT_COLUMNS, OUTPUT_COLUMNS)

# ``map_batches`` format for :class:`CodeSwitcher`: Arrow in and out, so the columns it does not read (most of a
# variant row) are never converted to and from numpy
BATCH_FORMAT = "pyarrow"

# Subsets whose questions are code-switched (paper: the four language combinations, not mt/comp).
SWITCHED_SUBSETS = VARIANTS


def _like(template: Any, values: list) -> Any:
    return np.asarray(values, dtype=object) if isinstance(template, np.ndarray) else values


def code_switch(
    batch: Mapping[str, Any],
    *,
    lexicons: Mapping[tuple[str, str], Optional[Lexicon]],
    p: float,
    seed: Any,
    subsets: Iterable[str] = SWITCHED_SUBSETS,
) -> dict:
    """The batch transform (Ray Data ``map_batches``): code-switch ``question`` of every row.

    ``lexicons`` maps ``(from_lang, to_lang)`` to a :class:`Lexicon` or None (see
    :func:`load_lexicons`). A row whose direction has no lexicon passes through with
    ``n_switched == 0`` and ``switch_dict == "none"``. When the batch has a ``subset`` column, rows
    outside ``subsets`` (the parallel-corpus ``mt``/``comp`` rows by default) pass through with
    ``switch_dict == "off"``. Row count, row order and every other column are kept; the columns of
    :data:`OUTPUT_COLUMNS` are set.
    """
    require_columns(batch, INPUT_COLUMNS, "code_switch")
    allowed = set(subsets)
    has_subset = "subset" in batch
    n = len(batch["question"])
    questions: list = []
    n_switched = np.zeros(n, dtype=np.int64)
    candidates = np.zeros(n, dtype=np.int64)
    used: list[str] = []
    for r in range(n):
        question = batch["question"][r]
        qlang, src, tgt = str(batch["question_lang"][r]), str(batch["src_lang"][r]), str(batch["tgt_lang"][r])
        if has_subset and str(batch["subset"][r]) not in allowed:
            questions.append(question)
            used.append("off")
            continue
        if qlang == src:
            key = (src, tgt)
        elif qlang == tgt:
            key = (tgt, src)
        else:
            raise ValueError(
                f"code_switch: row id={batch['id'][r]!r} has question_lang={qlang!r}, "
                f"neither its src_lang={src!r} nor its tgt_lang={tgt!r}"
            )
        lexicon = lexicons.get(key)
        if lexicon is None or question is None:
            questions.append(question)
            used.append("none" if lexicon is None else lexicon.name)
            continue
        rng = row_rng(seed, str(batch["id"][r]), "code_switch")
        new, k, c, _ = code_switch_text(str(question), lexicon, p=p, rng=rng, spaced=langs.get(qlang).spaces)
        questions.append(new)
        n_switched[r] = k
        candidates[r] = c
        used.append(lexicon.name)
    out = dict(batch)
    out["question"] = _like(batch["question"], questions)
    out["n_switched"] = n_switched
    out["switch_candidates"] = candidates
    out["switch_dict"] = _like(batch["question"], used)
    return out


class CodeSwitcher:
    """Callable-class form of :func:`code_switch` that loads its dictionaries once (Ray actor or closure).

    ``CodeSwitcher(cfg.code_switch.dictionaries, "en", ["ja"], p=0.15, seed=0)(batch)``.
    ``self.plan`` is :func:`dictionary_plan`'s answer for the manifest.
    """

    def __init__(self, folder: Optional[str], source: str, targets: Iterable[str], *, p: float, seed: Any,
                 max_ngram: Optional[int] = None, subsets: Iterable[str] = SWITCHED_SUBSETS):
        targets = list(targets)
        self.plan = dictionary_plan(folder, source, targets)
        self.lexicons = load_lexicons(folder, source, targets, max_words=max_ngram)
        self.p, self.seed, self.subsets = p, seed, tuple(subsets)

    def __call__(self, batch: Any) -> Any:
        """A dict of columns -> :func:`code_switch`'s dict; an Arrow table (``BATCH_FORMAT``) -> the same table
        with the output columns set, having read only the columns the stage needs into Python. (Never calls
        ``self(...)`` again: Ray Data runs ``__call__`` on one thread of its own and waits for it.)"""
        if isinstance(batch, pa.Table):
            return with_columns(batch, (*INPUT_COLUMNS, "subset"), self._output_columns)
        return self._switch(batch)

    def _switch(self, batch: Mapping[str, Any]) -> dict:
        return code_switch(batch, lexicons=self.lexicons, p=self.p, seed=self.seed, subsets=self.subsets)

    def _output_columns(self, batch: Mapping[str, Any]) -> dict:
        return {c: v for c, v in self._switch(batch).items() if c in OUTPUT_COLUMNS}
