"""Ray at run time: connecting (a running cluster when there is one, else a local instance), the
arguments of every actor pool (from its config section), and waiting for a phase's GPUs to be free."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Optional

from sdrrl_ray.config import ActorPoolConfig, RayConfig
from sdrrl_ray.errors import user_error

log = logging.getLogger("sdrrl_ray")

QUIET_ENV = {
    "RAY_AUTH_MODE": "disabled",  # no token warning for a local instance
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # a "Loading weights" bar per model load in every worker
}
# the driver's hub settings reach every worker as they are (offline is the user's choice: the Makefile
# sets it for the demo and the tests, nothing here forces it)
PASSED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", "HF_HOME", "SDRRL_VERBOSE")


def init_ray(cfg: RayConfig) -> None:
    """Connect to ``ray.address`` / ``RAY_ADDRESS`` (``ray job submit`` sets it), else start a local instance."""
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
    env_vars.update({k: os.environ[k] for k in PASSED_ENV if k in os.environ})
    kwargs["runtime_env"] = {"env_vars": {k: os.environ.get(k, v) for k, v in env_vars.items() if k not in taken}}
    if address == "local" and not verbose():  # Ray's documented hook for worker loggers (local instance only)
        kwargs["runtime_env"]["worker_process_setup_hook"] = "sdrrl_ray.runtime.quiet_worker_logs"
    ray.init(**kwargs)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress_bars()
    ctx.enable_operator_progress_bars = verbose()  # one bar per dataset; a line per operator with --verbose
    # bars off on purpose (not a terminal; per operator; a dataset's own short reads): no "Progress bars
    # [for operators] disabled. To enable, set ..." line each time
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
    hide_user_error_traces()
    quiet_console()


def verbose() -> bool:
    """``--verbose`` or ``SDRRL_VERBOSE=1``: library logs (Ray's INFO lines included) on the console too."""
    return os.environ.get("SDRRL_VERBOSE", "").strip().lower() not in ("", "0", "false", "no")


def progress_bars() -> bool:
    """Ray Data progress bars: on a terminal (stderr), or forced with ``SDRRL_PROGRESS=1`` (``=0``: off)."""
    forced = os.environ.get("SDRRL_PROGRESS", "").strip().lower()
    if forced:
        return forced not in ("0", "false", "no")
    return sys.stderr.isatty()


# the loggers of a local instance's worker processes that speak to the console for nothing: the detached
# placement-group cleaner of Ray Train polls the state API, which a local instance (no dashboard) does not
# serve; Ray Data in a training worker says once that its progress bars are off (they are, on purpose)
QUIET_WORKER_LOGGERS = ("ray.train.v2._internal.execution.controller.placement_group_cleaner",
                        "ray.data._internal.progress")


def quiet_worker_logs() -> None:
    """``worker_process_setup_hook`` of a local instance: runs in every worker process at its start."""
    import warnings

    for name in QUIET_WORKER_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # Ray Train's own DatasetManager sets an option Ray Data deprecates (not a setting of this project)
    warnings.filterwarnings("ignore", message=r"`ExecutionOptions\.exclude_resources` is deprecated")


# Lines from Ray's processes that the driver need not relay (Ray's documented RAY_DEDUP_LOGS_SKIP_REGEX, read when
# ray is imported): Ray Core's notice that an internal actor (Ray Train's PreemptionWatcher) has constructor
# arguments in the object store (ray-project/ray#53727, not a setting of this project), and DeepSpeed's
# "built successfully" for the CPU shared-memory op each worker loads. They stay in Ray's worker log files.
CONSOLE_SKIP = (r"has constructor arguments in the object store and max_restarts"
                r"|deepspeed_shm_comm_op built successfully")


def console_env() -> None:
    """At an entry point, before Ray is imported: unless :func:`verbose`, the driver drops :data:`CONSOLE_SKIP`
    lines from the worker output it relays."""
    if not verbose():
        os.environ.setdefault("RAY_DEDUP_LOGS_SKIP_REGEX", CONSOLE_SKIP)
    elif os.environ.get("RAY_DEDUP_LOGS_SKIP_REGEX") == CONSOLE_SKIP:  # --verbose after the entry point set it
        del os.environ["RAY_DEDUP_LOGS_SKIP_REGEX"]


def quiet_console() -> None:
    """Ray's driver-side INFO lines (Ray Data: dataset started / plan / finished) go to the library log file
    (:func:`setup_logging`) and Ray's own log files, not to the console (unless :func:`verbose`)."""
    for name in ("ray", "ray.data"):
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler) \
                    and not verbose():
                handler.setLevel(max(handler.level, logging.WARNING))
        if _LOG_HANDLER is not None and _LOG_HANDLER not in logger.handlers and not logger.propagate:
            logger.addHandler(_LOG_HANDLER)


