"""The Ray Job entry behind ``jobs/*.py``:

    ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml -- \\
        python jobs/full.py jobs/configs/demo.yaml [k=v ...] [phases=[transfer-set,train,eval]]

:func:`job_main` loads the config, prints it as JSON (the first thing in the job's log), checks that
every requested phase can be imported *before* any phase runs, then runs the phases in order
(:func:`sdrrl_ray.app.phases.run_phases`). After each phase it waits until no actor of this job
holds a GPU (:func:`sdrrl_ray.runtime.wait_gpus_released`), so the next phase can schedule its GPU
actors or training workers. Last comes one JSON line summarising the phases. A user error exits 2
with one line on stderr.
"""

from __future__ import annotations

import logging
from typing import Optional, Sequence

from sdrrl_ray.app.exits import run_mapped
from sdrrl_ray.app.phases import ALL_PHASES, check_phases, parse_phases, report_line, run_phases
from sdrrl_ray.errors import UserError
from sdrrl_ray.runtime import console_env


def split_job_args(argv: Sequence[str]) -> tuple[Optional[str], list[str], Optional[str]]:
    """``CONFIG k=v ... [phases=..|--phases ..]`` -> (config, overrides, phases or None)."""
    config, overrides, phases = None, [], None
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        key = arg.split("=", 1)[0].lstrip("-")
        if key == "phases":
            if "=" in arg:
                phases = arg.split("=", 1)[1]
            elif i + 1 < len(args):
                phases, i = args[i + 1], i + 1
            else:
                raise UserError("--phases needs a value (example: --phases transfer-set,train)")
        elif "=" in arg:
            overrides.append(arg)
        elif config is None:
            config = arg
        else:
            raise UserError(f"unexpected argument {arg!r}: pass one CONFIG file, then key=value overrides")
        i += 1
    return config, overrides, phases


def _job(argv: Sequence[str], prog: str, default_phases: Sequence[str], phases_allowed: bool) -> None:
    from sdrrl_ray.config import load_config
    from sdrrl_ray.runtime import init_ray, wait_gpus_released

    config, overrides, phases_arg = split_job_args(argv)
    if config is None:
        raise UserError(f"usage: {prog} CONFIG [key=value ...]; CONFIG is a YAML file such as jobs/configs/demo.yaml")
    if phases_arg is not None and not phases_allowed:
        raise UserError(f"{prog} runs one phase; use jobs/full.py to choose phases")
    cfg = load_config(config, overrides)
    print(cfg.to_json(), flush=True)
    phases = parse_phases(phases_arg) if phases_arg is not None else tuple(default_phases)
    check_phases(cfg, phases, prog=prog)  # every phase's packages and code there before Ray starts or any runs
    init_ray(cfg.ray)

    def release_gpus(name: str) -> tuple[str, dict]:
        released = wait_gpus_released(timeout_s=cfg.ray.gpu_release_timeout_s)
        return (f"; GPUs released: {released['holders']} actor(s) of this job hold a GPU "
                f"(cluster GPUs {released['gpus_available']}/{released['gpus_total']} free)",
                {"gpu_holders_after": released["holders"]})

    print(report_line(run_phases(cfg, phases, prog=prog, after_phase=release_gpus)), flush=True)


def job_main(argv: Sequence[str], *, prog: str, default_phases: Sequence[str] = ALL_PHASES,
             phases_allowed: bool = True) -> int:
    """Entry point of ``jobs/*.py``: config JSON first, then each phase in order; 2 on a user error."""
    console_env()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run_mapped(lambda: _job(argv, prog, default_phases, phases_allowed), prog)
