"""The comparison report of ``sdrrl compare``: one row per arm, the mean over its seeds.

Input: the evidence of one evaluation run over every (arm, seed) model and the base
(:func:`.run.run_eval` ``evidence=``), and which model belongs to which arm. Each arm's cell pools its
seeds' per-item evidence (:func:`.stats.pool_seeds`: the per-item mean over seeds, or the mean of the
seeds' corpus scores), so its interval is a bootstrap over items and its test against the reference
arm is paired on the same items. The rows then go through the evaluation report itself
(:func:`.report.build`: the paper's tables per language, Table 6 aggregates, plots).
"""

from __future__ import annotations

import statistics
from typing import Optional

from sdrrl_ray.evaluation import report, stats
from sdrrl_ray.evaluation.run import ModelEntry


def pool(evidence: dict, members: dict[str, str], paths: Optional[dict] = None
         ) -> tuple[list[ModelEntry], list[dict], dict, dict]:
    """(row entries, pooled results, pooled samples, per-cell info) from per-model ``evidence``;
    ``members`` maps each evaluated model's name to its row (an arm, or ``base``); ``paths``: row -> folder."""
    groups: dict[tuple, list[dict]] = {}
    for r in evidence["results"]:
        row = members.get(r["model"])
        if row is not None:
            groups.setdefault((row, r["model_target"], r["task"], r["unit"], r["metric"]), []).append(r)
    entries: dict[tuple, ModelEntry] = {}
    results, samples, info = [], {}, {}
    for (row, target, task, unit, metric), rows in groups.items():
        entry = entries.setdefault((row, target), ModelEntry(row, (paths or {}).get(row, ""), target))
        found = [evidence["samples"].get((r["model_key"], task, unit, metric)) for r in rows]
        seed_values = [r["value"] for r in rows]
        if all(s is not None for s in found):
            pooled = stats.pool_seeds(found)
            value, n = pooled.score(), pooled.n
            samples[(entry.key, task, unit, metric)] = pooled
        else:
            known = [v for v in seed_values if v is not None]
            value, n = (statistics.fmean(known) if known else None), min(r["n"] for r in rows)
        spread = statistics.stdev(seed_values) if len(seed_values) > 1 and None not in seed_values else None
        first = rows[0]
        results.append(dict(model=row, model_target=target, model_key=entry.key, task=task, unit=unit,
                            lang=first["lang"], side=first["side"], column=first["column"], metric=metric,
                            value=value, n=n, seeds=len(rows), seed_values=seed_values, seed_sd=spread,
                            members=[r["model_key"] for r in rows]))
        info[(entry.key, task, unit)] = {"n": n, "seeds": len(rows)}
    return list(entries.values()), results, samples, info


def pooled_report(cfg, evidence: dict, members: dict[str, str], reference: str, *, seeds: list,
                  notes: Optional[list] = None, seconds: float = 0.0, paths: Optional[dict] = None) -> dict:
    """The comparison report (same layout as the evaluation report), rows = ``base`` and the arms."""
    entries, results, samples, info = pool(evidence, members, paths)
    order = list(dict.fromkeys(members.values()))
    entries.sort(key=lambda e: (order.index(e.name), e.target or ""))
    notes = list(notes or []) + [
        f"each arm's row is the mean over seeds {list(seeds)}; its 95% interval is a bootstrap over items with "
        "the seeds' predictions pooled per item (seed-to-seed spread: seed_sd in results); deltas and tests are "
        f"against the reference arm '{reference}' on the same items",
    ]
    rep = report.build(cfg, entries, list(evidence["tasks"]), list(evidence["targets"]), results, info,
                       evidence.get("contamination"), reference, notes, seconds=seconds,
                       data_dir=evidence["data_dir"], samples=samples)
    rep["title"] = "SDRRL comparison"
    rep["seeds"] = list(seeds)
    rep["reference"] = reference
    return rep
