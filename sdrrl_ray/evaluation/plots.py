"""The evaluation report's plots: one bar chart per task, the Table 6 aggregates, the
representation-alignment scatter (PCA of parallel sentences' last-token hidden states) and, with
``train.export_every_epoch``, the off-target rate per epoch (:mod:`.epochs`).

Bars carry their 95% intervals as error bars; a multiple-choice task's chance level is a dashed line;
a panel whose metric is 0 for every model shows that sentence instead of an empty axis."""

from __future__ import annotations

import math
import os
from typing import Optional

from sdrrl_ray.evaluation import epochs
from sdrrl_ray.evaluation.common import AGGREGATE_PARTS, AGGREGATE_TITLES, column_code


def _errors(vals: list, lows: list, highs: list):
    """Asymmetric error bars (2, n) from intervals; None where a bar has no interval (or no value)."""
    if all(lo is None for lo in lows):
        return None
    below = [v - lo if v is not None and lo is not None else 0 for v, lo in zip(vals, lows)]
    above = [hi - v if v is not None and hi is not None else 0 for v, hi in zip(vals, highs)]
    return [[max(0.0, b) for b in below], [max(0.0, a) for a in above]]


def _bars(ax, table: dict) -> None:
    import numpy as np

    ax.set_title(table["title"], fontsize=8)
    if table.get("all_zero"):
        ax.text(0.5, 0.5, table.get("all_zero_note") or "0 for every model", ha="center", va="center", wrap=True,
                fontsize=8, transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    cols = table["columns"] + ["AVG"]
    rows = table["rows"]
    width = 0.8 / max(1, len(rows))
    x = np.arange(len(cols))
    for k, r in enumerate(rows):
        vals = [r["values"].get(c) for c in table["columns"]] + [r["avg"]]
        lows = [(r.get("ci_low") or {}).get(c) for c in table["columns"]] + [r.get("avg_ci_low")]
        highs = [(r.get("ci_high") or {}).get(c) for c in table["columns"]] + [r.get("avg_ci_high")]
        ax.bar(x + k * width - 0.4 + width / 2, [v if v is not None else 0 for v in vals], width, label=r["model"],
               yerr=_errors(vals, lows, highs), capsize=2, error_kw={"elinewidth": 0.8})
    if table.get("chance") is not None:
        ax.axhline(table["chance"], linestyle="--", color="0.3", linewidth=1, label=f"chance ({table['chance']:g})")
    ax.set_xticks(x)
    ax.set_xticklabels([column_code(c) if c != "AVG" else c for c in cols])
    ax.legend(fontsize=7)


def plot(folder: str, rep: dict, vectors: Optional[dict]) -> list[str]:
    """Draw every plot into the local ``folder``; return the file names."""
    from matplotlib.figure import Figure

    files = []
    for task in rep["tasks"]:
        tables = [t for t in rep["tables"] if t["task"] == task]
        if not tables:
            continue
        fig = Figure(figsize=(5 * min(len(tables), 2), 3.2 * math.ceil(len(tables) / 2)))
        for i, t in enumerate(tables):
            _bars(fig.add_subplot(math.ceil(len(tables) / 2), min(len(tables), 2), i + 1), t)
        fig.tight_layout()
        path = os.path.join(folder, f"{task}.png")
        fig.savefig(path, dpi=90)
        files.append(os.path.basename(path))
    agg = rep["aggregates"]["rows"]
    keys = [k for k in AGGREGATE_PARTS if any(r[k] is not None for r in agg)]
    if keys:
        import numpy as np

        fig = Figure(figsize=(6, 3.2))
        ax = fig.add_subplot(1, 1, 1)
        width = 0.8 / max(1, len(agg))
        for i, r in enumerate(agg):
            vals = [r[k] for k in keys]
            ax.bar(np.arange(len(keys)) + i * width - 0.4 + width / 2, [v or 0 for v in vals], width,
                   label=r["model"], capsize=2, error_kw={"elinewidth": 0.8},
                   yerr=_errors(vals, [(r.get("ci_low") or {}).get(k) for k in keys],
                                [(r.get("ci_high") or {}).get(k) for k in keys]))
        chance = rep["aggregates"].get("chance") or {}
        for j, k in enumerate(keys):
            if chance.get(k) is not None:  # NLU is BELEBELE accuracy: its chance level over its bars only
                ax.hlines(chance[k], j - 0.45, j + 0.45, linestyles="dashed", colors="0.3", linewidth=1,
                          label="chance" if j == min(i for i, kk in enumerate(keys) if kk in chance) else None)
        ax.set_xticks(np.arange(len(keys)))
        ax.set_xticklabels([AGGREGATE_TITLES[k] for k in keys])
        ax.set_title("Table 6 aggregates", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = os.path.join(folder, "aggregates.png")
        fig.savefig(path, dpi=90)
        files.append(os.path.basename(path))
    if vectors:
        from sdrrl_ray.evaluation.metrics.alignment import pca_2d

        by_unit: dict = {}
        for (model_key, unit), v in sorted(vectors.items()):
            by_unit.setdefault(unit, []).append((model_key, v))
        for unit, panels in by_unit.items():
            fig = Figure(figsize=(3.6 * len(panels), 3.4))
            lang = unit.split("-")[0]
            for i, (model_key, v) in enumerate(panels):
                ax = fig.add_subplot(1, len(panels), i + 1)
                px, pe = pca_2d(v["x"], v["en"])
                for a, b in zip(px, pe):
                    ax.plot([a[0], b[0]], [a[1], b[1]], color="0.85", linewidth=0.6, zorder=1)
                ax.scatter(pe[:, 0], pe[:, 1], c="red", s=12, label="English", zorder=2)
                ax.scatter(px[:, 0], px[:, 1], c="blue", s=12, label=column_code(lang), zorder=2)
                ax.set_title(f"{model_key}", fontsize=9)
                ax.legend(fontsize=7)
            fig.suptitle(f"Last-token hidden states, PCA ({unit})", fontsize=9)
            fig.tight_layout()
            path = os.path.join(folder, f"alignment_{unit}.png")
            fig.savefig(path, dpi=90)
            files.append(os.path.basename(path))
    if rep.get("offtarget_epochs"):  # train.export_every_epoch (paper Fig. 3)
        name = epochs.plot(folder, rep["offtarget_epochs"])
        files += [name] if name else []
    return files


