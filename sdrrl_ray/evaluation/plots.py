"""The evaluation report's plots: one bar chart per task, the Table 6 aggregates, and the
representation-alignment scatter (PCA of parallel sentences' last-token hidden states)."""

from __future__ import annotations

import math
import os
from typing import Optional

from sdrrl_ray.evaluation.common import AGGREGATE_PARTS, AGGREGATE_TITLES, column_code


def _bars(ax, table: dict) -> None:
    import numpy as np

    cols = table["columns"] + ["AVG"]
    rows = table["rows"]
    width = 0.8 / max(1, len(rows))
    x = np.arange(len(cols))
    for k, r in enumerate(rows):
        vals = [r["values"].get(c) for c in table["columns"]] + [r["avg"]]
        ax.bar(x + k * width - 0.4 + width / 2, [v if v is not None else 0 for v in vals], width, label=r["model"])
    ax.set_xticks(x)
    ax.set_xticklabels([column_code(c) if c != "AVG" else c for c in cols])
    ax.set_title(table["title"], fontsize=8)
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
            ax.bar(np.arange(len(keys)) + i * width - 0.4 + width / 2, [r[k] or 0 for k in keys], width,
                   label=r["model"])
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
    return files


