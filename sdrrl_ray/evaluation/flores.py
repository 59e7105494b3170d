"""FLORES-200 (Goyal et al., 2022): translation X->EN and EN->X; sacreBLEU BLEU and chrF++.

Released layout: ``flores200_dataset/{dev,devtest}/<code>.{dev,devtest}``, one sentence per line,
line i of every language file being the same sentence. Looked up as
``<data_dir>/flores/flores200_dataset/<split>/<code>.<split>`` (or ``<data_dir>/flores/<split>/...``,
``<data_dir>/flores/<code>.<split>``); the split is ``eval.flores_split`` (default devtest).

Units per target X: ``en-X`` (report side "target": the paper's target-language FLORES is EN->X)
and ``X-en`` (side "english": X->EN). The prompt is the paper's translation instruction (Table 1,
the D_mt template): "Translate the following sentence from {src} to {tgt}.\\n{sentence}"; the first
non-empty line of the answer is the translation. Scores: corpus BLEU (paper signature
``tok:flores200`` when the model is available, see :mod:`.metrics.bleu`), chrF++ and, with
``eval.comet.enabled``, COMET (paper: wmt22-comet-da, 0-100; :mod:`.comet_score`).
"""

from __future__ import annotations

from sdrrl_ray import languages, storage
from sdrrl_ray.evaluation import comet_score, common, stats
from sdrrl_ray.evaluation.common import ENGLISH, ENGLISH_SIDE, TARGET, Context, Unit
from sdrrl_ray.evaluation.metrics.bleu import corpus_scores

NAME = "flores"
DEFAULT_TEMPLATE = "Translate the following sentence from {src_lang} to {tgt_lang}.\n{sentence}"
BODY_FIELD = "sentence"
METRICS = (("bleu", "BLEU"), ("chrf++", "chrF++"), ("comet", "COMET"))


def units(targets: list[str]) -> list[Unit]:
    out = []
    for t in targets:
        out.append(Unit(NAME, f"{ENGLISH}-{t}", ENGLISH, t, t, TARGET))
        out.append(Unit(NAME, f"{t}-{ENGLISH}", t, ENGLISH, t, ENGLISH_SIDE))
    return out


def candidates(data_dir: str, code: str, split: str) -> list[str]:
    root = storage.join(data_dir, NAME)
    name = f"{code}.{split}"
    return [
        storage.join(root, "flores200_dataset", split, name),
        storage.join(root, split, name),
        storage.join(root, name),
    ]


def sentences(data_dir: str, lang: str, split: str) -> list[str]:
    code = languages.get(lang).nllb
    return common.read_lines(common.require_file(NAME, candidates(data_dir, code, split), f"{code}.{split}"))


def load(data_dir: str, unit: Unit, ctx: Context) -> list[dict]:
    split = ctx.eval.flores_split
    src, tgt = unit.lang, unit.out_lang
    src_lines, tgt_lines = sentences(data_dir, src, split), sentences(data_dir, tgt, split)
    if len(src_lines) != len(tgt_lines):
        raise common.MissingData(
            f"{NAME}: {src} and {tgt} {split} files have {len(src_lines)} and {len(tgt_lines)} lines; "
            "they must be parallel"
        )
    return [
        dict(item_id=str(i + 1), source=s, reference=r)
        for i, (s, r) in enumerate(zip(src_lines, tgt_lines))
        if s.strip() and r.strip()
    ]


def _fields(unit: Unit, sentence: str) -> dict:
    return dict(src_lang=common.lang_name(unit.lang), tgt_lang=common.lang_name(unit.out_lang), sentence=sentence)


def requests(items: list[dict], shots: list[dict], unit: Unit, ctx: Context) -> list[dict]:
    template = ctx.template(NAME, DEFAULT_TEMPLATE)
    shot_texts = [common.split_template(template, _fields(unit, s["source"]), None)[0] + "\n" + s["reference"]
                  for s in shots]
    out = []
    for item in items:
        prefix, body, suffix = common.split_template(template, _fields(unit, item["source"]), BODY_FIELD)
        out.append(common.request(item["item_id"], "generate", prefix=common.with_shots(prefix, shot_texts), body=body,
                                  suffix=suffix, max_new_tokens=ctx.max_new_tokens(NAME)))
    return out


def score(items: list[dict], preds: dict, unit: Unit, ctx: Context) -> dict:
    hyps = [common.first_line((preds.get(it["item_id"]) or {}).get("prediction")) for it in items]
    refs = [it["reference"] for it in items]
    if not items:
        return {"metrics": {"bleu": None, "chrf++": None}, "n": 0, "info": {}, "items": []}
    s = corpus_scores(
        hyps, refs, unit.out_lang,
        tokenize=ctx.eval.bleu_tokenize, fallback=ctx.eval.bleu_fallback, allow_download=ctx.eval.bleu_download,
        segments=True,
    )
    info = {k: s[k] for k in ("bleu_signature", "chrf_signature", "bleu_tokenize", "bleu_note")}
    per_item = [{"item_id": it["item_id"], "hypothesis": h} for it, h in zip(items, hyps)]
    ids = [it["item_id"] for it in items]
    samples = {"bleu": stats.corpus(ids, s["bleu_stats"], s["bleu_scorer"]),
               "chrf++": stats.corpus(ids, s["chrf_stats"], s["chrf_scorer"])}
    metrics = {"bleu": s["bleu"], "chrf++": s["chrf++"]}
    comet = comet_score.segment_scores(ctx.eval.comet, [(it["source"], h, it["reference"])
                                                        for it, h in zip(items, hyps)])
    if comet is not None:
        samples["comet"] = stats.means(ids, comet)
        metrics["comet"] = samples["comet"].score()
        info["comet_model"] = comet_score.signature(ctx.eval.comet)
        for row, value in zip(per_item, comet):
            row["comet"] = value
    return {"metrics": metrics, "n": len(items), "info": info, "items": per_item, "samples": samples}
