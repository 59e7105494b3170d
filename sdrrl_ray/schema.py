"""The row schema: every column that flows between stages with its Arrow type, the subset names,
the kept / reject / ingest schemas, and the column contract each Ray Data step declares.

Stages work on dict-of-numpy batches and hand back :func:`to_arrow` tables, so a column that is
null in one batch (``reason`` on kept rows) keeps its type instead of Ray falling back to pickled
Python objects. Each stage module declares a :class:`StageColumns`; :func:`check_plan_columns`
runs over a plan's steps when the plan is built and fails naming the first stage that needs a
column no earlier stage produces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence, Union

import numpy as np
import pyarrow as pa

# ---------------------------------------------------------------------------------------------
# subsets

# the four (question, answer) language pairs of an (item, target): L = source language, T = target
LL, TL, LT, TT = VARIANTS = ("LL", "TL", "LT", "TT")
# parallel-corpus tasks: translation instructions (both directions) and sentence completion
MT, COMP = PARALLEL_TASKS = ("mt", "comp")
SUBSETS = VARIANTS + PARALLEL_TASKS
TRANSLATED_VARIANTS = (TL, LT, TT)  # the variants that need a translation

# ---------------------------------------------------------------------------------------------
# columns

TYPES: dict[str, pa.DataType] = {
    "id": pa.string(),
    "item_id": pa.string(),
    "record": pa.int64(),
    "source_file": pa.string(),
    "line": pa.int64(),
    "question": pa.string(),
    "gold_answer": pa.string(),
    "answer": pa.string(),
    "status": pa.string(),
    "stage": pa.string(),
    "reason": pa.string(),
    "detail": pa.string(),
    "answer_source": pa.string(),
    "needs_generation": pa.bool_(),
    "src_lang": pa.string(),
    "tgt_lang": pa.string(),
    "done_targets": pa.string(),
    "question_lang": pa.string(),
    "answer_lang": pa.string(),
    "subset": pa.string(),
    "part": pa.string(),
    "generated_answer": pa.string(),
    "gen_output_tokens": pa.int64(),
    "gen_finish_reason": pa.string(),
    "gen_cached": pa.bool_(),
    "n_switched": pa.int64(),
    "question_src": pa.string(),
    "answer_src": pa.string(),
    "question_tgt": pa.string(),
    "answer_tgt": pa.string(),
    "translate_error": pa.string(),
    "question_ok": pa.bool_(),
    "answer_ok": pa.bool_(),
    "question_reason": pa.string(),
    "answer_reason": pa.string(),
    "question_detail": pa.string(),
    "answer_detail": pa.string(),
    "question_qe": pa.float64(),
    "answer_qe": pa.float64(),
    "switch_candidates": pa.int64(),
    "switch_dict": pa.string(),
    "pair_rows": pa.int64(),
}


def _schema(names: Sequence[str]) -> pa.Schema:
    return pa.schema([(n, TYPES[n]) for n in names])


# what ingest yields: one row per input record
INGEST_SCHEMA = _schema(["item_id", "record", "source_file", "line", "question", "gold_answer",
                         "status", "stage", "reason", "detail"])
# OUT/transfer_set/*.parquet
KEPT_SCHEMA = _schema(["id", "item_id", "subset", "src_lang", "tgt_lang", "question_lang", "answer_lang",
                       "answer_source", "question", "answer", "n_switched", "switch_candidates", "switch_dict",
                       "record", "gen_cached", "pair_rows"])
# what each subset is and what each kept column means (the dataset card, sdrrl_ray/transfer/card.py)
SUBSET_DOCS = {
    LL: "source-language question, source-language answer (the distilled answer as given)",
    TL: "question translated into the target language, source-language answer",
    LT: "source-language question, answer translated into the target language",
    TT: "question and answer both translated into the target language",
    MT: "parallel corpus: translate a sentence, source to target and target to source",
    COMP: "parallel corpus: complete a target-language sentence from its cut-off beginning",
}
KEPT_COLUMN_DOCS = {
    "id": "unique, stable row id: {item_id}:{target}:{subset}; parallel rows {item_id}:mt-{from}-{to}, {item_id}:comp",
    "item_id": "the instruction item the row comes from (par:{target}:{pair} for parallel-corpus rows)",
    "subset": "LL, TL, LT, TT (question/answer language pair; L = source, T = target), mt or comp",
    "src_lang": "the resource-rich source language (ISO 639-1)",
    "tgt_lang": "the target language this row trains (ISO 639-1)",
    "question_lang": "language of the question",
    "answer_lang": "language of the answer",
    "answer_source": "gold (the instruction set's answer), self (the model's own answer) or parallel",
    "question": "the prompt (code-switched words included)",
    "answer": "the response trained on",
    "n_switched": "words of the question replaced by code-switching",
    "switch_candidates": "dictionary words found in the question (each replaced with probability p)",
    "switch_dict": "the code-switching dictionary used; 'none' when the direction has none, 'off' when not switched",
    "record": "the record's position in the instruction files (null for parallel rows)",
    "gen_cached": "the model's own answer was read from the saved generations",
    "pair_rows": "rows, kept and rejected, of the row's (item, target) set (resume bookkeeping)",
}
# OUT/rejects/*.parquet
REJECT_SCHEMA = _schema(["id", "item_id", "tgt_lang", "subset", "part", "record", "source_file", "line",
                         "stage", "reason", "detail", "question", "answer", "pair_rows"])
# pair_rows: how many rows (kept and rejected) the row's (item, target) writes in all; resume checks
# that every row of an (item, target) is committed (sdrrl_ray.layout.resume)


def _is_nan(value) -> bool:
    return isinstance(value, (float, np.floating)) and value != value


def to_arrow(batch: dict) -> pa.Table:
    """A dict-of-columns batch as an Arrow table, known columns cast to their :data:`TYPES`."""
    arrays, names = [], []
    for name, values in batch.items():
        if isinstance(values, (pa.Array, pa.ChunkedArray)):
            arr = values
        else:
            if isinstance(values, np.ndarray) and values.dtype != object:
                # from_pandas: NaN is null (Ray hands nullable int columns to numpy as float + NaN)
                arr = pa.array(values, from_pandas=True)
            else:
                try:
                    arr = pa.array(list(values), type=TYPES.get(name))
                except (pa.ArrowTypeError, pa.ArrowInvalid):
                    # NaN is how numpy batches spell a missing value in an otherwise-null column
                    arr = pa.array([None if _is_nan(v) else v for v in values], type=TYPES.get(name))
            if name in TYPES and arr.type != TYPES[name]:
                arr = arr.cast(TYPES[name])
        arrays.append(arr)
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


def with_columns(table: pa.Table, names: Iterable[str], transform: Callable[[dict], Mapping]) -> pa.Table:
    """``table`` with the columns ``transform`` returns set (replaced in place, else appended), where
    ``transform`` gets only the columns ``names`` (those ``table`` has) as Python lists. For stages that read a
    few columns of wide rows: the rest are never converted (``map_batches(batch_format="pyarrow")``)."""
    new = to_arrow(dict(transform({c: table.column(c).to_pylist() for c in names if c in table.column_names})))
    for name in new.column_names:
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, new.column(name)) if i >= 0 else table.append_column(name, new.column(name))
    return table


# ---------------------------------------------------------------------------------------------
# stage contracts

Names = Union[Mapping[str, str], Iterable[str]]


@dataclass(frozen=True)
class StageColumns:
    """What a step reads and adds. ``replaces``: the step's output rows carry exactly ``outputs``
    (a change of row shape); otherwise they carry their input columns minus ``removes``, plus
    ``outputs``. Mappings (column -> description) are accepted for documentation."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    removes: tuple[str, ...] = ()
    replaces: bool = False

    @classmethod
    def of(cls, name: str, inputs: Names, outputs: Names, *, removes: Names = (), replaces: bool = False):
        return cls(name, tuple(inputs), tuple(outputs), tuple(removes), replaces)

    def after(self, available: frozenset) -> frozenset:
        if self.replaces:
            return frozenset(self.outputs)
        return (available - set(self.removes)) | set(self.outputs)


class PlanColumnError(ValueError):
    """A plan whose stages do not line up: a stage reads a column that no earlier stage produces."""


def check_plan_columns(steps: Sequence[StageColumns], initial: Iterable[str] = ()) -> frozenset:
    """Walk ``steps`` in order from the ``initial`` columns; return the columns after the last one.

    Raises :class:`PlanColumnError` naming the first stage and the column it lacks."""
    available = frozenset(initial)
    for step in steps:
        missing = [c for c in step.inputs if c not in available]
        if missing:
            raise PlanColumnError(
                f"stage {step.name} needs column(s) {missing} that no earlier stage produces "
                f"(available: {sorted(available)})"
            )
        available = step.after(available)
    return available


def require_columns(batch: Mapping, columns: Names, stage: str) -> None:
    """At run time: fail naming the stage when a batch lacks a column it needs."""
    missing = [c for c in columns if c not in batch]
    if missing:
        raise ValueError(f"stage {stage} needs columns {missing} that the batch lacks; present: {sorted(batch)}")
