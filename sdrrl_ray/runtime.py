"""Connecting to Ray: a running cluster when there is one (``ray job submit`` sets RAY_ADDRESS),
else a fresh local instance."""

from __future__ import annotations

import logging
import os

from sdrrl_ray.config import RayConfig

QUIET_ENV = {
    "RAY_AUTH_MODE": "disabled",  # no token warning for a local instance (STACK-NOTES section 3)
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def init_ray(cfg: RayConfig) -> None:
    import ray

    if ray.is_initialized():
        return
    address = cfg.address or os.environ.get("RAY_ADDRESS") or "local"
    kwargs: dict = dict(address=address, log_to_driver=True, logging_level=logging.WARNING)
    env_vars = {k: v for k, v in QUIET_ENV.items() if k != "RAY_AUTH_MODE" or address == "local"}
    if address == "local":
        for key, value in env_vars.items():
            os.environ.setdefault(key, value)
        kwargs.update(include_dashboard=False)
        if cfg.num_cpus:
            kwargs["num_cpus"] = cfg.num_cpus
    # inside a Ray Job (ray job submit), the job's runtime_env (cluster/runtime_env.yaml) already sets
    # some of these; Ray refuses a driver runtime_env that sets the same keys again
    taken = _job_env_var_keys()
    kwargs["runtime_env"] = {"env_vars": {k: os.environ.get(k, v) for k, v in env_vars.items() if k not in taken}}
    ray.init(**kwargs)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = bool(os.environ.get("SDRRL_PROGRESS"))


def _job_env_var_keys() -> set:
    """Env var names the enclosing Ray Job's runtime_env sets (empty outside a Ray Job)."""
    import json

    raw = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")
    if not raw:
        return set()
    try:
        return set(((json.loads(raw).get("runtime_env") or {}).get("env_vars") or {}))
    except (ValueError, AttributeError):
        return set()
