"""Arrow types of the columns that flow between stages, and the batch -> Arrow conversion.

Stages work on dict-of-numpy batches and hand back :func:`to_arrow` tables, so a column that is
null in one batch (``reason`` on kept rows) keeps its type instead of Ray falling back to pickled
Python objects.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

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
    "question_lang": pa.string(),
    "answer_lang": pa.string(),
    "subset": pa.string(),
    "generated_answer": pa.string(),
    "gen_output_tokens": pa.int64(),
    "gen_finish_reason": pa.string(),
    "gen_cached": pa.bool_(),
    "n_switched": pa.int64(),
    # translate (sdrrl_ray/translate/stage.py) and filter (sdrrl_ray/filters/stage.py)
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
}


def _is_nan(value) -> bool:
    return isinstance(value, (float, np.floating)) and value != value


def to_arrow(batch: dict) -> pa.Table:
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
