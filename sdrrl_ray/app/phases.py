"""The one phase table (name -> run function), used by ``sdrrl`` and by ``jobs/*.py``.

Phase names are spelled as the commands are: ``transfer-set``, ``train``, ``eval`` (``transfer_set``
is read as ``transfer-set``, as the command line accepts both). Each run function is imported when
the phase is looked up, so a job checks every requested phase before any runs.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import yaml

from sdrrl_ray import storage
from sdrrl_ray.config import Config, load_yaml
from sdrrl_ray.errors import UserError
from sdrrl_ray.extras import require_phases
from sdrrl_ray.layout.lock import OutLock, check_writable
from sdrrl_ray.layout.paths import Out
from sdrrl_ray.runtime import setup_logging
from sdrrl_ray.schema import COMP, MT, VARIANTS


def _transfer_set() -> Callable:
    from sdrrl_ray.transfer.run import run_transfer_set

    return run_transfer_set


def _train() -> Callable:
    from sdrrl_ray.train.run import run_train

    return run_train


def _eval() -> Callable:
    from sdrrl_ray.evaluation.run import run_eval
    from sdrrl_ray.train.card import update_cards

    def run_eval_and_cards(cfg: Config) -> dict:
        result = run_eval(cfg)
        update_cards(cfg.out_dir)  # the trained models' cards get the evaluation summary
        return result

    return run_eval_and_cards


def _transfer_set_lines(cfg: Config, manifest: dict) -> list[str]:
    from sdrrl_ray.transfer.run import summary

    return [summary(manifest), f"manifest: {Out(cfg.out_dir).manifest}"]


def _train_lines(cfg: Config, result: dict) -> list[str]:
    lines = [train_summary_line(result)]
    lines += [f"model {name}: {path}" for name, path in (result.get("model_dirs") or {}).items()]
    return lines + [f"train manifest: {result.get('manifest', Out(cfg.out_dir).train_manifest)}"]


def _num(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def train_summary_line(result: dict) -> str:
    """One line per trained (or kept) model from ``run_train``'s result: steps, epochs, losses, tokens/s."""
    parts = []
    for name, t in (result.get("targets") or {}).items():
        if t.get("skipped"):
            parts.append(f"{name}: kept (already trained)")
            continue
        r = t.get("result") or {}
        last = r.get("last") or {}
        rate = r.get("tokens_per_s")
        parts.append(f"{name}: {r.get('steps', '-')} steps, {r.get('epochs_run', '-')} epochs, "
                     f"loss {_num(last.get('loss'))}, held-out {_num(r.get('best_heldout_loss'))} "
                     f"(best epoch {_num(r.get('best_epoch'))}), {_num(rate, 0)} tok/s, {_num(t.get('seconds'), 1)}s")
    return "trained " + ("; ".join(parts) if parts else "nothing")


def _transfer_set_preamble(cfg: Config) -> list[str]:
    n = cfg.data.limit or "all"
    targets = list(cfg.languages.targets)
    pairs = sum(v in cfg.transfer.subsets for v in VARIANTS)
    # per parallel pair: one mt row each way, one comp row (sdrrl_ray/parallel/tasks.py)
    per_pair = (2 * (MT in cfg.transfer.subsets and MT in cfg.parallel.tasks)
                + (COMP in cfg.transfer.subsets and COMP in cfg.parallel.tasks)) if cfg.parallel.enabled else 0
    rows = (cfg.data.limit * pairs + cfg.parallel.n_pairs * per_pair) * len(targets) if cfg.data.limit else 0
    most = (f" (at most {rows} rows: {pairs} pairs per item and target, parallel tasks)" if cfg.data.limit else "")
    return [f"  {n} items of {cfg.data.path} -> targets {', '.join(targets)}{most}; "
            f"into {Out(cfg.out_dir).transfer_set}"]


def _train_preamble(cfg: Config) -> list[str]:
    tc = cfg.train
    per = ", one model per target" if tc.per_target else ", one model for every target"
    return [f"  targets {', '.join(cfg.languages.targets)}{per}: {tc.epochs} epochs, {tc.num_workers} workers, global "
            f"batch {tc.micro_batch_size * tc.grad_accum * tc.num_workers}; steps in the progress lines; "
            f"into {Out(cfg.out_dir).models}"]


def _eval_preamble(cfg: Config) -> list[str]:
    n = f"{cfg.eval.limit} items" if cfg.eval.limit else "every item"
    return [f"  {', '.join(cfg.eval.tasks)} on {n} per task and language, base and trained models "
            f"(targets {', '.join(cfg.languages.targets)}); into {Out(cfg.out_dir).report_md}"]


def _no_preamble(cfg: Config) -> list[str]:
    return []


def _eval_lines(cfg: Config, result: dict) -> list[str]:
    return [f"report: {Out(cfg.out_dir).report_md}"]


def _transfer_set_report(result: dict) -> dict:
    keys = ("rows_in", "rows_out", "rows_rejected", "rows_written", "complete", "fingerprint")
    return {k: result.get(k) for k in keys if k in result}


def _scalars(result: dict) -> dict:
    return {k: v for k, v in result.items() if isinstance(v, (str, int, float, bool)) or v is None}


