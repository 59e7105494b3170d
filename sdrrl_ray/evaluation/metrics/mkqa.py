"""MKQA scoring as in the official evaluation (apple/ml-mkqa ``mkqa_eval.py`` / ``mkqa_eval_util.py``), re-implemented.

Normalization of a prediction or a gold answer, in this order: lowercase; remove ASCII punctuation
(``string.punctuation``); replace the language's articles (a per-language regex, keyed by the MKQA
language code) with a space; then tokenize: for zh_cn / zh_hk / zh_tw / ja / th / km ("mixed
segmentation") every non-space character is a token, otherwise whitespace splitting; tokens are
joined by single spaces.

Token F1 of a prediction against one gold answer: SQuAD-style over the normalized tokens; when the
prediction or the gold answer normalizes to nothing, 1 if both do, else 0. A question's score is
the maximum over its gold answers (each answer's ``text`` and all its ``aliases``). Exact match
compares the normalized strings. Questions whose gold answers are only "no answer" (``text`` null:
types ``unanswerable`` / ``long_answer``) are skipped, as in the paper ("questions without ground
truth are skipped").

Not carried over: the official script's ``binary_answer`` field and no-answer-probability threshold
search; a generative model gives one text, which is scored as the prediction.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Optional

MIXED_SEGMENTATION_LANGS = ("zh_cn", "zh_hk", "zh_tw", "ja", "th", "km")

ARTICLE_REGEX_BY_LANG = {
    "en": r"\b(a|an|the)\b",
    "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
    "vi": r"\b(của|là|cái|chiếc|những)\b",
    "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
    "ar": r"\sال^|ال",
    "nl": r"\b(de|het|een|des|der|den)\b",
    "sv": r"\b(en|ett)\b",
    "da": r"\b(en|et)\b",
    "no": r"\b(en|et|ei)\b",
    "fr": r"\b(le|la|l'|les|du|de|d'|des|un|une|des)",
    "pt": r"\b(o|a|os|as|um|uma|uns|umas)\b",
    "it": r"\b(il|lo|la|l'|i|gli|le|del|dello|della|dell'|dei|degli|degl'|delle|un'|uno|una|un)",
    "fi": r"\b(se|yks|yksi)\b",
    "hu": r"\b(a|az|egy)\b",
}

_PUNCT = set(string.punctuation)


def _tokens(text: str, lang: str) -> list[str]:
    if lang in MIXED_SEGMENTATION_LANGS:
        return [ch for ch in text if ch.strip()]
    return text.split()


def normalize_answer(text: str, lang: str) -> str:
    """The official per-language normalization (module docstring)."""
    text = (text or "").lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    regex = ARTICLE_REGEX_BY_LANG.get(lang)
    if regex:
        text = re.sub(regex, " ", text)
    return " ".join(t for t in _tokens(text, lang) if t.strip())


def token_f1(prediction: str, gold: str, lang: str) -> float:
    gold_toks = normalize_answer(gold, lang).split() if gold else []
    pred_toks = normalize_answer(prediction, lang).split() if prediction else []
    if not gold_toks or not pred_toks:
        return float(gold_toks == pred_toks)
    common = sum((Counter(gold_toks) & Counter(pred_toks)).values())
    if common == 0:
        return 0.0
    p, r = common / len(pred_toks), common / len(gold_toks)
    return 2 * p * r / (p + r)


def exact_match(prediction: str, gold: str, lang: str) -> float:
    return float(normalize_answer(prediction, lang) == normalize_answer(gold, lang))


def best_f1(prediction: str, golds: list[str], lang: str) -> float:
    if not golds:
        raise ValueError("gold answer list is empty")
    return max(token_f1(prediction, g, lang) for g in golds)


def best_em(prediction: str, golds: list[str], lang: str) -> float:
    if not golds:
        raise ValueError("gold answer list is empty")
    return max(exact_match(prediction, g, lang) for g in golds)


def gold_answers(record: dict, lang: str) -> Optional[list[str]]:
    """Gold answer strings of ``record`` in ``lang`` (text + aliases, deduplicated), or None when
    the question has no ground truth there (skipped)."""
    answers = (record.get("answers") or {}).get(lang)
    if not answers:
        return None
    out: list[str] = []
    for ans in answers:
        for text in [ans.get("text") or "", *(ans.get("aliases") or [])]:
            if text not in out:
                out.append(text)
    if all(t == "" for t in out):
        return None
    return out  # as the official reader: a "" (no answer) next to real answers stays a valid answer