class _LogFile(logging.FileHandler):
    """The run's log file. A write that fails (a full disk, OUT gone) stops this handler quietly instead of
    logging's "--- Logging error ---" traceback: the run itself reports what matters (a full disk is its
    one-line error)."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        for name in ("", "ray", "ray.data"):
            logging.getLogger(name).removeHandler(self)
        try:
            self.close()
        except OSError:
            pass


_LOG_HANDLER: Optional[logging.FileHandler] = None


def setup_logging(log_file: Optional[str]) -> Optional[str]:
    """The library log (``sdrrl_ray``; Ray's driver-side loggers once Ray starts) at INFO into ``log_file``
    (a local path; None or a URL: no file), the console at WARNING unless :func:`verbose`. Returns the
    file's path when one is written."""
    global _LOG_HANDLER
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.INFO if verbose() else logging.WARNING)
    logging.getLogger("sdrrl_ray").setLevel(logging.INFO)
    if not log_file or "://" in log_file:
        return None
    path = os.path.abspath(log_file)
    if _LOG_HANDLER is not None and _LOG_HANDLER.baseFilename == path and _LOG_HANDLER in root.handlers:
        return path
    if _LOG_HANDLER is not None:  # another OUT in the same process (tests, sdrrl compare)
        for name in ("", "ray", "ray.data"):
            logging.getLogger(name).removeHandler(_LOG_HANDLER)
        _LOG_HANDLER.close()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _LOG_HANDLER = _LogFile(path, encoding="utf-8")
    except OSError as exc:  # no log file (a full disk is reported by the run itself, when it writes)
        _LOG_HANDLER = None
        logging.getLogger("sdrrl_ray").debug("no log file at %s: %s", path, exc)
        return None
    _LOG_HANDLER.setLevel(logging.INFO)
    _LOG_HANDLER.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(_LOG_HANDLER)
    if "ray" in sys.modules:
        quiet_console()
    return path


class _UserErrorTraces(logging.Filter):
    """Drops, from the console, Ray's log records about an exception that is a user error (or a full
    disk): the command prints that error as its one last line. Bugs keep their tracebacks; the
    records still reach Ray Data's log file."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else sys.exc_info()[1]
        return exc is None or user_error(exc) is None


def hide_user_error_traces() -> None:
    import ray.data  # noqa: F401 - configures Ray Data's own logging handlers first

    for name in ("ray.data", "ray"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler) \
                    and not any(isinstance(f, _UserErrorTraces) for f in handler.filters):
                handler.addFilter(_UserErrorTraces())


def _job_env_var_keys() -> set:
    """Env var names the enclosing Ray Job's runtime_env sets (empty outside a Ray Job)."""
    raw = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")
    if not raw:
        return set()
    try:
        return set(((json.loads(raw).get("runtime_env") or {}).get("env_vars") or {}))
    except (ValueError, AttributeError):
        return set()


# ---------------------------------------------------------------------------------------------
# actor pools


