"""The evaluation report: ``OUT/report.json``, ``OUT/report.md`` and ``OUT/plots/*.png``.

Tables are laid out like the paper's: one column per target language (paper codes: the NLLB
language code's first part, e.g. JPN) plus AVG; one row per model, with the difference to the
baseline model in parentheses; "target language" tables (the model for X evaluated on X) and
"English" tables (the same model evaluated on English; FLORES: X->EN). A model trained for one
target fills only that column. The Table 6 block gives NLU = BELEBELE accuracy and NLG = mean of
FLORES BLEU (target: EN->X, English: X->EN), XL-SUM ROUGE-L and MKQA F1, each averaged over the
languages the benchmark covers first (:mod:`.metrics.aggregate`).

Every number carries its n and 95% interval, every difference to the baseline a paired test's p-value,
every table the smallest difference its n detects (:mod:`.significance`, :mod:`.stats`); a multiple-choice
table states its chance level, a metric that is 0 for every model says so.
"""

from __future__ import annotations

import datetime
import math
import os
import tempfile
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Optional

from sdrrl_ray import storage
from sdrrl_ray.evaluation import epochs, significance, stats
from sdrrl_ray.evaluation.common import AGGREGATE_PARTS, AGGREGATE_TITLES, ENGLISH_SIDE, TARGET, column_code, mean
from sdrrl_ray.evaluation.metrics.aggregate import nlg
from sdrrl_ray.evaluation.plots import plot
from sdrrl_ray.evaluation.run_plots import image_lines, run_plots
from sdrrl_ray.evaluation.tasks import TASKS, TITLES
from sdrrl_ray.layout.paths import PLOTS, Out

SIDE_TITLES = {TARGET: "target language", ENGLISH_SIDE: "English"}
FLORES_SIDES = {TARGET: "EN→X (target)", ENGLISH_SIDE: "X→EN (English)"}


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, set):
        return sorted(_clean(v) for v in value)
    return value


def _unit_name(task: str, side: str, column: str) -> Optional[str]:
    for unit in TASKS[task].units([column]):
        if unit.side == side:
            return unit.name
    return None


def _sides(task: str, targets: list[str]) -> list[str]:
    found = {u.side for u in TASKS[task].units(targets)}
    return [s for s in (TARGET, ENGLISH_SIDE) if s in found]


def _columns(task: str, targets: list[str]) -> list[str]:
    return [t for t in targets if any(u.column == t for u in TASKS[task].units([t]))]


def _side_words(task: str, side: str) -> str:
    if task == "flores":
        return FLORES_SIDES[side]
    if task == "alignment":
        return "target vs English sentences"
    return SIDE_TITLES[side]


def _title(task: str, label: str, side: str) -> str:
    if task == "flores":
        return f"{TITLES[task]} {label}, {FLORES_SIDES[side]}"
    if task == "alignment":
        return f"{TITLES[task]}: {label}, target vs English sentences"
    return f"{TITLES[task]} {label}, {SIDE_TITLES[side]}"


