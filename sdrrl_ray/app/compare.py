"""``sdrrl compare CONFIG arms=[sft-en,translate-then-sft,sdrrl] seeds=[0,1,2] reference=sdrrl``.

Runs each arm (:mod:`sdrrl_ray.config.arms`: the config with one method's settings over it) once per
seed through the real phases (transfer set on Ray Data, training on Ray Train + DeepSpeed), then
evaluates the base and every (arm, seed) model in one evaluation run, and writes one report with a
row per arm (mean over seeds, intervals, paired tests against the reference arm;
:mod:`sdrrl_ray.evaluation.pooled`). Layout: :mod:`sdrrl_ray.layout.paths`.

What the arms share is computed once: the model's answers (generation seed fixed to the config's;
arms that use them answer every item, ``generate.generate_all``; one cache under
``OUT/shared/generations``) and every sentence's translation (``OUT/shared/translations``);
``OUT/compare.json`` records per run how many answers and translations it added. A killed compare
resumes: finished runs are kept, a run cut short resumes its own phases, the evaluation reuses its
saved units.
"""

from __future__ import annotations

import hashlib
import json
import time

from sdrrl_ray import storage
from sdrrl_ray.app.phases import run_phases, write_run_config
from sdrrl_ray.config import Config, with_settings
from sdrrl_ray.config.arms import ARMS, arm_settings
from sdrrl_ray.layout.lock import OutLock, check_writable
from sdrrl_ray.layout.paths import GENERATIONS, TRANSLATIONS, Out
from sdrrl_ray.part_cache import count_rows

BASE = "base"


def run_name(arm: str, seed: int) -> str:
    return f"{arm}-seed{seed}"


def arm_config(cfg: Config, arm: str, seed: int) -> Config:
    """The config of one (arm, seed) run: the arm's settings, the seed, its own OUT, the shared caches."""
    out = Out(cfg.out_dir)
    settings = arm_settings(arm)
    gen_seed = cfg.generate.seed if cfg.generate.seed is not None else cfg.seed
    uses_answers = settings.get("answer", {}).get("mode", cfg.answer.mode) != "gold"
    settings.setdefault("generate", {}).update(
        seed=gen_seed, generate_all=uses_answers or cfg.generate.generate_all,
        cache_dir=cfg.generate.cache_dir or out.shared(GENERATIONS))
    settings.setdefault("translate", {}).update(cache_dir=cfg.translate.cache_dir or out.shared(TRANSLATIONS))
    settings.update(seed=int(seed), out_dir=out.arm(arm, seed))
    return with_settings(cfg, settings)


def run_digest(cfg: Config) -> str:
    """A run's config without the compare section (adding arms or seeds leaves finished runs as they are)."""
    conf = {k: v for k, v in cfg.to_dict().items() if k != "compare"}
    return hashlib.sha256(json.dumps(conf, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _shared(cfg: Config) -> dict:
    return {GENERATIONS: cfg.generate.cache_dir, TRANSLATIONS: cfg.translate.cache_dir}


def _saved(cfg: Config) -> dict:
    """Answers and sentence translations saved in the shared caches so far."""
    return {kind: count_rows(url, nested=True) for kind, url in _shared(cfg).items()}


def run_compare(cfg: Config, *, prog: str = "sdrrl") -> dict:
    """Run (or finish) the comparison in ``cfg.out_dir``; return ``OUT/compare.json``'s content."""
    c = cfg.compare
    out = Out(cfg.out_dir)
    check_writable(cfg.out_dir)
    with OutLock(cfg.out_dir):
        write_run_config(cfg, prog)
        state = storage.read_json(out.compare) or {}
        runs = dict(state.get("runs") or {})
        state.update(arms={a: ARMS[a][0] for a in c.arms}, seeds=list(c.seeds), reference=c.reference,
                     complete=False, runs=runs)
        todo = [(a, s) for a in c.arms for s in c.seeds]
        for k, (arm, seed) in enumerate(todo, start=1):
            name, acfg = run_name(arm, seed), arm_config(cfg, arm, seed)
            prev = runs.get(name) or {}
            if prev.get("status") == "trained" and prev.get("config") == run_digest(acfg):
                print(f"{prog}: compare: run {k}/{len(todo)} {name}: finished earlier, kept", flush=True)
                continue
            print(f"{prog}: compare: run {k}/{len(todo)} {name}: {acfg.out_dir}", flush=True)
            before, started = _saved(acfg), time.perf_counter()
            result = run_phases(acfg, ("transfer-set", "train"), prog=prog)["phases"]
            after = _saved(acfg)
            runs[name] = {
                "arm": arm, "seed": seed, "out_dir": acfg.out_dir, "model": Out(acfg.out_dir).models,
                "status": "trained", "config": run_digest(acfg), "seconds": round(time.perf_counter() - started, 1),
                "transfer_set": result.get("transfer-set", {}),
                "added": {kind: after[kind] - before[kind] for kind in after},  # answers / sentences this run added
            }
            state["shared"] = {kind: {"url": url, "rows": after[kind]} for kind, url in _shared(acfg).items()}
            storage.write_json(out.compare, state)
        report = _evaluate(cfg, runs, prog)
        state.update(complete=True, report=out.report_md, report_json=out.report_json,
                     aggregates=report.get("aggregates"))
        storage.write_json(out.compare, state)
        print(f"{prog}: compare: report: {out.report_md}", flush=True)
        return state


def _evaluate(cfg: Config, runs: dict, prog: str) -> dict:
    """Evaluate the base and every run's model in ``OUT/eval``; write the arm-level report in OUT."""
    from sdrrl_ray.evaluation import report as eval_report
    from sdrrl_ray.evaluation.pooled import pooled_report
    from sdrrl_ray.evaluation.run import run_eval

    c, out = cfg.compare, Out(cfg.out_dir)
    names = {run_name(a, s): a for a in c.arms for s in c.seeds}
    models = {BASE: cfg.generate.model, **{n: runs[n]["model"] for n in names}}
    ecfg = with_settings(cfg, {"out_dir": out.compare_eval, "eval": {"models": models, "baseline": BASE}})
    print(f"{prog}: compare: evaluating {len(models)} models in {out.compare_eval}", flush=True)
    started, evidence = time.perf_counter(), {}
    run_eval(ecfg, evidence=evidence)
    paths = {BASE: cfg.generate.model, **{a: out.arm_root(a) for a in c.arms}}
    rep = pooled_report(ecfg, evidence, {BASE: BASE, **names}, c.reference, seeds=list(c.seeds),
                        seconds=time.perf_counter() - started, paths=paths)
    rep["runs"] = {n: {k: runs[n][k] for k in ("arm", "seed", "out_dir", "added")} for n in names}
    eval_report.write(out, rep, plots=cfg.eval.plots)
    return rep
