"""Entity-level NER scores with seqeval (IOB2 tags, the WikiANN / PAN-X scheme).

seqeval's default mode follows conlleval: an entity counts when its type and its exact span match.
"""

from __future__ import annotations


def entity_scores(gold: list[list[str]], pred: list[list[str]]) -> dict:
    """{"f1", "precision", "recall"} in [0, 1] over all sentences (micro average over entities)."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    if len(gold) != len(pred) or any(len(g) != len(p) for g, p in zip(gold, pred)):
        raise ValueError("[Internal] gold and predicted tag sequences differ in shape")
    if not gold:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    return {
        "f1": float(f1_score(gold, pred, zero_division=0)),
        "precision": float(precision_score(gold, pred, zero_division=0)),
        "recall": float(recall_score(gold, pred, zero_division=0)),
    }


def spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, start, end) of the entities of one IOB2 sequence (end exclusive); seqeval's reading."""
    from seqeval.metrics.sequence_labeling import get_entities

    return [(t, s, e + 1) for t, s, e in get_entities(list(tags))]


def entity_counts(gold: list[str], pred: list[str]) -> tuple[int, int, int]:
    """(correct, predicted, gold) entities of one sentence: summed over sentences, :func:`from_counts` gives
    :func:`entity_scores` (seqeval's micro average counts the same entities)."""
    g, p = set(spans(gold)), set(spans(pred))
    return len(g & p), len(p), len(g)


def from_counts(counts) -> dict:
    """{"f1", "precision", "recall"} in [0, 1] from summed (correct, predicted, gold) counts (0 when undefined)."""
    c, p, g = (float(x) for x in counts)
    precision, recall = (c / p if p else 0.0), (c / g if g else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall}
