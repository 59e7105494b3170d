"""Off-target rate: the share of responses that are not in the prompt's language (paper App. E, Fig. 3).

Prompts: Dolly (``databricks-dolly-15k.jsonl``: ``{instruction, context, response, category}``,
English) and Bactrian-X style files (``{instruction, input, id, output}``, one file per language,
JSON array or JSON Lines). Looked up in ``<data_dir>/offtarget/``:

- ``<lang>.jsonl`` / ``<lang>.json`` / ``<lang>.jsonl.gz`` (also ``<anything>_<lang>.jsonl`` or ``-<lang>``);
- for English also any ``*dolly*.jsonl``;
- otherwise files whose records carry a ``lang`` / ``language`` field equal to the language.

The prompt is the instruction, followed by a blank line and the ``input`` / ``context`` when there is
one (the context is the truncatable part). Each response is judged by the project's language
identifier (:class:`sdrrl_ray.filters.langid.LanguageIdentifier`: lingua built over the evaluated
languages and those commonly confused with them, never all languages; script shares for Thai,
Khmer, Lao and Korean). Responses without any letter (empty, digits only) are not judged and are
left out of the rate (``unjudged``). Metric: ``rate`` = 100 x off-target / judged.
"""

from __future__ import annotations

import os

from sdrrl_ray import storage
from sdrrl_ray.evaluation import common, stats
from sdrrl_ray.evaluation.common import Context, Unit

NAME = "offtarget"
DEFAULT_TEMPLATE = "{instruction}\n\n{input}"
BODY_FIELD = "input"
METRICS = (("rate", "%"),)
LANG_FIELDS = ("lang", "language", "lang_code")


def units(targets: list[str]) -> list[Unit]:
    return common.mono_units(NAME, targets)


def _stem(path: str) -> str:
    name = os.path.basename(path)
    for ext in (".jsonl.gz", ".json.gz", ".jsonl", ".json"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return ""


def files_for(data_dir: str, lang: str) -> tuple[list[str], bool]:
    """(files, whether records must be filtered by a language field)."""
    root = storage.join(data_dir, NAME)
    files = [p for p in common.list_files(root) if _stem(p)]
    named = [p for p in files if _stem(p) == lang or _stem(p).endswith((f"_{lang}", f"-{lang}"))]
    if lang == common.ENGLISH:
        named += [p for p in files if "dolly" in os.path.basename(p).lower() and p not in named]
    if named:
        return named, False
    return files, True


def load(data_dir: str, unit: Unit, ctx: Context) -> list[dict]:
    files, by_field = files_for(data_dir, unit.lang)
    items = []
    for path in files:
        for i, rec in enumerate(common.read_records(path)):
            if by_field and str(next((rec[f] for f in LANG_FIELDS if f in rec), "")).lower() != unit.lang:
                continue
            instruction = common.as_text(rec.get("instruction"))
            if not instruction.strip():
                continue
            extra = common.as_text(rec.get("input") or rec.get("context") or "")
            item_id = str(rec.get("id") or rec.get("example_id") or f"{os.path.basename(path)}:{i + 1}")
            items.append(dict(item_id=item_id, instruction=instruction, input=extra))
    if not items:
        raise common.MissingData(f"{NAME}: no {unit.lang} prompts in {storage.join(data_dir, NAME)}")
    return items


def requests(items: list[dict], shots: list[dict], unit: Unit, ctx: Context) -> list[dict]:
    template = ctx.template(NAME, DEFAULT_TEMPLATE)
    out = []
    for it in items:
        prefix, body, suffix = common.split_template(template, dict(instruction=it["instruction"], input=it["input"]),
                                                     BODY_FIELD)
        if not body.strip():
            prefix, suffix = prefix.rstrip(), suffix.strip()
        out.append(common.request(it["item_id"], "generate", prefix=prefix, body=body, suffix=suffix,
                                  max_new_tokens=ctx.max_new_tokens(NAME)))
    return out


_IDENTIFIERS: dict = {}


def identifier(langs: tuple[str, ...], min_share: float):
    from sdrrl_ray.filters.langid import LanguageIdentifier

    key = (langs, min_share)
    if key not in _IDENTIFIERS:
        _IDENTIFIERS.clear()
        _IDENTIFIERS[key] = LanguageIdentifier(langs, min_share=min_share)
    return _IDENTIFIERS[key]


def score(items: list[dict], preds: dict, unit: Unit, ctx: Context) -> dict:
    lid = identifier(tuple(dict.fromkeys((*ctx.languages, unit.lang))), ctx.langid_min_share)
    off = judged = 0
    per_item = []
    for it in items:
        text = (preds.get(it["item_id"]) or {}).get("prediction") or ""
        if not any(c.isalpha() for c in text):
            per_item.append({"item_id": it["item_id"], "judged": False})
            continue
        verdict = lid.check(text, unit.lang)
        judged += 1
        off += not verdict.ok
        per_item.append({"item_id": it["item_id"], "judged": True, "on_target": verdict.ok, "detail": verdict.detail})
    rate = 100 * off / judged if judged else None
    judged_items = [r for r in per_item if r["judged"]]  # the rate is over judged responses: so are n and the interval
    sample = stats.binary([r["item_id"] for r in judged_items], [not r["on_target"] for r in judged_items])
    return {"metrics": {"rate": rate}, "n": len(items), "samples": {"rate": sample},
            "info": {"judged": judged, "unjudged": len(items) - judged, "off_target": off,
                     "langid_candidates": list(lid.candidates)},
            "items": per_item}
