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
