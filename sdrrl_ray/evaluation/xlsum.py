"""XL-Sum (Hasan et al., 2021): one-sentence abstractive news summaries; ROUGE-1 and ROUGE-L F1.

Released layout: per language ``<language>_{train,val,test}.jsonl`` with records ``{id, url, title,
summary, text}`` (folder names from the registry's ``xlsum`` column: ``japanese``, ``thai``, ...).
Looked up as ``<data_dir>/xlsum/<language>_<split>.jsonl`` (or ``.../xlsum/<language>/<language>_<split>.jsonl``);
the split is ``eval.split`` (default test).

The article is the prompt's truncatable body: a prompt too long for the model loses the article's
end, never the instruction. The first non-empty line of the answer is the summary. ROUGE is this
project's own (:mod:`.metrics.rouge`): characters as tokens for unspaced scripts, words otherwise.
"""

from __future__ import annotations

from sdrrl_ray import languages, storage
from sdrrl_ray.evaluation import common, stats
from sdrrl_ray.evaluation.common import Context, Unit
from sdrrl_ray.evaluation.metrics.rouge import rouge_scores

NAME = "xlsum"
DEFAULT_TEMPLATE = "Summarize the following article in one sentence in {language}.\n\n{text}"
BODY_FIELD = "text"
METRICS = (("rouge1", "ROUGE-1"), ("rougeL", "ROUGE-L"))


def units(targets: list[str]) -> list[Unit]:
    covered = [t for t in targets if languages.get(t).xlsum]
    return common.mono_units(NAME, covered) if covered else []  # no English run for a model of an uncovered language


def candidates(data_dir: str, name: str, split: str) -> list[str]:
    root = storage.join(data_dir, NAME)
    return [
        storage.join(root, f"{name}_{split}.jsonl"),
        storage.join(root, name, f"{name}_{split}.jsonl"),
        storage.join(root, f"{name}_{split}.jsonl.gz"),
    ]


def load(data_dir: str, unit: Unit, ctx: Context) -> list[dict]:
    name = languages.get(unit.lang).xlsum
    path = common.require_file(NAME, candidates(data_dir, name, ctx.eval.split), f"{name}_{ctx.eval.split}")
    items = []
    for i, rec in enumerate(common.read_records(path)):
        text, summary = common.as_text(rec.get("text")), common.as_text(rec.get("summary"))
        if not text.strip() or not summary.strip():
            continue
        items.append(dict(item_id=str(rec.get("id") or i), text=text, summary=summary,
                          title=common.as_text(rec.get("title"))))
    return items


def requests(items: list[dict], shots: list[dict], unit: Unit, ctx: Context) -> list[dict]:
    template = ctx.template(NAME, DEFAULT_TEMPLATE)
    language = common.lang_name(unit.lang)
    shot_texts = [
        common.split_template(template, dict(language=language, text=s["text"], title=s["title"]), None)[0]
        + "\n" + s["summary"]
        for s in shots
    ]
    out = []
    for item in items:
        prefix, body, suffix = common.split_template(
            template, dict(language=language, text=item["text"], title=item["title"]), BODY_FIELD
        )
        out.append(common.request(item["item_id"], "generate", prefix=common.with_shots(prefix, shot_texts), body=body,
                                  suffix=suffix, max_new_tokens=ctx.max_new_tokens(NAME)))
    return out


def score(items: list[dict], preds: dict, unit: Unit, ctx: Context) -> dict:
    per_item, r1, rl = [], [], []
    for it in items:
        hyp = common.first_line((preds.get(it["item_id"]) or {}).get("prediction"))
        s = rouge_scores(hyp, it["summary"])
        r1.append(s["rouge1"])
        rl.append(s["rougeL"])
        per_item.append({"item_id": it["item_id"], "hypothesis": hyp, **s})
    metrics = {"rouge1": 100 * common.mean(r1) if items else None, "rougeL": 100 * common.mean(rl) if items else None}
    ids = [it["item_id"] for it in items]
    return {"metrics": metrics, "n": len(items),
            "info": {"tokenizer": "characters for unspaced scripts, words otherwise"}, "items": per_item,
            "samples": {"rouge1": stats.means(ids, r1), "rougeL": stats.means(ids, rl)}}
