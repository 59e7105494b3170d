"""ROUGE-1 and ROUGE-L F1, implemented here (no rouge package) on :func:`.text.tokenize` tokens.

ROUGE-N: clipped n-gram overlap; precision = overlap / prediction n-grams, recall = overlap /
reference n-grams, F1 = 2PR / (P + R). ROUGE-L: the same with the length of the longest common
subsequence (one LCS over the whole text, as rouge_score's ``rougeL``; no sentence splitting).
An empty prediction or reference scores 0. No stemming and no stop-word removal, for every
language alike. On English text the tokens equal rouge_score's default tokenizer's for plain
ASCII words, so its documented example gives the same numbers (tests/unit/test_eval_metrics.py).

The XL-Sum authors used a multilingual fork of rouge_score with language-specific stemmers and
segmenters; the paper does not say which ROUGE it ran (paper-spec section 5: "ROUGE tokenisation for
non-Latin scripts" not reported). Characters as tokens for ja/th/zh/km make scores comparable
across runs of this project, not with numbers computed by another segmenter.
"""

from __future__ import annotations

from collections import Counter

from sdrrl_ray.evaluation.metrics.text import tokenize


def _f1(overlap: int, n_pred: int, n_ref: int) -> float:
    if overlap == 0 or n_pred == 0 or n_ref == 0:
        return 0.0
    p, r = overlap / n_pred, overlap / n_ref
    return 2 * p * r / (p + r)


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def rouge_n(pred: list[str], ref: list[str], n: int = 1) -> float:
    pc, rc = _ngrams(pred, n), _ngrams(ref, n)
    overlap = sum((pc & rc).values())
    return _f1(overlap, sum(pc.values()), sum(rc.values()))


def lcs_length(a: list[str], b: list[str]) -> int:
    if not a or not b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(pred: list[str], ref: list[str]) -> float:
    return _f1(lcs_length(pred, ref), len(pred), len(ref))


def rouge_scores(prediction: str, reference: str) -> dict:
    """{"rouge1": F1, "rougeL": F1} in [0, 1] for one prediction against one reference."""
    pred, ref = tokenize(prediction), tokenize(reference)
    return {"rouge1": rouge_n(pred, ref, 1), "rougeL": rouge_l(pred, ref)}
