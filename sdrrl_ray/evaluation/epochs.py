"""Off-target rate per training epoch (paper App. E, Fig. 3): the report's table and ``plots/offtarget_epochs.png``.

With ``train.export_every_epoch`` training writes the model after each epoch k to
``OUT/epochs/<target>/epoch-<k>/`` (:mod:`sdrrl_ray.layout.paths`; a folder not named by a target, "multi",
serves every target). :func:`evaluate` runs each export on the ``offtarget`` task only, on its target-language
prompts, and builds one row per target language (and their average) with one column per epoch: 0 is the
model training started from (``train.model``, else ``generate.model``: the report's ``base`` row reused when
it is that model, otherwise evaluated here too), k >= 1 the export after k epochs. Each cell: the rate, its
Wilson 95% interval and n (judged responses), and the difference to epoch 0 with the exact McNemar p-value on
the items both judged (the AVG: the stratified paired bootstrap), as the report's other off-target cells
(:mod:`.stats`). Predictions: ``OUT/predictions/epochs/epoch-<k>-<target>.offtarget.jsonl`` (and ``units/``
there, reused by a rerun as the others are); score-only mode reads them back.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Optional

from sdrrl_ray import storage
from sdrrl_ray.assets import resolve_model
from sdrrl_ray.errors import UserError
from sdrrl_ray.evaluation import stats
from sdrrl_ray.evaluation.common import TARGET, ModelEntry, column_code, mono_units
from sdrrl_ray.evaluation.tasks import TASKS
from sdrrl_ray.layout.paths import EPOCHS, Out, epoch_folder, epoch_of

log = logging.getLogger("sdrrl_ray.eval")

TASK, METRIC = "offtarget", "rate"
TITLE = "Off-target rate per epoch"
PLOT = "offtarget_epochs.png"
AVG = "AVG"
START = "epoch-0"  # report key of the starting model when no evaluated model is it


def exports(out_dir: str, targets: list[str]) -> list[tuple[int, ModelEntry]]:
    """(epoch, model) of every per-epoch export under ``OUT/epochs/`` (a folder with a ``config.json``)."""
    out = Out(out_dir)
    fs, root = storage.url_to_fs(out.epoch_root)
    if not fs.isdir(root):
        return []
    found = []
    for group in fs.ls(root, detail=False):
        name = group.rstrip("/").rsplit("/", 1)[-1]
        if not fs.isdir(group) or name.startswith("."):
            continue
        for folder in fs.ls(group, detail=False):
            k = epoch_of(folder)
            path = out.epoch_model(name, k) if k is not None else ""
            if k is not None and k >= 1 and storage.exists(storage.join(path, "config.json")):
                found.append((k, ModelEntry(epoch_folder(k), path, name if name in targets else None)))
    return sorted(found, key=lambda x: (x[0], x[1].target is None, x[1].key))  # a target's own export first


def start_model(cfg) -> Optional[str]:
    """The folder training started from (epoch 0), resolved as training resolves it; None when unknown."""
    spec, what = (cfg.train.model, "train.model") if cfg.train.model else (cfg.generate.model, "generate.model")
    try:
        return resolve_model(spec, what)
    except UserError:
        return None


def evaluate(cfg, tasks: list[str], entries: list, samples: dict, store, ctx, folder: str,
             answers: Callable, notes: list[str]) -> Optional[dict]:
    """The report's ``offtarget_epochs`` section, or None when ``train.export_every_epoch`` is off, ``offtarget``
    is not a task or there is no export (a note says so). ``samples`` are the main evaluation's (epoch 0 reuses
    them); ``answers(entry, [(task, unit)], folder=...)`` runs a model (or reads its saved predictions)."""
    if not cfg.train.export_every_epoch or TASK not in tasks:
        return None
    targets = list(cfg.languages.targets)
    found = exports(cfg.out_dir, targets)
    if not found:
        if not cfg.eval.models:  # eval.models (sdrrl compare): the models named there only, quietly
            notes.append(f"train.export_every_epoch is on but {Out(cfg.out_dir).epoch_root} holds no per-epoch "
                         "export (train with it on first): no off-target rate per epoch")
        return None
    units = {u.column: u for u in mono_units(TASK, targets) if u.side == TARGET and store.get(TASK, u) is not None}
    sub = storage.join(folder, EPOCHS)
    cells: dict = {}  # (target, epoch) -> Sample
    models: dict = {}  # (target, epoch) -> model folder
    start = start_model(cfg)
    for t in units:  # epoch 0: the main evaluation's results of the starting model, when it was evaluated
        for e in entries:
            sample = samples.get((e.key, TASK, units[t].name, METRIC))
            if start is not None and e.path == start and e.target in (None, t) and sample is not None:
                cells[(t, 0)], models[(t, 0)] = sample, e.path
                break
    runs = list(found)
    missing0 = [t for t in units if (t, 0) not in cells]
    if missing0 and start is not None:
        runs.insert(0, (0, ModelEntry(START, start, missing0[0] if len(missing0) == 1 else None)))
    log.info("eval: off-target per epoch: %d per-epoch exports, %d target(s)", len(found), len(units))
    for k, entry in runs:
        todo = [units[t] for t in entry.targets(targets) if t in units and (t, k) not in cells]
        if not todo:
            continue
        try:
            preds = answers(entry, [(TASK, u) for u in todo], folder=sub)
        except UserError as exc:  # score-only without saved per-epoch predictions
            notes.append(f"off-target per epoch: {entry.key} not scored ({exc})")
            continue
        for u in todo:
            unit_preds = preds.get((entry.key, TASK, u.name))
            if not unit_preds:
                notes.append(f"off-target per epoch: no predictions for {entry.key} on {u.name}")
                continue
            scored = TASKS[TASK].score(store.get(TASK, u)[1], unit_preds, u, ctx)
            cells[(u.column, k)], models[(u.column, k)] = scored["samples"][METRIC], entry.path
    n_epochs = max([cfg.train.epochs] + [k for k, _ in found])
    section = table(cells, list(units), n_epochs, models)
    gaps = sorted({f"{t} epoch {k}" for t in units for k in range(n_epochs + 1) if (t, k) not in cells})
    if gaps:
        notes.append("off-target per epoch: no export or no result for " + ", ".join(gaps)
                     + " (training stopped early, or was not run with train.export_every_epoch)")
    return section


def _cell(k: int, s: Optional[stats.Sample], base: Optional[stats.Sample], boot: stats.Bootstrap) -> dict:
    cell = dict(epoch=k, value=None, n=s.n if s is not None else None, ci_low=None, ci_high=None, delta=None,
                p_value=None)
    if s is None or s.n == 0:
        return cell
    lo, hi, _ = stats.interval(s, boot)
    cell.update(value=s.score(), ci_low=lo, ci_high=hi)
    if k > 0 and base is not None and base.n:
        cell["delta"] = cell["value"] - base.score()
        cell["p_value"], _ = stats.paired_test(s, base, boot)
    return cell


def table(cells: dict, targets: list[str], n_epochs: int, models: Optional[dict] = None) -> dict:
    """The section from ``cells``: (target, epoch) -> off-target :class:`.stats.Sample` (epoch 0 = before
    training); ``models``: (target, epoch) -> the model folder behind the cell."""
    boot = stats.Bootstrap()
    models = models or {}
    epochs = list(range(n_epochs + 1))
    rows = []
    for t in targets:
        row_cells = [dict(_cell(k, cells.get((t, k)), cells.get((t, 0)), boot), model=models.get((t, k)))
                     for k in epochs]
        rows.append(dict(target=t, label=column_code(t), cells=row_cells))
    average = None
    if len(targets) > 1:  # the paper's Average row: equal weight per language, over epochs every language has
        avg_cells = []
        w = 1.0 / len(targets)
        for k in epochs:
            got = [cells.get((t, k)) for t in targets]
            base = [cells.get((t, 0)) for t in targets]
            cell = dict(epoch=k, value=None, n=None, ci_low=None, ci_high=None, delta=None, p_value=None)
            if all(s is not None and s.n for s in got):
                lo, hi = stats.weighted_wilson([(w, s) for s in got]) or (None, None)
                cell.update(value=sum(w * s.score() for s in got), n=sum(s.n for s in got), ci_low=lo, ci_high=hi)
                if k > 0 and all(s is not None and s.n for s in base):
                    cell["delta"] = cell["value"] - sum(w * s.score() for s in base)
                    cell["p_value"] = boot.weighted_p([(t, w, a, b) for t, a, b in zip(targets, got, base)])
            avg_cells.append(cell)
        average = dict(target=None, label=AVG, cells=avg_cells)
    return dict(title=TITLE, task=TASK, metric=METRIC, unit="%", epochs=epochs, rows=rows, average=average,
                definition="share of responses not in the prompt's language (target-language prompts); epoch 0: "
                           "the model before training, epoch k: the model after k epochs (OUT/epochs/)",
                interval="Wilson 95% interval; difference to epoch 0: exact McNemar test on the items both "
                         "judged (AVG: paired bootstrap, each language's items resampled on their own)")


def markdown(section: dict, fmt: Callable) -> list[str]:
    """The report.md lines; ``fmt`` is the report's cell formatter (value, delta, digits, lo=, hi=, p=, n=)."""
    epochs = section["epochs"]
    out = ["", f"## {section['title']} (paper App. E, Fig. 3)", "",
           f"Off-target rate %: {section['definition']}. Each cell: rate [95% interval] (difference to epoch 0; "
           "`ns`: not significant at 0.05) n=judged responses. " + section["interval"] + ".", ""]
    out.append("| Target | " + " | ".join(f"Epoch {k}" + (" (base)" if k == 0 else "") for k in epochs) + " |")
    out.append("|---|" + "---|" * len(epochs))
    for row in section["rows"] + ([section["average"]] if section.get("average") else []):
        cells = [fmt(c["value"], c["delta"], 2, lo=c["ci_low"], hi=c["ci_high"], p=c["p_value"], n=c["n"])
                 for c in row["cells"]]
        out.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    paths = {c["model"] for row in section["rows"] for c in row["cells"] if c.get("model") and c["epoch"] == 0}
    if paths:
        out += ["", "Epoch 0 (before training): " + ", ".join(f"`{p}`" for p in sorted(paths)) + "."]
    return out


