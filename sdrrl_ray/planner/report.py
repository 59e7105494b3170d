"""Render a plan dict as readable tables (stdout) and one-line JSON."""

from __future__ import annotations

import json
import math
import os
import re

from sdrrl_ray.schema import MT, SUBSETS


def _n(x: float) -> str:
    """Compact number: 1,234 / 12.3k / 4.56M / 7.89B."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e4, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}" if div > 1e4 else f"{x / 1e3:.1f}k"
    return f"{x:,.0f}" if abs(x) >= 10 else f"{x:.3g}"


def _h(x: float) -> str:
    return f"{x:.3g}" if x >= 0.01 else f"{x:.2g}"


def _usd(x: float) -> str:
    return f"${x:,.2f}" if x >= 1 else f"${x:.2g}"


def _short(source: str) -> str:
    """'config corpus', 'demo data', 'built-in sample' or 'measured' from a ratio's source."""
    if source.startswith("measured"):
        return "measured (limit=N)"
    return re.split(r" [/(]", source)[0]


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def render(plan: dict) -> str:
    src, node = plan["source"], plan["node"]
    out = [f"sdrrl plan: {src['items']} items ({src['records']} records"
           + (f", rejected {src['rejected']}" if src["rejected"] else "") + f"), node {node['name']} "
           f"({node['devices']} x {node['device']}, ${node['price_per_hour']:.4g}/h)"
           + ("  [CALIBRATED]" if plan["calibrated"] else ""),
           f"tokenizer: {plan['tokenizer']}"]
    params = ", ".join(f"{k} {v['value'] / 1e6:.4g}M ({v['source']})" for k, v in plan["params"].items())
    out.append(f"parameters: {params}")
    out.append("")
    out.append("Tokens per language (source: English counts of the instruction set; targets: ratio x English)")
    rows = [[src["lang"] + " (source)", "1", "-", _n(src["question_tokens"]),
             f"{_n(src['gold_answer_tokens'])} gold + {src['self_answers']} self x {src['self_answer_tokens']:.0f}",
             "-", "-", "-"]]
    for k, (lang, t) in enumerate(plan["languages"].items(), start=1):
        rows.append([lang, f"{t['ratio']:.2f}", f"[{k}] {_short(t['ratio_source'])}", _n(t["question_tokens"]),
                     _n(t["answer_tokens"]), _n(t["rows"]), _n(t["tokens"]), _n(t["train_tokens"])])
    out.append(table(rows, ["lang", "ratio", "ratio from", "questions tok", "answers tok", "rows", "tokens",
                            "train tok (x epochs)"]))
    for k, (lang, t) in enumerate(plan["languages"].items(), start=1):
        out.append(f"  [{k}] {lang}: {t['ratio_source']}")
        if not t["subsets"].get(MT, {}).get("rows") and t.get("parallel_note"):
            out.append(f"      {lang} parallel tasks: {t['parallel_note']}")
        cs = t["code_switch"]
        if "none" in (cs["src_dict"], cs["tgt_dict"]):
            out.append(f"      {lang} code-switching: no dictionary for a direction here (code_switch.dictionaries)")
    out.append(f"  self answers: {src['self_answer_tokens']:.1f} tokens each ({src['self_answer_tokens_source']}); "
               f"template +{src['template_tokens_per_row']} tokens/row; rows cut at {src['max_length']} tokens")
    out.append("")
    out.append("Transfer set per target (rows / tokens)")
    names = list(SUBSETS)
    rows = []
    for lang, t in plan["languages"].items():
        cells = [f"{_n(t['subsets'][s]['rows'])} / {_n(t['subsets'][s]['tokens'])}" if s in t["subsets"] else "-"
                 for s in names]
        cs = t["code_switch"]
        rows.append([lang, *cells, f"{_n(cs['questions'])} ({cs['src_dict']} x{cs['src_token_factor']:.3f}, "
                                   f"{cs['tgt_dict']} x{cs['tgt_token_factor']:.3f})", f"{t['padding_factor']:.2f}"])
    out.append(table(rows, ["lang", *names, "code-switched questions (dict, token factor)", "padding"]))
    out.append("")
    out.append(f"Phases on {node['name']} ({node['unit']}; cost = hours / {node['devices']} per node x "
               f"${node['price_per_hour']:.4g}/h)")
    rows = []
    for name, p in plan["phases"].items():
        rows.append([name, p["work"], _n(p["tokens"]), f"{_n(p['rate']['tokens_per_s'])}/s", _h(p["device_hours"]),
                     _h(p["node_hours"]), _usd(p["cost_usd"]), _h(p["wall_hours"])])
    tot = plan["total"]
    rows.append(["total", "", "", "", _h(tot["device_hours"]), _h(tot["node_hours"]), _usd(tot["cost_usd"]),
                 _h(tot["wall_hours"])])
    out.append(table(rows, ["phase", "work", "tokens", "rate/device", "device-h", "node-h", "cost", "wall-h"]))
    run = plan.get("run_phases")
    if run:
        out.append("")
        where = f"start-up: {os.path.basename(run['source'])}" if run["source"] else "start-up not modelled"
        out.append(f"Wall time per phase of the run: per-token time + start-up ({where})")
        rows = [[name, f"{p['work_s']:,.0f} s", "-" if p["startup_s"] is None else f"{p['startup_s']:,.0f} s",
                 f"{p['total_s']:,.0f} s"] for name, p in run["phases"].items()]
        if run["ray_s"] is not None:
            rows.append(["Ray start + stop", "", f"{run['ray_s']:,.0f} s", f"{run['ray_s']:,.0f} s"])
        total = run["predicted_total_s"]
        rows.append(["total", "", "", f"{total:,.0f} s ({total / 3600:.3g} h)"])
        out.append(table(rows, ["phase", "per-token", "start-up", "wall"]))
    out.append("")
    out.append("Rate sources")
    for name, p in plan["phases"].items():
        out.append(f"  {name}: {p['rate']['source']} -- {p['rate']['detail']}")
    out.append(f"Price: {node['price_source']}")
    out.append("Notes")
    out += [f"  - {n}" for n in plan["notes"]]
    return "\n".join(out)


def to_json(plan: dict) -> str:
    return json.dumps(plan, default=_default, sort_keys=True)


def _default(obj):
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(obj)
