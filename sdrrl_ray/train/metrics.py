"""``OUT/train_log.jsonl`` (one JSON record per line) and the loss-curve plot.

Records carry ``event`` (start | step | eval (epoch end) | eval_step (train.eval_every_steps) |
checkpoint | export | epoch_export (train.export_every_epoch) |
end | damaged_checkpoint: one passed over on resume), ``run`` and ``target``.
A step repeated after a restore appears twice; readers keep the last record per (run, step).
On a local or NFS ``OUT`` rank 0 appends and flushes each record; on an object store (s3://, gs://)
it rewrites a per-attempt part file ``train_log.jsonl.parts/<attempt>.jsonl`` at each checkpoint,
and :func:`merge_parts` folds the parts into ``train_log.jsonl`` after the run.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Iterable, Optional

from sdrrl_ray import storage


def _is_remote(url: str) -> bool:
    return storage.is_remote_url(url) and not url.startswith("file://")


class JsonlLog:
    def __init__(self, url: str, common: Optional[dict] = None):
        self.url = url
        self.common = dict(common or {})
        self.remote = _is_remote(url)
        self.lines: list[str] = []
        self.part = f"{url}.parts/{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.jsonl"
        if not self.remote:
            path = url[len("file://"):] if url.startswith("file://") else url
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self.fh = open(path, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        line = json.dumps({**self.common, **record, "time": round(time.time(), 3)}, ensure_ascii=False)
        if self.remote:
            self.lines.append(line)
        else:
            self.fh.write(line + "\n")
            self.fh.flush()

    def flush(self) -> None:
        if self.remote and self.lines:
            fs, path = storage.url_to_fs(self.part)
            with fs.open(path, "w") as fh:  # one PUT: a reader sees the whole part or none of it
                fh.write("\n".join(self.lines) + "\n")

    def close(self) -> None:
        self.flush()
        if not self.remote:
            self.fh.close()


def merge_parts(url: str) -> None:
    """Append the remote part files to ``url`` and remove them (no-op for a local log)."""
    if not _is_remote(url):
        return
    fs, path = storage.url_to_fs(url)
    parts = sorted(fs.glob(f"{path}.parts/*.jsonl"))
    if not parts:
        return
    old = fs.cat_file(path).decode() if fs.exists(path) else ""
    new = "".join(fs.cat_file(p).decode() for p in parts)
    with fs.open(path, "w") as fh:
        fh.write(old + new)
    for p in parts:
        fs.rm(p)


def read_log(url: str) -> list[dict]:
    fs, path = storage.url_to_fs(url)
    if not fs.exists(path):
        return []
    with fs.open(path, "r") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def last_per_step(records: Iterable[dict], run: str) -> list[dict]:
    """The final record of each step of ``run`` (a step redone after a restore replaces the first try)."""
    steps: dict = {}
    for r in records:
        if r.get("run") == run and r.get("event") == "step":
            steps[r["step"]] = r
    return [steps[s] for s in sorted(steps)]


def ema(values: list, alpha: float = 0.1) -> list:
    """Exponential moving average (bias-corrected, so the first points are not pulled toward 0)."""
    out, avg, norm = [], 0.0, 0.0
    for v in values:
        avg, norm = (1 - alpha) * avg + alpha * v, (1 - alpha) * norm + alpha
        out.append(avg / norm)
    return out


def plot_losses(records: list[dict], runs: dict, path: str) -> Optional[str]:
    """Loss curves, one panel per target: train per step (faint raw, EMA on top; per subset likewise) and
    held-out loss points (each epoch's end and every ``train.eval_every_steps``).

    ``runs`` maps target -> run name. Returns the PNG path, or None when there is nothing to plot.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(t, r) for t, r in runs.items() if last_per_step(records, r)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.6), squeeze=False)
    for ax, (target, run) in zip(axes[0], panels):
        steps = last_per_step(records, run)
        xs = [r["step"] for r in steps]
        raw = [r["loss"] for r in steps]
        ax.plot(xs, raw, color="#1f3b73", lw=0.8, alpha=0.25)
        ax.plot(xs, ema(raw), label="train (weighted, EMA)", color="#1f3b73", lw=1.8)
        subsets = sorted({k[len("loss_"):] for r in steps for k in r if k.startswith("loss_")})
        for s in subsets:
            pts = [(r["step"], r[f"loss_{s}"]) for r in steps if f"loss_{s}" in r]
            line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=0.6, alpha=0.2)
            ax.plot([p[0] for p in pts], ema([p[1] for p in pts]), lw=1.0, color=line.get_color(), label=s)
        evals: dict = {}  # epoch-end and every-N-steps held-out losses; a redone step keeps its last record
        for r in records:
            if r.get("run") == run and r.get("event") in ("eval", "eval_step"):
                evals[r["step"]] = r
        if evals:
            ev = [evals[e] for e in sorted(evals)]
            ax.plot([r["step"] for r in ev], [r["heldout_loss"] for r in ev], "o--", color="#c00000", label="held-out")
        ax.set_title(f"target {target}", fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("loss (answer-token CE)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
