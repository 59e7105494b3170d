"""Plots of the run itself for ``OUT/report.md``, drawn from ``OUT/manifest.json`` (transfer-set phase):

- ``funnel.png``: rows in / out / rejected per stage (each stage in its own unit) and the reject reasons;
- ``timeline.png``: the transfer set's Ray Data operators over the last run's wall clock
  (``execution_last_run.operators``: start, end, tasks, rows out).

The training loss plot (``plots/loss.png``) is drawn by the train phase (:mod:`sdrrl_ray.train.metrics`);
:func:`run_plots` lists it when it is there, so the report embeds it with the others.
"""

from __future__ import annotations

import os
from typing import Optional

from sdrrl_ray import storage
from sdrrl_ray.layout.paths import Out

LOSS_PLOT = "loss.png"


def plot_funnel(folder: str, manifest: dict) -> Optional[str]:
    """Rows per stage (in, out; rejected in red) and reject reasons; the file name, or None without stages."""
    from matplotlib.figure import Figure

    stages = manifest.get("stages") or {}
    if not stages:
        return None
    reasons = sorted((manifest.get("reject_reasons") or {}).items(), key=lambda kv: kv[1])
    names = list(stages)
    fig = Figure(figsize=(10 if reasons else 6, 0.45 * max(len(names), len(reasons)) + 1.4))
    ax = fig.add_subplot(1, 2 if reasons else 1, 1)
    ys = list(range(len(names)))[::-1]
    outs = [int(stages[n].get("out") or 0) for n in names]
    rejected = [int(stages[n].get("rejected") or 0) for n in names]
    ax.barh(ys, outs, color="#1f3b73", label="out")
    ax.barh(ys, rejected, left=outs, color="#c00000", label="rejected")
    for y, n, o, r in zip(ys, names, outs, rejected):
        ax.text(o + r, y, f" {o}" + (f" (-{r})" if r else ""), va="center", fontsize=7)
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{n} [{stages[n].get('unit', '')}]" for n in names], fontsize=7)
    ax.set_xlabel("rows (each stage in its own unit)")
    ax.set_title(f"Transfer set: {manifest.get('rows_in', '?')} in, {manifest.get('rows_written', '?')} written",
                 fontsize=9)
    ax.margins(x=0.15)
    ax.legend(fontsize=7, loc="lower right")
    if reasons:
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.barh(range(len(reasons)), [v for _, v in reasons], color="#c00000")
        ax2.set_yticks(range(len(reasons)))
        ax2.set_yticklabels([k for k, _ in reasons], fontsize=7)
        for y, (_, v) in enumerate(reasons):
            ax2.text(v, y, f" {v}", va="center", fontsize=7)
        ax2.margins(x=0.15)
        ax2.set_title("reject reasons", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(folder, "funnel.png"), dpi=90)
    return "funnel.png"


def plot_timeline(folder: str, manifest: dict) -> Optional[str]:
    """One bar per Ray Data operator from its first task's start to its last task's end (seconds into the run)."""
    from matplotlib.figure import Figure

    ex = manifest.get("execution_last_run") or {}
    ops = [o for o in ex.get("operators") or [] if o.get("start_s") is not None and o.get("end_s") is not None]
    if not ops:
        return None
    fig = Figure(figsize=(9, 0.35 * len(ops) + 1.3))
    ax = fig.add_subplot(1, 1, 1)
    ys = list(range(len(ops)))[::-1]
    for y, o in zip(ys, ops):
        start, end = float(o["start_s"]), float(o["end_s"])
        ax.barh(y, max(end - start, 0.02), left=start, color="#1f3b73")
        ax.text(end, y, f" {o.get('tasks', '?')} tasks, {o.get('rows_out', '?')} rows", va="center", fontsize=6)
    ax.set_yticks(ys)
    ax.set_yticklabels([o["name"] if len(o["name"]) <= 36 else o["name"][:33] + "..." for o in ops], fontsize=6)
    ax.set_xlabel("seconds into the transfer-set run")
    ax.set_title(f"Transfer-set operators (last run, {ex.get('seconds', '?')} s)", fontsize=9)
    ax.margins(x=0.2)
    fig.tight_layout()
    fig.savefig(os.path.join(folder, "timeline.png"), dpi=90)
    return "timeline.png"


def run_plots(folder: str, out: Out) -> tuple[list[str], list[str]]:
    """(files drawn into the local ``folder``, plots already in ``OUT/plots`` to list: the loss plot)."""
    manifest = storage.read_json(out.manifest) or {}
    drawn = [name for name in (plot_funnel(folder, manifest), plot_timeline(folder, manifest)) if name]
    present = [LOSS_PLOT] if storage.exists(out.plot(LOSS_PLOT)) else []
    return drawn, present


def image_lines(paths: list[str]) -> list[str]:
    """Markdown image links (``![loss](plots/loss.png)``), one paragraph each."""
    lines: list[str] = []
    for p in paths:
        lines += [f"![{os.path.splitext(os.path.basename(p))[0]}]({p})", ""]
    return lines