def actor_pool_args(pool: ActorPoolConfig, tensor_parallel_size: int = 1, concurrent_calls: int = 1) -> dict:
    """``map_batches`` kwargs for an actor-pool stage; ``resources`` pin it to a node type when set.

    A GPU pool (``num_gpus > 0``) serving a vLLM engine with ``tensor_parallel_size`` N gets at least
    N GPUs per actor: the engine's N ranks all live in (and see the GPUs of) that one actor.
    ``concurrent_calls`` > 1: each actor gets that many batches at once and runs them in threads (the
    stage's callable must be thread-safe; the vLLM engine loop is).
    """
    import ray.data

    threads = {} if concurrent_calls <= 1 else dict(
        enable_true_multi_threading=True, max_concurrent_calls_per_actor=concurrent_calls,
        max_tasks_in_flight_per_actor=concurrent_calls)
    args = dict(
        compute=ray.data.ActorPoolStrategy(min_size=pool.min_actors, max_size=pool.max_actors, **threads),
        batch_size=pool.batch_size,
        num_cpus=pool.num_cpus,
    )
    if pool.num_gpus:
        args["num_gpus"] = max(pool.num_gpus, tensor_parallel_size)
    if pool.resources:
        args["resources"] = dict(pool.resources)
    return args


def batch_blocks(ds, pool: ActorPoolConfig):
    """Blocks of at most one batch before an actor-pool stage. An actor task takes a whole block, so
    an input that arrives as one block (a small file, one read task) would keep a pool of N actors
    at one busy actor, and hold every downstream stage until the whole input is through this one.
    A streaming repartition (no shuffle, no materialization) splits and merges blocks as they pass."""
    return ds.repartition(target_num_rows_per_block=pool.batch_size)


# ---------------------------------------------------------------------------------------------
# GPUs between phases


def gpu_holders(job_id: Optional[str] = None) -> Optional[list]:
    """Live actors (of ``job_id``, default: this driver's job) whose resources include a GPU.

    Uses Ray's state API (needs the dashboard, i.e. a cluster started by ``ray start`` / ``ray up`` /
    KubeRay); returns None when the state API is not available (a local instance without dashboard).
    """
    import ray
    from ray.util.state import list_actors

    job_id = job_id or ray.get_runtime_context().get_job_id()
    try:
        actors = list_actors(filters=[("job_id", "=", job_id), ("state", "!=", "DEAD")], detail=True,
                             limit=10_000, raise_on_missing_output=False, timeout=30)
    except Exception as exc:  # noqa: BLE001 - state API unreachable (no dashboard)
        log.info("state API unavailable (%s); falling back to resource totals", exc)
        return None
    return [a for a in actors if float((a.required_resources or {}).get("GPU", 0) or 0) > 0]


def wait_gpus_released(timeout_s: float = 300, poll_s: float = 0.5) -> dict:
    """Wait until no live actor of this job holds a GPU; raise if they still do after ``timeout_s``.

    Ray Data ends a stage's actors when its Dataset execution finishes, and Ray Train ends its
    workers when ``fit()`` returns; this checks it (with the state API) instead of assuming it.
    """
    import ray

    total = float(ray.cluster_resources().get("GPU", 0))
    deadline = time.monotonic() + timeout_s
    while True:
        holders = gpu_holders() if total else []
        free = float(ray.available_resources().get("GPU", 0))
        if holders is None:  # no state API (local instance): the cluster's free GPUs are the evidence
            if free >= total:
                return {"holders": 0, "gpus_total": total, "gpus_available": free}
            if time.monotonic() > deadline:
                log.warning("%s of %s GPUs still in use after %ss (no state API to say by whom)",
                            total - free, total, timeout_s)
                return {"holders": -1, "gpus_total": total, "gpus_available": free}
        elif not holders:
            settle = time.monotonic() + 5  # the GCS frees a dead actor's GPUs a moment after the state API says DEAD
            while free < total and time.monotonic() < settle:
                time.sleep(poll_s)
                free = float(ray.available_resources().get("GPU", 0))
            return {"holders": 0, "gpus_total": total, "gpus_available": free}
        elif time.monotonic() > deadline:
            names = ", ".join(sorted({a.class_name for a in holders}))
            raise RuntimeError(
                f"after {timeout_s}s, {len(holders)} actor(s) of this job still hold GPUs ({names}); the next phase "
                "would wait for them (raise ray.gpu_release_timeout_s, or check what the previous phase left running)"
            )
        time.sleep(poll_s)
