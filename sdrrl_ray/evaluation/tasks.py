"""The task registry: name -> module (see :mod:`sdrrl_ray.evaluation` for the functions each provides)."""

from __future__ import annotations

from sdrrl_ray.evaluation import alignment, belebele, flores, mkqa, ner, offtarget, xlsum

TASKS = {m.NAME: m for m in (belebele, flores, xlsum, mkqa, ner, offtarget, alignment)}
NO_SHOTS = ("offtarget", "alignment")  # prompts are the items themselves; never few-shot
# report order and the metric each report table shows first
ORDER = ("belebele", "flores", "xlsum", "mkqa", "ner", "offtarget", "alignment")
TITLES = {
    "belebele": "BELEBELE",
    "flores": "FLORES-200",
    "xlsum": "XL-SUM",
    "mkqa": "MKQA",
    "ner": "NER (WikiANN)",
    "offtarget": "Off-target rate",
    "alignment": "Representation alignment",
}
