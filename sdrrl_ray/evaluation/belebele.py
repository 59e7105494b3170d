"""BELEBELE (Bandarkar et al., 2023): 4-way multiple-choice reading comprehension; accuracy.

Released layout: one JSON Lines file per language, named by its FLORES-200 code
(``Belebele/jpn_Jpan.jsonl``), records ``{link, question_number, flores_passage, question,
mc_answer1..4, correct_answer_num ("1".."4"), dialect, ds}``. Looked up as
``<data_dir>/belebele/<code>.jsonl`` (or ``.../belebele/Belebele/<code>.jsonl``).

Two ways of answering (``eval.belebele_mode``):

- ``loglik`` (default): the prompt lists the options as A-D and ends with "Answer:"; the option
  letter with the highest log-likelihood as the continuation is the answer (as lm-eval-harness);
- ``generate``: the model writes an answer; :func:`extract_choice` reads the letter (or the option
  text) from it; an answer that names no option counts as wrong.
``both`` runs both; ``acc`` is then the log-likelihood accuracy and ``acc_generate`` the other.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Optional

from sdrrl_ray import languages, storage
from sdrrl_ray.evaluation import common, stats
from sdrrl_ray.evaluation.common import Context, Unit
from sdrrl_ray.prompts import BELEBELE_PROMPT

NAME = "belebele"
LETTERS = ("A", "B", "C", "D")
DEFAULT_TEMPLATE = BELEBELE_PROMPT
BODY_FIELD = "flores_passage"
GENERATE_TOKENS = 8
METRICS = (("acc", "accuracy"),)
CHANCE = {"acc": 100 / len(LETTERS), "acc_generate": 100 / len(LETTERS)}  # 4 options: 25%


def units(targets: list[str]) -> list[Unit]:
    return common.mono_units(NAME, targets)


def candidates(data_dir: str, code: str) -> list[str]:
    root = storage.join(data_dir, NAME)
    return [storage.join(root, f"{code}.jsonl"), storage.join(root, "Belebele", f"{code}.jsonl"),
            storage.join(root, f"{code}.json")]


def load(data_dir: str, unit: Unit, ctx: Context) -> list[dict]:
    code = languages.get(unit.lang).nllb
    path = common.require_file(NAME, candidates(data_dir, code), f"{code} question")
    items = []
    for i, rec in enumerate(common.read_records(path)):
        try:
            answer = int(str(rec["correct_answer_num"]).strip())
            options = [common.as_text(rec[f"mc_answer{k}"]) for k in range(1, 5)]
            fields = dict(rec, flores_passage=common.as_text(rec["flores_passage"]),
                          question=common.as_text(rec["question"]))
        except (KeyError, ValueError) as exc:
            raise common.MissingData(
                f"{NAME}: {path} record {i + 1} lacks a field of the released format ({exc})") from None
        if answer not in (1, 2, 3, 4):
            raise common.MissingData(f"{NAME}: {path} record {i + 1} has correct_answer_num={answer!r}")
        item_id = f"{rec.get('question_number', i)}@{rec.get('link', i)}"
        items.append(dict(item_id=item_id, fields=fields, options=options, answer=answer))
    return items


def _modes(ctx: Context) -> tuple[str, ...]:
    return ("loglik", "generate") if ctx.eval.belebele_mode == "both" else (ctx.eval.belebele_mode,)


def requests(items: list[dict], shots: list[dict], unit: Unit, ctx: Context) -> list[dict]:
    template = ctx.template(NAME, DEFAULT_TEMPLATE)
    shot_texts = [common.split_template(template, s["fields"], None)[0] + " " + LETTERS[s["answer"] - 1] for s in shots]
    out = []
    for item in items:
        prefix, body, suffix = common.split_template(template, item["fields"], BODY_FIELD)
        prefix = common.with_shots(prefix, shot_texts)
        for mode in _modes(ctx):
            if mode == "loglik":
                out.append(common.request(f"{item['item_id']}#loglik", "loglik", prefix=prefix, body=body,
                                          suffix=suffix, options=list(LETTERS)))
            else:
                out.append(common.request(f"{item['item_id']}#generate", "generate", prefix=prefix, body=body,
                                          suffix=suffix,
                                          max_new_tokens=ctx.max_new_tokens(
                                              NAME, min(GENERATE_TOKENS, ctx.eval.max_new_tokens))))
    return out


_START = re.compile(r"^[\s\(\[\*\"'「]*([ABCD])(?![A-Za-z])")
_STATED = re.compile(r"(?:answer|option|choice)\s*(?:is|:)?\s*[\(\[]?([ABCD])(?![A-Za-z])", re.IGNORECASE)
_ANY = re.compile(r"(?<![A-Za-z])([ABCD])(?![A-Za-z])")
_ARTICLE = re.compile(r"\s+[a-z]")  # "A cat ...": the English article, not option A


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text or "").lower().split())


def _letter(match: Optional[re.Match], text: str) -> Optional[int]:
    if match is None:
        return None
    letter = match.group(1).upper()
    if letter == "A" and _ARTICLE.match(text, match.end(1)):
        return None
    return LETTERS.index(letter) + 1


def extract_choice(text: str, options: list[str]) -> Optional[int]:
    """The option (1-4) an answer names: a leading letter, "answer is X", the text of an option, a
    leading digit 1-4, or a lone letter A-D anywhere (in that order). None when it names none."""
    t = unicodedata.normalize("NFKC", text or "").strip()
    if not t:
        return None
    for found in (_letter(_START.search(t), t), _letter(_STATED.search(t), t)):
        if found:
            return found
    nt = _norm(t)
    hits = [(len(_norm(o)), k) for k, o in enumerate(options, start=1) if _norm(o) and _norm(o) in nt]
    if hits:
        return max(hits)[1]
    m = re.match(r"^\s*([1-4])(?!\d)", t)
    if m:
        return int(m.group(1))
    for m in _ANY.finditer(t):
        found = _letter(m, t)
        if found:
            return found
    return None


def score(items: list[dict], preds: dict, unit: Unit, ctx: Context) -> dict:
    per_item, acc = [], {"loglik": [], "generate": []}
    extracted = 0
    for item in items:
        row = {"item_id": item["item_id"], "gold": item["answer"]}
        for mode in _modes(ctx):
            pred = preds.get(f"{item['item_id']}#{mode}") or {}
            if mode == "loglik":
                lls = pred.get("option_logprobs") or []
                choice = (max(range(len(lls)), key=lambda k: lls[k]) + 1) if len(lls) == 4 else None
            else:
                choice = extract_choice(pred.get("prediction") or "", item["options"])
                extracted += choice is not None
            row[mode] = choice
            acc[mode].append(float(choice == item["answer"]))
        per_item.append(row)
    metrics = {}
    modes = _modes(ctx)
    metrics["acc"] = 100 * common.mean(acc[modes[0]]) if items else None
    if len(modes) == 2:
        metrics["acc_generate"] = 100 * common.mean(acc["generate"]) if items else None
    info = {"mode": ctx.eval.belebele_mode}
    if "generate" in modes and items:
        info["answer_extracted_share"] = extracted / len(items)
    ids = [it["item_id"] for it in items]
    samples = {"acc": stats.binary(ids, acc[modes[0]])}
    if len(modes) == 2:
        samples["acc_generate"] = stats.binary(ids, acc["generate"])
    return {"metrics": metrics, "n": len(items), "info": info, "items": per_item, "samples": samples}
