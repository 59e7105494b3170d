"""Representation alignment (paper Sec. 4.4, Fig. 2), in numbers: parallel sentences' hidden states.

The model reads each sentence as raw text (no chat template, with the tokenizer's special tokens);
the sentence vector is the final layer's hidden state at the last token, as in the paper (following
Li et al., 2023c). Parallel sentences: line i of the FLORES files of the target language and of
English (:mod:`.flores`'s layout and split), up to ``eval.limit`` pairs. Metrics
(:mod:`.metrics.alignment`): top-1 retrieval accuracy by cosine (%, the headline), mean cosine of
parallel pairs and of non-parallel pairs. The report also draws both languages' vectors in 2-D
(PCA), one panel per model: the paper's before/after picture.
"""

from __future__ import annotations

import numpy as np

from sdrrl_ray.evaluation import common, flores, stats
from sdrrl_ray.evaluation.common import ENGLISH, TARGET, Context, Unit
from sdrrl_ray.evaluation.metrics.alignment import alignment_scores, per_item

NAME = "alignment"
METRICS = (("top1", "top-1 retrieval %"), ("cosine", "cosine"))


def units(targets: list[str]) -> list[Unit]:
    return [Unit(NAME, f"{t}-{ENGLISH}", t, ENGLISH, t, TARGET) for t in targets]


def load(data_dir: str, unit: Unit, ctx: Context) -> list[dict]:
    split = ctx.eval.flores_split
    xs, ens = flores.sentences(data_dir, unit.lang, split), flores.sentences(data_dir, ENGLISH, split)
    if len(xs) != len(ens):
        raise common.MissingData(f"{NAME}: {unit.lang} and en {split} files are not parallel "
                                 f"({len(xs)} vs {len(ens)} lines)")
    return [dict(item_id=str(i + 1), x=x, en=e) for i, (x, e) in enumerate(zip(xs, ens)) if x.strip() and e.strip()]


def requests(items: list[dict], shots: list[dict], unit: Unit, ctx: Context) -> list[dict]:
    out = []
    for it in items:
        out.append(common.request(f"{it['item_id']}#x", "hidden", body=it["x"], raw=True))
        out.append(common.request(f"{it['item_id']}#en", "hidden", body=it["en"], raw=True))
    return out


def vectors(items: list[dict], preds: dict) -> tuple[np.ndarray, np.ndarray, list[str]]:
    xs, ens, ids = [], [], []
    for it in items:
        x, e = ((preds.get(f"{it['item_id']}#x") or {}).get("vector"),
                (preds.get(f"{it['item_id']}#en") or {}).get("vector"))
        if x is None or e is None or len(x) == 0 or len(x) != len(e):
            continue
        xs.append(np.asarray(x, dtype=np.float64))
        ens.append(np.asarray(e, dtype=np.float64))
        ids.append(it["item_id"])
    if not ids:
        return np.zeros((0, 0)), np.zeros((0, 0)), []
    return np.stack(xs), np.stack(ens), ids


def score(items: list[dict], preds: dict, unit: Unit, ctx: Context) -> dict:
    x, e, ids = vectors(items, preds)
    if not ids:
        return {"metrics": {"top1": None, "cosine": None, "cosine_random": None}, "n": 0, "info": {}, "items": []}
    s = alignment_scores(x, e)
    metrics = {"top1": 100 * s["top1"], "cosine": s["cosine"], "cosine_random": s["cosine_random"],
               "top1_x2en": 100 * s["top1_x2en"], "top1_en2x": 100 * s["top1_en2x"]}
    # intervals over pairs with the retrieval candidates fixed (top-1 depends on the whole set of sentences)
    p = per_item(x, e)
    samples = {"top1": stats.means(ids, (p["x2en"] + p["en2x"]) / 2), "cosine": stats.means(ids, p["cosine"], 1.0),
               "top1_x2en": stats.binary(ids, p["x2en"]), "top1_en2x": stats.binary(ids, p["en2x"])}
    return {"metrics": metrics, "n": len(ids), "info": {}, "items": [], "vectors": {"x": x, "en": e},
            "samples": samples}
