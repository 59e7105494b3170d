"""The report's statistics: n, 95% intervals, paired tests against the baseline, detectable differences.

:func:`annotate` adds to the report built by :func:`.report.build`, from the per-item evidence that the
tasks' ``score`` functions return (:class:`.stats.Sample`, collected by :func:`.run.score_all`):

- each result row: ``n`` (the items the metric is over), ``ci_low`` / ``ci_high`` (95%, the metric's
  scale), ``ci_method`` (``wilson`` | ``bootstrap``) and, for a model other than the baseline,
  ``p_value`` / ``p_test`` (``mcnemar`` | ``paired bootstrap``) of its difference to the baseline on
  the same unit, computed on the items both models answered;
- each table row: the same per column (``n``, ``ci_low``, ``ci_high``, ``p_value``: dicts keyed like
  ``values``) and for the AVG (``avg_n``, ``avg_ci_low``, ``avg_ci_high``, ``p_value_avg``): for rates
  the Wilson interval at the effective n (:func:`.stats.weighted_wilson`), otherwise a stratified
  bootstrap, each language's items resampled on their own, the average recomputed; the AVG's test is
  always the stratified paired bootstrap;
- each table: ``mde``, per column the smallest difference to the baseline that its n detects
  (:func:`.stats.mde`), and ``ci_method`` / ``p_test``;
- each aggregate row: ``ci_low`` / ``ci_high`` / ``p_value`` per aggregate, by the same stratified
  bootstrap over every language of every benchmark the aggregate averages.

Without samples (tables built from bare numbers) everything here is None.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from sdrrl_ray.evaluation import stats
from sdrrl_ray.evaluation.common import AGGREGATE_PARTS

STATS_NOTE = {
    "interval": "95% interval: Wilson score interval for accuracies and rates (per item 0/1); percentile "
                f"bootstrap over items ({stats.RESAMPLES} resamples, fixed seed) for corpus metrics (BLEU, chrF++, "
                "ROUGE, F1, COMET, cosine), the metric recomputed on each resample by the report's own scorer; AVG and "
                "aggregates: for rates the Wilson interval at the effective n (1 / sum of w^2 / n over the "
                "languages), otherwise the bootstrap with each language's items resampled on their own",
    "test": "difference to the baseline: exact McNemar test (two-sided binomial on the items only one model "
            "gets right) for 0/1-per-item metrics, paired bootstrap (both models on the same resampled items, "
            "two-sided; never below 2 / 2^n, the least an exact test on n paired items can give) otherwise; both on "
            "the items both models answered; AVG and aggregates: the paired bootstrap with each language's items "
            "resampled on their own",
    "mde": "smallest detectable difference (alpha 0.05 two-sided, power 0.8): (z_0.975 + z_0.8) * sqrt(2) * SE, "
           "the two-sample normal approximation; SE = sqrt(p (1 - p) / n) at the baseline's observed rate for "
           "accuracies and rates (p = 0.5 when that rate is 0 or 1), the bootstrap standard deviation of the "
           "baseline's score otherwise; it ignores the pairing, so the paired tests may detect somewhat less",
    "alignment": "alignment top-1: the interval is over sentence pairs with the retrieval candidates held fixed",
}


def _f(v) -> Optional[float]:
    return None if v is None else float(v)


def _ci(dist) -> tuple[Optional[float], Optional[float]]:
    if dist is None or len(dist) == 0:
        return None, None
    lo, hi = np.percentile(dist, [2.5, 97.5])
    return float(lo), float(hi)


def _average_ci(boot: stats.Bootstrap, parts: list) -> tuple[Optional[float], Optional[float]]:
    """95% interval of sum(w * metric) over parts (stratum, w, sample, None)."""
    if not parts or any(p[2] is None for p in parts):
        return None, None
    wil = stats.weighted_wilson([(w, s) for _, w, s, _ in parts])
    if wil is not None:
        return wil
    res = boot.weighted(parts)
    return _ci(res[1]) if res else (None, None)


def annotate(tables: list[dict], agg_rows: list[dict], results: list[dict], samples: dict, cells: dict,
             baseline: str, base_key: Callable[[dict], Optional[tuple]],
             boot: Optional[stats.Bootstrap] = None) -> None:
    """Add the statistics (module docstring) in place.

    ``samples``: (model key, task, unit, metric) -> Sample; ``cells``: (task, metric, side, model, column) ->
    that sample key; ``base_key(result row)``: the baseline's sample key for the same unit and metric."""
    boot = boot or stats.Bootstrap()
    samples = samples or {}

    def cell(t: dict, model: str, col: str):
        key = cells.get((t["task"], t["metric"], t["side"], model, col))
        return (key, samples.get(key)) if key else (None, None)

    for row in results:
        key = (row["model_key"], row["task"], row["unit"], row["metric"])
        s, stratum = samples.get(key), (row["task"], row["unit"])
        lo, hi, method = stats.interval(s, boot, stratum) if s is not None else (None, None, "")
        row.update(n=s.n if s is not None else row.get("n"), ci_low=_f(lo), ci_high=_f(hi), ci_method=method or None)
        bkey = base_key(row)
        b = samples.get(bkey) if bkey else None
        p, test = (None, "")
        if s is not None and b is not None and bkey != key:
            p, test = stats.paired_test(s, b, boot, stratum)
        row.update(p_value=_f(p), p_test=test or None)

    for t in tables:
        kinds = set()
        t["mde"] = {}
        for r in t["rows"]:
            is_base = r["model"] == baseline
            r.update(n={}, ci_low={}, ci_high={}, p_value={})
            own, paired = [], []
            present = [c for c in t["columns"] if r["values"][c] is not None]
            for c in t["columns"]:
                key, s = cell(t, r["model"], c)
                _, b = cell(t, baseline, c)
                stratum = (t["task"], key[2]) if key else None
                lo = hi = p = None
                if s is not None and r["values"][c] is not None:
                    kinds.add(s.kind)
                    lo, hi, _ = stats.interval(s, boot, stratum)
                    if not is_base and b is not None:
                        p, _ = stats.paired_test(s, b, boot, stratum)
                r["n"][c] = s.n if s is not None and r["values"][c] is not None else None
                r["ci_low"][c], r["ci_high"][c], r["p_value"][c] = _f(lo), _f(hi), _f(p)
                if c in present:
                    own.append((stratum, 1.0, s, None))
                    if b is not None and r["delta"].get(c) is not None:
                        paired.append((stratum, 1.0, s, b))
                if is_base and s is not None and r["values"][c] is not None:
                    t["mde"][c] = _f(stats.mde(s, boot, stratum))
            r["avg_ci_low"], r["avg_ci_high"] = _average_ci(boot, [(k, 1 / len(own), a, None) for k, _, a, _ in own])
            distinct = {id(a): a.n for _, _, a, _ in own if a is not None}
            r["avg_n"] = sum(distinct.values()) if r["avg_ci_low"] is not None else None
            r["p_value_avg"] = None
            if not is_base and paired and len(paired) == len([c for c in present if r["delta"].get(c) is not None]):
                r["p_value_avg"] = _f(boot.weighted_p([(k, 1 / len(paired), a, b) for k, _, a, b in paired]))
        t["ci_method"] = "wilson" if kinds == {stats.BINARY} else ("bootstrap" if kinds else None)
        t["p_test"] = "mcnemar" if kinds == {stats.BINARY} else ("paired bootstrap" if kinds else None)
        t["mde"] = {c: t["mde"][c] for c in t["columns"] if c in t["mde"]}

    by_table = {(t["task"], t["metric"], t["side"]): t for t in tables}
    for r in agg_rows:
        r.update(ci_low={}, ci_high={}, p_value={})
        for k, comps in AGGREGATE_PARTS.items():
            used = [c for c in comps if c[0] in r["components"][k] and c in by_table]
            own, paired = [], []
            for comp in used:
                t = by_table[comp]
                rows = {x["model"]: x for x in t["rows"]}
                cols = [c for c in t["columns"] if rows.get(r["model"], {}).get("values", {}).get(c) is not None]
                for c in cols:
                    key, s = cell(t, r["model"], c)
                    _, b = cell(t, baseline, c)
                    stratum = (t["task"], key[2]) if key else None
                    own.append((stratum, 1 / (len(used) * len(cols)), s, None))
                    paired.append((stratum, 1 / (len(used) * len(cols)), s, b))
            ok = bool(own) and all(p[2] is not None for p in own) and r[k] is not None
            r["ci_low"][k], r["ci_high"][k] = _average_ci(boot, own) if ok else (None, None)
            p = None
            comparable = r["model"] != baseline and r["delta"].get(k) is not None
            if ok and comparable and all(x[3] is not None for x in paired):
                p = _f(boot.weighted_p(paired))
            r["p_value"][k] = p