def build(cfg, entries, tasks, targets, results, info, contam, baseline, notes, *, seconds: float,
          data_dir: str, samples: Optional[dict] = None) -> dict:
    """The report; ``samples`` ((model key, task, unit, metric) -> :class:`.stats.Sample`, from
    :func:`.run.score_all`) give the intervals and tests (without them those fields are None)."""
    names = list(dict.fromkeys([baseline] + [e.name for e in entries]))
    names = [n for n in names if any(e.name == n for e in entries)]
    value = {(r["model_key"], r["task"], r["unit"], r["metric"]): r["value"] for r in results}

    def entry_for(name: str, column: str):
        exact = [e for e in entries if e.name == name and e.target == column]
        shared = [e for e in entries if e.name == name and e.target is None]
        return (exact or shared or [None])[0]

    tables = []
    cells: dict = {}  # (task, metric, side, model, column) -> the sample key behind the cell
    for task in tasks:
        columns = _columns(task, targets)
        if not columns:
            continue
        for metric, label in TASKS[task].METRICS:
            for side in _sides(task, targets):
                rows = []
                for name in names:
                    vals = {}
                    for t in columns:
                        entry, unit = entry_for(name, t), _unit_name(task, side, t)
                        vals[t] = value.get((entry.key, task, unit, metric)) if entry and unit else None
                        if entry and unit:
                            cells[(task, metric, side, name, t)] = (entry.key, task, unit, metric)
                    rows.append({"model": name, "values": vals, "avg": mean(list(vals.values()))})
                if all(r["avg"] is None for r in rows):
                    continue
                base = next((r for r in rows if r["model"] == baseline), None)
                for r in rows:
                    r["delta"] = {
                        t: (v - base["values"][t]) if base and v is not None and base["values"][t] is not None else None
                        for t, v in r["values"].items()
                    }
                    # a model that covers fewer languages is compared on its own languages only
                    common = [t for t, v in r["values"].items()
                              if v is not None and base and base["values"][t] is not None]
                    r["partial"] = any(v is None for v in r["values"].values()) and r["avg"] is not None
                    r["delta_avg"] = (mean([r["values"][t] for t in common]) - mean([base["values"][t] for t in common])
                                      if common else None)
                shown = [v for r in rows for v in [*r["values"].values(), r["avg"]] if v is not None]
                zero = all(rounded(v, _digits(metric)) == 0 for v in shown)
                tables.append(dict(task=task, metric=metric, label=label, side=side, title=_title(task, label, side),
                                   columns=columns, rows=rows, chance=getattr(TASKS[task], "CHANCE", {}).get(metric),
                                   all_zero=zero, all_zero_note=(f"{TITLES[task]} {label} ({_side_words(task, side)}) "
                                                                 f"is {_fmt(0.0, digits=_digits(metric))} for every "
                                                                 "model") if zero else None))

    def table_avg(task: str, metric: str, side: str, name: str, only: Optional[str] = None) -> Optional[float]:
        """The row's AVG; with ``only``, the AVG over the columns where model ``only`` has values."""
        for t in tables:
            if (t["task"], t["metric"], t["side"]) == (task, metric, side):
                rows = {r["model"]: r for r in t["rows"]}
                if name not in rows:
                    return None
                if only is None:
                    return rows[name]["avg"]
                cols = [c for c, v in rows[only]["values"].items() if v is not None] if only in rows else []
                return mean([rows[name]["values"][c] for c in cols])
        return None

    def aggregates(name: str, only: Optional[str] = None) -> dict:
        row: dict = {"model": name, "components": {}}
        for key, parts in AGGREGATE_PARTS.items():
            vals = [table_avg(*p, name, only) for p in parts]
            if key.startswith("nlu"):
                row[key], used = vals[0], ([parts[0][0]] if vals[0] is not None else [])
            else:
                row[key], used = nlg(*vals)
            row["components"][key] = used
        return row

    agg_rows = [aggregates(name) for name in names]
    for r in agg_rows:
        base_agg = aggregates(baseline, only=r["model"])  # the baseline on this model's languages
        r["delta"] = {k: (r[k] - base_agg[k]) if r[k] is not None and base_agg[k] is not None else None
                      for k in AGGREGATE_PARTS}

    def base_key(row: dict) -> Optional[tuple]:
        entry = entry_for(baseline, row.get("model_target"))
        return (entry.key, row["task"], row["unit"], row["metric"]) if entry else None

    significance.annotate(tables, agg_rows, results, samples or {}, cells, baseline, base_key)
    by_table = {(t["task"], t["metric"], t["side"]): t for t in tables}
    agg_chance = {k: by_table[parts[0]]["chance"] for k, parts in AGGREGATE_PARTS.items()
                  if len(parts) == 1 and parts[0] in by_table and by_table[parts[0]]["chance"] is not None}
    units = [dict(model=k[0], task=k[1], unit=k[2], **v) for k, v in sorted(info.items())]
    bleu_sigs = sorted({u["bleu_signature"] for u in units if u.get("bleu_signature")})
    chrf_sigs = sorted({u["chrf_signature"] for u in units if u.get("chrf_signature")})
    bleu_notes = sorted({u["bleu_note"] for u in units if u.get("bleu_note")})
    comet_models = sorted({u["comet_model"] for u in units if u.get("comet_model")})
    rep = {
        "title": "SDRRL evaluation",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "data_dir": data_dir,
        "languages": {"targets": targets, "english": "en"},
        "baseline": baseline,
        "models": [{"name": e.name, "target": e.target, "path": e.path, "key": e.key} for e in entries],
        "tasks": tasks,
        "tables": tables,
        "aggregates": {
            "definition": "NLU = BELEBELE accuracy; NLG = mean(FLORES BLEU, XL-SUM ROUGE-L, MKQA F1) of the "
                          "benchmark averages; target: FLORES EN->X, English: X->EN (paper Table 6)",
            "rows": agg_rows,
            "chance": agg_chance,
        },
        "statistics": dict(significance.STATS_NOTE, alpha=0.05, power=0.8, resamples=stats.RESAMPLES,
                           seed=stats.SEED),
        "zero_metrics": [t["all_zero_note"] for t in tables if t["all_zero"]],
        "results": results,
        "units": units,
        "bleu": {"signatures": bleu_sigs, "chrf_signatures": chrf_sigs, "notes": bleu_notes,
                 "paper_signature": "nrefs:1|case:mixed|eff:no|tok:flores200|smooth:exp|version:2.0.0",
                 "comet_models": comet_models},
        "contamination": contam,
        "notes": notes,
        "config": cfg.to_dict()["eval"],
        "plots": [],
    }
    return _clean(rep)