def plot(folder: str, section: dict) -> Optional[str]:
    """``offtarget_epochs.png`` in the local ``folder``: rate per epoch, one line per target with its 95% band."""
    import numpy as np
    from matplotlib.figure import Figure

    rows = [r for r in section["rows"] if any(c["value"] is not None for c in r["cells"])]
    if not rows:
        return None
    x = np.asarray(section["epochs"])

    def arr(row: dict, key: str):
        return np.asarray([np.nan if c[key] is None else c[key] for c in row["cells"]], dtype=float)

    fig = Figure(figsize=(6, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    avg = section.get("average")
    for row in rows + ([avg] if avg and any(c["value"] is not None for c in avg["cells"]) else []):
        is_avg = row["label"] == AVG
        label = "Average" if is_avg else f"{row['label']} ({row['target']})"
        line, = ax.plot(x, arr(row, "value"), marker="o", linestyle="--" if is_avg else "-",
                        color="0.2" if is_avg else None, linewidth=2 if is_avg else 1.5, label=label)
        ax.fill_between(x, arr(row, "ci_low"), arr(row, "ci_high"), color=line.get_color(), alpha=0.15,
                        linewidth=0)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{k}\n(base)" if k == 0 else str(k) for k in x])
    ax.set_xlabel("SDRRL training epoch")
    ax.set_ylabel("Off-target responses (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Off-target rate per epoch (paper Fig. 3), shaded: 95% interval", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(folder, PLOT)
    fig.savefig(path, dpi=90)
    return PLOT
