"""Answer choice: per item, the gold answer or the model's own (paper Eq. 4), drawn before generation.

The draw is a pure function of (seed, item_id), so it does not depend on batching or on whether
the model's answer exists yet; ``needs_generation`` tells the generation stage what to answer.
"""

from __future__ import annotations

import numpy as np

from sdrrl_ray.schema import StageColumns, to_arrow
from sdrrl_ray.seeding import row_uniform

INPUT_COLUMNS = {"item_id": "stable item id", "status": "ok | rejected"}
OUTPUT_COLUMNS = {
    "answer_source": "gold | self (null on rejected rows)",
    "needs_generation": "the generation stage answers this row",
}
COLUMNS = StageColumns.of("answer_choice", INPUT_COLUMNS, OUTPUT_COLUMNS)


def choose_answers(batch: dict, *, mode: str, p_self: float, seed: int, generate_all: bool = False) -> dict:
    """Add ``answer_source`` and ``needs_generation``.

    >>> b = {"item_id": np.array(["a", "b"], dtype=object), "status": np.array(["ok", "rejected"], dtype=object)}
    >>> choose_answers(b, mode="self", p_self=0.5, seed=0)["answer_source"].tolist()
    ['self', None]
    """
    sources, needs = [], []
    for item_id, status in zip(batch["item_id"], batch["status"]):
        if status != "ok":
            sources.append(None)
            needs.append(False)
            continue
        if mode == "gold":
            source = "gold"
        elif mode == "self":
            source = "self"
        else:
            source = "self" if row_uniform(seed, item_id, "answer") < p_self else "gold"
        sources.append(source)
        needs.append(generate_all or source == "self")
    batch["answer_source"] = np.array(sources, dtype=object)
    batch["needs_generation"] = np.array(needs, dtype=bool)
    return batch


def choose_answers_arrow(batch: dict, **kwargs):
    """:func:`choose_answers` for ``map_batches``: returns an Arrow table."""
    return to_arrow(choose_answers(batch, **kwargs))
