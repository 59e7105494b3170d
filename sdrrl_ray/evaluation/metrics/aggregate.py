"""The NLU / NLG aggregates of the paper's Table 6.

- NLU = BELEBELE accuracy;
- NLG = mean of three benchmark averages: FLORES BLEU, XL-SUM ROUGE-L and MKQA F1;
- target side: FLORES EN->X; English side: FLORES X->EN (paper-spec section 5).

Each benchmark average is taken over the languages that benchmark covers (14 for FLORES, 6 for
XL-SUM, 9 for MKQA in the paper), unrounded, and only then combined. That order reproduces the
paper's full-method row, 28.24 / 31.69 (tests/unit/test_eval_metrics.py).
"""

from __future__ import annotations

from typing import Optional

NLG_COMPONENTS = {
    "target": (("flores", "bleu", "en-x"), ("xlsum", "rougeL", "target"), ("mkqa", "f1", "target")),
    "english": (("flores", "bleu", "x-en"), ("xlsum", "rougeL", "english"), ("mkqa", "f1", "english")),
}


def _mean(values: list[float]) -> Optional[float]:
    return sum(values) / len(values) if values else None


def nlu(belebele_avg: Optional[float]) -> Optional[float]:
    return belebele_avg


def nlg(flores_bleu_avg: Optional[float], xlsum_rougel_avg: Optional[float],
        mkqa_f1_avg: Optional[float]) -> tuple[Optional[float], list[str]]:
    """(NLG, the components it used): the mean of those present; the paper's needs all three."""
    parts = {"flores": flores_bleu_avg, "xlsum": xlsum_rougel_avg, "mkqa": mkqa_f1_avg}
    used = [k for k, v in parts.items() if v is not None]
    return _mean([parts[k] for k in used]), used


def table6_row(per_language: dict) -> dict:
    """Aggregates from per-language numbers (lists), as the paper computes them.

    ``per_language`` keys: belebele_target, belebele_english, flores_enx, flores_xen, xlsum_rl_target,
    xlsum_rl_english, mkqa_target, mkqa_english (each a list of per-language scores).
    """
    avg = {k: _mean(list(v)) for k, v in per_language.items()}
    nlg_t, _ = nlg(avg.get("flores_enx"), avg.get("xlsum_rl_target"), avg.get("mkqa_target"))
    nlg_e, _ = nlg(avg.get("flores_xen"), avg.get("xlsum_rl_english"), avg.get("mkqa_english"))
    return {
        "nlu_target": nlu(avg.get("belebele_target")),
        "nlu_english": nlu(avg.get("belebele_english")),
        "nlg_target": nlg_t,
        "nlg_english": nlg_e,
    }