# --------------------------------------------------------------------------------------------
# markdown


def rounded(v: float, digits: int = 2) -> Decimal:
    """Half-up rounding of the decimal value (as the paper prints: 708.05 / 14 = 50.575 -> 50.58),
    after removing float noise (50.574999999999996 is 50.575)."""
    return Decimal(repr(round(v, 9))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


ALPHA = 0.05


def _fmt(v: Optional[float], d: Optional[float] = None, digits: int = 2, *, lo: Optional[float] = None,
         hi: Optional[float] = None, p: Optional[float] = None, n: Optional[int] = None) -> str:
    """``value [low, high] (+delta ns) n=items``: the interval, the mark and n only when known."""
    if v is None:
        return "–"
    s = f"{rounded(v, digits)}"
    if lo is not None and hi is not None:
        s += f" [{rounded(lo, digits)}, {rounded(hi, digits)}]"
    if d is not None and rounded(d, digits) != 0:
        mark = " ns" if p is not None and p >= ALPHA else ""
        s += f" ({'+' if d > 0 else ''}{rounded(d, digits)}{mark})"
    if n is not None:
        s += f" n={n}"
    return s


def _get(row: dict, field: str, key: str):
    return (row.get(field) or {}).get(key)


def _digits(metric: str) -> int:
    return 3 if metric in ("cosine", "cosine_random") else 2


def _table_notes(t: dict, baseline: str, digits: int) -> list[str]:
    """Lines under a table: its chance level, a metric at 0 for every model, the smallest detectable difference."""
    lines = []
    if t.get("chance") is not None:
        lines.append(f"Chance level (a random answer): {_fmt(t['chance'], digits=digits)}.")
    if t.get("all_zero"):
        lines.append(f"{t['all_zero_note']}.")
    mde = t.get("mde") or {}
    if mde:
        head = f"Smallest difference to {baseline} that this n detects (alpha {ALPHA}, power 0.8): "
        flat = "not estimable (the baseline's per-item scores do not vary)"
        if all(v is None for v in mde.values()):
            lines.append(head + flat + ".")
        else:
            top = 1.0 if t["metric"] in ("cosine", "cosine_random") else 100.0  # the metric's whole scale
            shown = {c: (flat if v is None else f"more than {_fmt(top, digits=digits)} (n too small)" if v > top
                         else _fmt(v, digits=digits)) for c, v in mde.items()}
            lines.append(head + ", ".join(f"{column_code(c)} {s}" for c, s in shown.items()) + ".")
    return ([""] + lines) if lines else []


def to_markdown(rep: dict) -> str:
    out = [f"# {rep['title']}", ""]
    out.append(f"Created {rep['created']} in {rep['seconds']} s. Task data: `{rep['data_dir']}`. "
               f"Deltas in parentheses are against **{rep['baseline']}**.")
    with_stats = any(r.get("ci_low") for t in rep["tables"] for r in t["rows"])
    if with_stats:
        out += ["", f"Each cell: score [95% interval] (difference to {rep['baseline']}; `ns`: not significant at "
                    f"{ALPHA} by a paired test on the same items) n=items. Methods: section Statistics."]
    out += ["", "| Model | Serves | Path |", "|---|---|---|"]
    for m in rep["models"]:
        out.append(f"| {m['name']} | {m['target'] or 'all targets'} | `{m['path']}` |")
    agg = rep["aggregates"]["rows"]
    if any(r[k] is not None for r in agg for k in AGGREGATE_PARTS):
        out += ["", "## Aggregates (paper Table 6)", "", rep["aggregates"]["definition"] + ".", ""]
        out.append("| Model | " + " | ".join(AGGREGATE_TITLES[k] for k in AGGREGATE_PARTS) + " |")
        out.append("|---|" + "---|" * len(AGGREGATE_PARTS))
        for r in agg:
            cells = [_fmt(r[k], r["delta"][k] if r["model"] != rep["baseline"] else None, lo=_get(r, "ci_low", k),
                          hi=_get(r, "ci_high", k), p=_get(r, "p_value", k)) for k in AGGREGATE_PARTS]
            out.append(f"| {r['model']} | " + " | ".join(cells) + " |")
        used = {k: sorted({c for r in agg for c in r["components"][k]}) for k in AGGREGATE_PARTS}
        partial = [f"{AGGREGATE_TITLES[k]} from {', '.join(v) or 'nothing'}" for k, v in used.items()
                   if k.startswith("nlg") and len(v) < 3]
        if partial:
            out += ["", "Partial aggregates (tasks not run): " + "; ".join(partial) + "."]
    current = None
    for t in rep["tables"]:
        if t["task"] != current:
            current = t["task"]
            out += ["", f"## {TITLES[current]}"]
        digits = _digits(t["metric"])
        out += ["", f"### {t['title']}", ""]
        out.append("| Model | " + " | ".join(column_code(c) for c in t["columns"]) + " | AVG |")
        out.append("|---|" + "---|" * (len(t["columns"]) + 1))
        for r in t["rows"]:
            is_base = r["model"] == rep["baseline"]
            cells = [_fmt(r["values"][c], None if is_base else r["delta"][c], digits, lo=_get(r, "ci_low", c),
                          hi=_get(r, "ci_high", c), p=_get(r, "p_value", c), n=_get(r, "n", c))
                     for c in t["columns"]]
            cells.append(_fmt(r["avg"], None if is_base else r["delta_avg"], digits, lo=r.get("avg_ci_low"),
                              hi=r.get("avg_ci_high"), p=r.get("p_value_avg"), n=r.get("avg_n"))
                         + ("*" if r.get("partial") else ""))
            out.append(f"| {r['model']} | " + " | ".join(cells) + " |")
        out += _table_notes(t, rep["baseline"], digits)
    if any(r.get("partial") for t in rep["tables"] for r in t["rows"]):
        out += ["", "\\* average over the languages this model was evaluated on; its difference to the baseline is "
                    "taken on those languages only (the aggregates likewise)."]
    if rep.get("offtarget_epochs"):  # train.export_every_epoch: paper App. E, Fig. 3
        out += epochs.markdown(rep["offtarget_epochs"], _fmt)
    if with_stats:
        out += ["", "## Statistics", ""] + [f"- {rep['statistics'][k]}." for k in ("interval", "test", "mde")]
        if "alignment" in rep["tasks"]:
            out.append(f"- {rep['statistics']['alignment']}.")
    out += ["", "## Scoring details", ""]
    b = rep["bleu"]
    if b["signatures"]:
        out.append(f"- BLEU signatures: {'; '.join(f'`{s}`' for s in b['signatures'])} "
                   f"(paper: `{b['paper_signature']}`)")
        out.append(f"- chrF++ signatures: {'; '.join(f'`{s}`' for s in b['chrf_signatures'])}")
    for note in b["notes"]:
        out.append(f"- BLEU fallback: {note}; such BLEU is not comparable with the paper's")
    for model in b.get("comet_models", []):
        out.append(f"- COMET model: {model}")
    trunc = [u for u in rep["units"] if u.get("truncated_prompts")]
    if trunc:
        out.append("- prompts truncated to fit the model: " + ", ".join(
            f"{u['model']} {u['task']}/{u['unit']} {u['truncated_prompts']}/{u['n']}" for u in trunc))
    skipped = {(u["task"], u["unit"]): u["skipped"] for u in rep["units"] if u.get("skipped")}
    if skipped:
        out.append("- items without ground truth, skipped: "
                   + ", ".join(f"{t}/{u} {n}" for (t, u), n in sorted(skipped.items())))
    unjudged = [u for u in rep["units"] if u.get("unjudged")]
    if unjudged:
        out.append("- off-target: responses without letters, not judged: " + ", ".join(
            f"{u['model']} {u['unit']} {u['unjudged']}/{u['n']}" for u in unjudged))
    missing = [u for u in rep["units"] if u.get("missing_predictions")]
    if missing:
        out.append("- no predictions saved for: " + ", ".join(f"{u['model']} {u['task']}/{u['unit']}" for u in missing))
    for note in rep["notes"]:
        out.append(f"- {note}")
    c = rep.get("contamination")
    if c:
        out += ["", "## Contamination", ""]
        out.append(f"Evaluation items checked against {c['texts_scanned']['transfer_set']} transfer-set texts and "
                   f"{c['texts_scanned']['instructions']} instruction texts: exact match or a shared "
                   f"{c['method']['ngram']}-word / {c['method']['char_ngram']}-character n-gram. "
                   f"Flagged: {c['flagged']} of {c['eval_items']}.")
        if c["by_unit"]:
            out += ["", "| Task/unit | Flagged | Exact | n-gram | Items | Examples |", "|---|---|---|---|---|---|"]
            for key, u in sorted(c["by_unit"].items()):
                ex = ", ".join(i["item_id"] for i in u["items"][:5]) + (" ..." if len(u["items"]) > 5 else "")
                out.append(f"| {key} | {u['flagged']} | {u['exact']} | {u['ngram']} | {u['of']} | {ex} |")
            out.append("")
        for note in c["notes"]:
            out.append(f"- {note}")
    if rep["plots"]:
        out += ["", "## Plots", ""] + image_lines(rep["plots"])
    return "\n".join(out) + "\n"


def write(out: Out, rep: dict, vectors: Optional[dict] = None, plots: bool = True) -> None:
    """``OUT/report.json``, ``OUT/report.md`` and (``plots``) ``OUT/plots/*.png``, local or on object storage."""
    if plots:
        with tempfile.TemporaryDirectory() as tmp:
            names = plot(tmp, rep, vectors)
            drawn, present = run_plots(tmp, out)  # the run's own: loss, transfer-set funnel and timeline
            for name in names + drawn:
                storage.upload(os.path.join(tmp, name), out.plot(name))
        rep["plots"] = [f"{PLOTS}/{name}" for name in present + drawn + names]
    storage.write_json(out.report_json, rep)
    storage.write_text(out.report_md, to_markdown(rep))
