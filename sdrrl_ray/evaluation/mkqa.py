"""MKQA (Longpre et al., 2020): open-domain QA with short gold answers; token-overlap F1 (official normalization).

Released file: ``mkqa.jsonl.gz``, gzipped JSON Lines of ``{query, answers: {lang: [{type, text,
aliases}]}, queries: {lang: str}, example_id}`` over 26 languages (MKQA codes: ``no`` for Norwegian,
``zh_cn``...). Looked up as ``<data_dir>/mkqa/mkqa.jsonl.gz`` (or ``mkqa.jsonl``, or the only
``*.jsonl[.gz]`` there).

The question in the unit's language is the prompt (``{question}``, no instruction, so that nothing
in another language is in it); the first non-empty line of the answer is the prediction. Questions
without ground truth in that language are skipped (counted as ``skipped``).
"""

from __future__ import annotations

from sdrrl_ray import languages, storage
from sdrrl_ray.evaluation import common, stats
from sdrrl_ray.evaluation.common import Context, Unit
from sdrrl_ray.evaluation.metrics import mkqa as mkqa_metric

NAME = "mkqa"
DEFAULT_TEMPLATE = "{question}"
ANSWER_TOKENS = 32
METRICS = (("f1", "F1"), ("em", "EM"))


def units(targets: list[str]) -> list[Unit]:
    covered = [t for t in targets if languages.get(t).mkqa]
    return common.mono_units(NAME, covered) if covered else []  # no English run for a model of an uncovered language


def find_file(data_dir: str) -> str:
    root = storage.join(data_dir, NAME)
    named = [storage.join(root, "mkqa.jsonl.gz"), storage.join(root, "mkqa.jsonl")]
    found = common.first_existing(named)
    if found:
        return found
    others = [p for p in common.list_files(root) if p.endswith((".jsonl", ".jsonl.gz"))]
    if len(others) == 1:
        return others[0]
    raise common.MissingData(f"{NAME}: no mkqa.jsonl.gz in {root}"
                             + (f" (several candidates: {others})" if others else ""))


_CACHE: dict = {}


def _records(path: str) -> list[dict]:
    if path not in _CACHE:
        _CACHE.clear()
        _CACHE[path] = common.read_records(path)
    return _CACHE[path]


def load(data_dir: str, unit: Unit, ctx: Context) -> list[dict]:
    key = languages.get(unit.lang).mkqa
    items = []
    for rec in _records(find_file(data_dir)):
        query = (rec.get("queries") or {}).get(key) or (rec.get("query") if key == "en" else None)
        golds = mkqa_metric.gold_answers(rec, key)
        item = dict(item_id=str(rec.get("example_id")), question=query or "", answers=golds, lang_key=key)
        if not query or golds is None:
            item["skip"] = "no ground truth" if golds is None else "no query"  # counted, not scored
        items.append(item)
    return items


def requests(items: list[dict], shots: list[dict], unit: Unit, ctx: Context) -> list[dict]:
    template = ctx.template(NAME, DEFAULT_TEMPLATE)
    shot_texts = [common.split_template(template, dict(question=s["question"]), None)[0] + "\n" + s["answers"][0]
                  for s in shots]
    tokens = ctx.max_new_tokens(NAME, min(ANSWER_TOKENS, ctx.eval.max_new_tokens))
    return [
        common.request(it["item_id"], "generate",
                       prefix=common.with_shots(common.split_template(template, dict(question=it["question"]), None)[0],
                                                shot_texts),
                       max_new_tokens=tokens)
        for it in items
    ]


def score(items: list[dict], preds: dict, unit: Unit, ctx: Context) -> dict:
    f1s, ems, per_item = [], [], []
    for it in items:
        pred = common.first_line((preds.get(it["item_id"]) or {}).get("prediction"))
        f1 = mkqa_metric.best_f1(pred, it["answers"], it["lang_key"])
        em = mkqa_metric.best_em(pred, it["answers"], it["lang_key"])
        f1s.append(f1)
        ems.append(em)
        per_item.append({"item_id": it["item_id"], "prediction": pred, "f1": f1, "em": em})
    metrics = {"f1": 100 * common.mean(f1s) if items else None, "em": 100 * common.mean(ems) if items else None}
    ids = [it["item_id"] for it in items]
    return {"metrics": metrics, "n": len(items), "info": {}, "items": per_item,
            "samples": {"f1": stats.means(ids, f1s), "em": stats.binary(ids, ems)}}