def _train_report(result: dict) -> dict:
    """The scalars, and per model what its run did (``run_train`` keeps these under ``targets``)."""
    keep = ("steps", "epochs_run", "best_epoch", "best_heldout_loss", "tokens_per_s")
    per = {name: {"skipped": bool(t.get("skipped")), "seconds": t.get("seconds"),
                  **{k: (t.get("result") or {}).get(k) for k in keep}}
           for name, t in (result.get("targets") or {}).items()}
    return {**_scalars(result), **({"targets": per} if per else {})}


@dataclass(frozen=True)
class Phase:
    name: str
    load: Callable[[], Callable]  # imports the phase and returns its run function (cfg -> result dict)
    lines: Callable[[Config, dict], list]  # what the console shows after the phase
    report: Callable[[dict], dict]  # what the job's summary line keeps
    preamble: Callable[[Config], list] = _no_preamble  # what the console shows as the phase starts


PHASES: dict[str, Phase] = {
    "transfer-set": Phase("transfer-set", _transfer_set, _transfer_set_lines, _transfer_set_report,
                          _transfer_set_preamble),
    "train": Phase("train", _train, _train_lines, _train_report, _train_preamble),
    "eval": Phase("eval", _eval, _eval_lines, _scalars, _eval_preamble),
}
ALL_PHASES = tuple(PHASES)


def canonical(name: str) -> str:
    return str(name).strip().replace("_", "-")


def parse_phases(value) -> tuple[str, ...]:
    """``[transfer-set, train]``, ``"transfer-set,train"`` or ``"train"`` -> a checked tuple."""
    if isinstance(value, str):
        value = load_yaml(value) if value.strip().startswith("[") else value.split(",")
    if not isinstance(value, (list, tuple)) or not value:
        raise UserError(f"phases={value!r} must name at least one of {', '.join(ALL_PHASES)} "
                        "(example: phases=[transfer-set])")
    phases = tuple(canonical(p) for p in value if str(p).strip())
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        raise UserError(f"phases has unknown {unknown}; choose from {', '.join(ALL_PHASES)}")
    if len(set(phases)) != len(phases):
        raise UserError(f"phases={list(phases)} names a phase twice")
    return phases


def phase_function(name: str) -> Callable:
    """The run function of phase ``name``; a clear UserError when this checkout cannot import it."""
    try:
        fn = PHASES[name].load()
    except ImportError as exc:  # the module, or a package it needs, is missing
        raise UserError(
            f"phase '{name}' cannot be imported here ({exc}); install what is missing, "
            f"or leave the phase out (example: phases=[transfer-set])"
        ) from None
    if not callable(fn):
        raise UserError(f"phase '{name}' has no run function; leave the phase out or update the code")
    return fn


def check_phases(cfg: Config, phases: Sequence[str], *, prog: str) -> dict[str, Callable]:
    """Before any phase runs: the packages every phase needs with ``cfg`` (one line naming the extra to
    install, e.g. ``sdrrl train needs DeepSpeed: pip install 'sdrrl-ray[train]'``), then its run function."""
    what = f"{prog} {phases[0]}" if len(phases) == 1 else f"{prog} ({', '.join(phases)})"
    require_phases(cfg, phases, what)
    return {name: phase_function(name) for name in phases}


def run_phases(cfg: Config, phases: Sequence[str], *, prog: str,
               after_phase: Optional[Callable[[str], tuple[str, dict]]] = None) -> dict:
    """Run ``phases`` in order (all imported first), printing a start line, the phase's own lines and a
    done line for each. ``after_phase(name)`` runs after each phase and returns (text for the done
    line, fields for the phase's report). Returns ``{"phases": {name: report}}``."""
    functions = check_phases(cfg, phases, prog=prog)  # all checked before any runs
    check_writable(cfg.out_dir)
    with OutLock(cfg.out_dir):
        write_run_config(cfg, prog)
        log_file = setup_logging(Out(cfg.out_dir).log_file)
        started = time.perf_counter()
        report = _run_locked(cfg, phases, functions, prog, after_phase)
        print(closing_line(prog, time.perf_counter() - started, log_file), flush=True)
        return report


def closing_line(prog: str, seconds: float, log_file: Optional[str]) -> str:
    """The run's last line: its time and where the full log is."""
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{prog}: done in {minutes}m{rest:02d}s" + (f"; full log: {log_file}" if log_file else "")


def write_run_config(cfg: Config, prog: str) -> None:
    """``OUT/config.yaml`` (the resolved config of this run) and the line that names it."""
    path = Out(cfg.out_dir).config
    storage.write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True))
    print(f"{prog}: config: {path}", flush=True)


def _run_locked(cfg: Config, phases: Sequence[str], functions: dict, prog: str,
                after_phase: Optional[Callable[[str], tuple[str, dict]]]) -> dict:
    report: dict[str, Any] = {"phases": {}}
    for name in phases:
        print(f"{prog}: phase {name}: start", flush=True)
        for line in PHASES[name].preamble(cfg):
            print(line, flush=True)
        started = time.perf_counter()
        result = functions[name](cfg)
        seconds = round(time.perf_counter() - started, 2)
        result = result if isinstance(result, dict) else {}
        for line in PHASES[name].lines(cfg, result):
            print(line, flush=True)
        text, fields = after_phase(name) if after_phase else ("", {})
        print(f"{prog}: phase {name}: done in {seconds}s{text}", flush=True)
        report["phases"][name] = {**PHASES[name].report(result), "phase_seconds": seconds, **fields}
    return report


def report_line(report: dict) -> str:
    return json.dumps(report, sort_keys=True, default=str)
