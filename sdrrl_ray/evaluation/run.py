"""``run_eval(cfg)``: evaluate the base and the trained models on every configured task and write the report.

Models (report rows):

- ``eval.models`` when set: ``name -> folder`` (or ``name -> {path, target}``); a folder without a
  ``config.json`` whose sub-folders are named by target languages is one model per target;
- otherwise ``base`` (``generate.model``, resolved like the transfer-set run: ``demo`` is the
  built-in tiny model) and ``sdrrl``, the trained folders under ``OUT/model/``: either
  ``OUT/model/`` itself (one model for every target) or ``OUT/model/<target>/`` (one per target, the
  paper's setting).

A model for target X is evaluated on X and on English (the paper's "English" rows); a model for
every target on all of them. Task data come from ``eval.data_dir`` (one sub-folder per task in its
released layout); when empty, from the demo's own files (``sdrrl_ray/demo/eval_data``).

Outputs: ``OUT/predictions/<model>.<task>.jsonl`` (one row per request), ``OUT/report.json``,
``OUT/report.md`` and ``OUT/plots/*.png``; with ``train.export_every_epoch`` also the off-target rate of each
per-epoch export (:mod:`.epochs`). Each (model, task, language) unit is also saved on its own,
atomically, as soon as its answers are in (``OUT/predictions/units/``, :mod:`.saved`): a rerun after a
kill (or after adding a model or a task) reuses the units whose model, requests and settings match.
``score_only=True`` (or ``eval.predictions=FOLDER``) scores saved predictions without loading any model.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import time
from functools import partial
from typing import Optional

from sdrrl_ray import languages, storage
from sdrrl_ray.assets import demo_eval_data_dir, resolve_model
from sdrrl_ray.config import Config
from sdrrl_ray.errors import UserError
from sdrrl_ray.evaluation import comet_score, common, epochs
from sdrrl_ray.evaluation.common import ENGLISH, Context, MissingData, ModelEntry, Unit
from sdrrl_ray.evaluation.tasks import NO_SHOTS, ORDER, TASKS
from sdrrl_ray.layout.paths import Out

log = logging.getLogger("sdrrl_ray.eval")

BASE, TRAINED = "base", "sdrrl"


def _is_model(path: str) -> bool:
    return storage.exists(storage.join(path, "config.json"))


def _expand(name: str, path: str, targets: list[str], target: Optional[str] = None) -> list[ModelEntry]:
    """A model folder, or a folder of per-target model folders."""
    if target is not None or _is_model(path):
        return [ModelEntry(name, path, target)]
    per_target = [ModelEntry(name, storage.join(path, t), t) for t in targets if _is_model(storage.join(path, t))]
    return per_target or [ModelEntry(name, path, None)]


def discover_models(cfg: Config) -> tuple[list[ModelEntry], list[str]]:
    """(models to evaluate, notes)."""
    targets = list(cfg.languages.targets)
    notes: list[str] = []
    if cfg.eval.models:
        entries: list[ModelEntry] = []
        for name, spec in cfg.eval.models.items():
            path, target = (spec.get("path", ""), spec.get("target")) if isinstance(spec, dict) else (spec, None)
            if target is not None and target not in targets:
                raise UserError(f"eval.models.{name}: target {target!r} is not in languages.targets {targets}")
            path = str(path)
            if os.path.isdir(path) and not _is_model(path):
                resolved = os.path.abspath(path)  # a folder of per-target model folders
            else:
                resolved = resolve_model(path, f"eval.models.{name}")
            entries += _expand(str(name), resolved, targets, target)
        return entries, notes
    entries = []
    try:
        entries.append(ModelEntry(BASE, resolve_model(cfg.generate.model)))
    except UserError as exc:
        notes.append(f"no base model: {exc}")
    out = Out(cfg.out_dir)
    trained = out.models
    if _is_model(trained):
        entries.append(ModelEntry(TRAINED, trained))
    else:
        found = [ModelEntry(TRAINED, out.model(t), t) for t in targets if _is_model(out.model(t))]
        entries += found
        if not found:
            notes.append(f"no trained model under {trained} "
                         f"(neither {trained}/config.json nor {trained}/<target>/config.json)")
    if not entries:
        raise UserError("nothing to evaluate: set generate.model, train into OUT/model/, or list eval.models")
    return entries, notes


def context(cfg: Config) -> Context:
    if "flores" in cfg.eval.tasks:
        comet_score.check(cfg.eval.comet)  # before any model runs
    return Context(
        eval=cfg.eval,
        seed=cfg.seed,
        langid_min_share=cfg.filter.langid_min_share,
        languages=tuple(dict.fromkeys([*cfg.languages.targets, ENGLISH])),
    )


class ItemStore:
    """Items per (task, unit), loaded once, split into shots and scored items."""

    def __init__(self, data_dir: str, ctx: Context):
        self.data_dir = data_dir
        self.ctx = ctx
        self._items: dict = {}
        self.missing: dict = {}  # (task, unit) -> why
        self.skipped: dict = {}  # (task, unit) -> items without ground truth

    def get(self, task: str, unit: Unit) -> Optional[tuple[list[dict], list[dict]]]:
        key = (task, unit.name)
        if key in self.missing:
            return None
        if key not in self._items:
            try:
                items = TASKS[task].load(self.data_dir, unit, self.ctx)
            except MissingData as exc:
                self.missing[key] = str(exc)
                log.warning("eval: %s", exc)
                return None
            usable = [it for it in items if not it.get("skip")]
            self.skipped[key] = len(items) - len(usable)
            shots = 0 if task in NO_SHOTS else self.ctx.eval.shots
            self._items[key] = common.take(usable, shots, self.ctx.eval.limit)
        return self._items[key]

    def scored(self) -> dict:
        return {k: v[1] for k, v in self._items.items()}


def entry_units(entry: ModelEntry, tasks: list[str], targets: list[str]) -> list[tuple[str, Unit]]:
    out = []
    for task in tasks:
        for unit in TASKS[task].units(entry.targets(targets)):
            out.append((task, unit))
    return out


# --------------------------------------------------------------------------------------------
# predictions files


def predictions_dir(cfg: Config) -> str:
    return cfg.eval.predictions or Out(cfg.out_dir).predictions


def write_predictions(folder: str, entry: ModelEntry, task: str, rows: list[dict]) -> str:
    path = storage.join(folder, f"{entry.key}.{task}.jsonl")
    storage.write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


def read_predictions(folder: str) -> tuple[list[ModelEntry], dict]:
    """(models found, (model key, task, unit) -> {request key -> row}) from ``folder/*.jsonl``."""
    fs, root = storage.url_to_fs(folder)
    files = sorted(fs.glob(f"{root}/*.jsonl")) if fs.exists(root) else []
    if not files:
        raise UserError(f"no saved predictions (*.jsonl) in {folder}; run the evaluation with models first")
    entries: dict = {}
    preds: dict = {}
    for path in files:
        with fs.open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                entry = ModelEntry(row["model"], row.get("model_path", ""), row.get("model_target"))
                key = (entry.key, row["task"], row["unit"])
                preds.setdefault(key, {})[row["key"]] = row
            except (json.JSONDecodeError, KeyError) as exc:
                raise UserError(f"{path}:{i} is not a prediction row ({exc})") from None
            entries.setdefault(entry.key, entry)
    return list(entries.values()), preds


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _req_id(entry: ModelEntry, task: str, unit: Unit, request: dict) -> str:
    return f"{entry.key}|{task}|{unit.name}|{request['key']}"


def _row(entry: ModelEntry, task: str, unit: Unit, request: dict, out: dict) -> dict:
    return {
        "model": entry.name, "model_target": entry.target, "model_path": entry.path,
        "task": task, "unit": unit.name, "key": request["key"], "kind": request["kind"],
        **{k: _jsonable(out.get(k)) for k in ("prediction", "option_logprobs", "vector", "truncated",
                                               "n_prompt_tokens", "n_output_tokens", "finish_reason")},
    }


def _infer(requests: list[dict], *, cfg: Config, model_path: str, callable_cls, on_output) -> dict:
    from sdrrl_ray.evaluation import inference

    run = inference.run_inference
    kwargs = dict(cfg=cfg, model_path=model_path, callable_cls=callable_cls or inference.EvalInference)
    if "on_output" in inspect.signature(run).parameters:
        return run(requests, on_output=on_output, **kwargs)
    outputs = run(requests, **kwargs)  # a replacement that cannot stream (tests): everything arrives at the end
    for req_id, out in outputs.items():
        on_output(req_id, out)
    return outputs


def predict(cfg: Config, entry: ModelEntry, units: list[tuple[str, Unit]], store: ItemStore, ctx: Context,
            folder: str, callable_cls=None, tally: Optional[dict] = None) -> dict:
    """Run one model on its units through Ray Data; return its predictions.

    Each unit's rows are saved (:mod:`.saved`) as soon as its last answer arrives, and a unit saved by an
    earlier run under the same key is read back instead of run; ``tally`` counts ``reused``/``computed``
    units. The per-task files ``folder/<model>.<task>.jsonl`` are written at the end."""
    from sdrrl_ray.evaluation import saved

    inference_settings = saved.settings(cfg)
    model_fp = None
    done: dict = {}  # (task, unit name) -> rows, in request order
    plan: list = []  # (task, unit, requests)
    requests, meta, pending = [], {}, {}
    for task, unit in units:
        got = store.get(task, unit)
        if got is None:
            continue
        shots, items = got
        reqs = list(TASKS[task].requests(items, shots, unit, ctx))
        if not reqs:
            continue
        plan.append((task, unit, reqs))
        model_fp = model_fp or saved.model_fingerprint(entry.path)
        key = saved.unit_key(model_key=entry.key, model_path=entry.path, model_fp=model_fp, task=task,
                             unit=unit.name, requests=reqs, inference=inference_settings)
        path = saved.unit_path(folder, entry.key, task, unit.name)
        rows = saved.load(path, key)
        if rows is not None:
            done[(task, unit.name)] = rows
            continue
        pending[(task, unit.name)] = dict(key=key, path=path, outputs={},
                                          need=len({_req_id(entry, task, unit, r) for r in reqs}))
        for r in reqs:
            req_id = _req_id(entry, task, unit, r)
            requests.append(dict(r, req_id=req_id))
            meta[req_id] = (task, unit, reqs)
    if tally is not None:
        tally["reused"] = tally.get("reused", 0) + len(done)
        tally["computed"] = tally.get("computed", 0) + len(pending)

    def on_output(req_id: str, out: dict) -> None:
        task, unit, reqs = meta[req_id]
        p = pending[(task, unit.name)]
        p["outputs"][req_id] = out
        if len(p["outputs"]) == p["need"]:  # the unit is complete: save it now, a killed run keeps it
            outputs = p["outputs"]
            saved.save(p["path"], p["key"], [_row(entry, task, unit, r, outputs[_req_id(entry, task, unit, r)])
                                             for r in reqs])

    if requests:
        t0 = time.perf_counter()
        outputs = _infer(requests, cfg=cfg, model_path=entry.path, callable_cls=callable_cls, on_output=on_output)
        log.info("eval: %s answered %d requests in %.1fs", entry.key, len(outputs), time.perf_counter() - t0)
    preds: dict = {}
    by_task: dict = {}
    for task, unit, reqs in plan:
        if (task, unit.name) in done:
            rows = done[(task, unit.name)]
        else:  # in request order; a request without an answer gets an empty row (and its unit is not saved)
            outputs = pending[(task, unit.name)]["outputs"]
            rows = [_row(entry, task, unit, r, outputs.get(_req_id(entry, task, unit, r)) or {}) for r in reqs]
        preds[(entry.key, task, unit.name)] = {row["key"]: row for row in rows}
        by_task.setdefault(task, []).extend(rows)
    for task, rows in by_task.items():
        write_predictions(folder, entry, task, rows)
    return preds


# --------------------------------------------------------------------------------------------
# scoring


def score_all(entries: list[ModelEntry], tasks: list[str], targets: list[str], store: ItemStore, preds: dict,
              ctx: Context, samples: Optional[dict] = None) -> tuple[list[dict], dict, dict]:
    """(result rows, per-unit info, alignment vectors); fills ``samples`` with the per-item evidence of each
    result, (model key, task, unit, metric) -> :class:`.stats.Sample` (the report's intervals and tests)."""
    results, info, vectors = [], {}, {}
    samples = {} if samples is None else samples
    for entry in entries:
        for task, unit in entry_units(entry, tasks, targets):
            got = store.get(task, unit)
            if got is None:
                continue
            _, items = got
            unit_preds = preds.get((entry.key, task, unit.name), {})
            if not unit_preds:
                info[(entry.key, task, unit.name)] = {"missing_predictions": True}
                continue
            s = TASKS[task].score(items, unit_preds, unit, ctx)
            truncated = sum(1 for r in unit_preds.values() if r.get("truncated"))
            unit_info = dict(s.get("info") or {}, n=s["n"], truncated_prompts=truncated,
                             skipped=store.skipped.get((task, unit.name), 0))
            info[(entry.key, task, unit.name)] = unit_info
            if "vectors" in s:
                vectors[(entry.key, unit.name)] = s["vectors"]
            for metric, value in s["metrics"].items():
                sample = (s.get("samples") or {}).get(metric)
                if sample is not None:
                    samples[(entry.key, task, unit.name, metric)] = sample
                results.append(dict(model=entry.name, model_target=entry.target, model_key=entry.key, task=task,
                                    unit=unit.name, lang=unit.lang, side=unit.side, column=unit.column,
                                    metric=metric, value=value, n=sample.n if sample is not None else s["n"]))
    return results, info, vectors


def run_eval(cfg: Config, score_only: bool = False, callable_cls=None, evidence: Optional[dict] = None) -> dict:
    """Evaluate, write OUT/report.json, OUT/report.md and OUT/plots/; return the report.

    ``evidence``, when given, receives the per-model results, their per-item samples and the models
    (``sdrrl compare`` pools seeds from them). ``callable_cls`` replaces the inference actor class (tests only)."""
    from sdrrl_ray.evaluation import contamination, report

    t0 = time.perf_counter()
    e = cfg.eval
    targets = list(cfg.languages.targets)
    tasks = [t for t in ORDER if t in e.tasks]
    data_dir = e.data_dir or demo_eval_data_dir()
    ctx = context(cfg)
    store = ItemStore(data_dir, ctx)
    folder = predictions_dir(cfg)
    notes: list[str] = []
    if e.data_dir == "":
        notes.append(f"task data: the demo's own files ({data_dir}), not the released benchmarks")
    for task in tasks:
        for t in targets:
            try:
                languages.check_supported(t, f"eval:{task}")
            except languages.UnsupportedLanguage as exc:
                notes.append(str(exc))

    if score_only or e.predictions:
        entries, preds = read_predictions(folder)
        notes.append(f"scored saved predictions from {folder} (no model was run)")
    else:
        from sdrrl_ray.runtime import init_ray

        entries, found_notes = discover_models(cfg)
        notes += found_notes
        init_ray(cfg.ray)
        preds, tally = {}, {}
        for entry in entries:
            preds.update(predict(cfg, entry, entry_units(entry, tasks, targets), store, ctx, folder, callable_cls,
                                 tally))
        log.info("eval: reused %d of %d prediction files (model, task, language) saved in %s by an earlier run; "
                 "computed %d", tally.get("reused", 0), tally.get("reused", 0) + tally.get("computed", 0),
                 storage.join(folder, "units"), tally.get("computed", 0))

    samples: dict = {}
    results, info, vectors = score_all(entries, tasks, targets, store, preds, ctx, samples)
    for (task, unit), why in sorted(store.missing.items()):
        notes.append(f"{task}/{unit} not evaluated: {why}")
    contam = None
    if e.contamination:
        for task, unit in {(t, u) for entry in entries for t, u in entry_units(entry, tasks, targets)}:
            store.get(task, unit)
        contam = contamination.check(cfg, {(t, u): items for (t, u), items in store.scored().items()}, cfg.out_dir)
    answers = ((lambda entry, units, folder: read_predictions(folder)[1]) if score_only or e.predictions
               else partial(predict, cfg, store=store, ctx=ctx, callable_cls=callable_cls))
    per_epoch = epochs.evaluate(cfg, tasks, entries, samples, store, ctx, folder, answers, notes)  # paper Fig. 3
    baseline = e.baseline or (BASE if any(x.name == BASE for x in entries) else entries[0].name)
    rep = report.build(cfg, entries, tasks, targets, results, info, contam, baseline, notes,
                       seconds=time.perf_counter() - t0, data_dir=data_dir, samples=samples)
    if per_epoch:
        rep["offtarget_epochs"] = per_epoch
    report.write(Out(cfg.out_dir), rep, vectors=vectors if e.plots else None, plots=e.plots)
    if evidence is not None:
        evidence.update(results=results, samples=samples, entries=entries, tasks=tasks, targets=targets,
                        data_dir=data_dir, contamination=contam)
    return rep
