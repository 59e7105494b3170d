"""Running on a Ray cluster: the phase jobs behind ``jobs/*.py``, model weights copied from object
storage to local disk once per node, and GPUs freed between phases.

    ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml -- \\
        python jobs/full.py jobs/configs/demo.yaml [k=v ...] [phases=[transfer_set,train,eval]]

:func:`job_main` loads the config, prints it as JSON (the first thing in the job's log), checks that
every requested phase can be imported *before* any phase runs, then runs the phases in order. After
each phase it waits until no actor of this job holds a GPU (Ray's state API), so the next phase can
schedule its GPU actors or training workers. A user error exits 2 with one line on stderr.

:func:`local_model_path` turns ``s3://``/``gs://``/any fsspec URL of a model folder into a local
folder: the first caller on a node copies it (under a file lock, into a temporary folder renamed into
place), later callers on that node reuse the copy as long as the remote listing (names, sizes, etags)
is unchanged.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from typing import Callable, Optional, Sequence

import yaml

from sdrrl_ray.errors import UserError

log = logging.getLogger("sdrrl_ray")

# ----------------------------------------------------------------------------------------------
# phases

PHASES: dict[str, tuple[str, str]] = {
    "transfer_set": ("sdrrl_ray.transfer_set", "run_transfer_set"),
    "train": ("sdrrl_ray.train.run", "run_train"),
    "eval": ("sdrrl_ray.evaluation.run", "run_eval"),
}
ALL_PHASES = tuple(PHASES)


def parse_phases(value) -> tuple[str, ...]:
    """``[transfer_set, train]``, ``"transfer_set,train"`` or ``"train"`` -> a checked tuple."""
    if isinstance(value, str):
        parsed = yaml.safe_load(value) if value.strip().startswith("[") else value.split(",")
        value = parsed
    if not isinstance(value, (list, tuple)) or not value:
        raise UserError(f"phases={value!r} must name at least one of {', '.join(ALL_PHASES)} (example: phases=[transfer_set])")
    phases = tuple(str(p).strip() for p in value if str(p).strip())
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        raise UserError(f"phases has unknown {unknown}; choose from {', '.join(ALL_PHASES)}")
    if len(set(phases)) != len(phases):
        raise UserError(f"phases={list(phases)} names a phase twice")
    return phases


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
                raise UserError("--phases needs a value (example: --phases transfer_set,train)")
        elif "=" in arg:
            overrides.append(arg)
        elif config is None:
            config = arg
        else:
            raise UserError(f"unexpected argument {arg!r}: pass one CONFIG file, then key=value overrides")
        i += 1
    return config, overrides, phases


def phase_function(name: str) -> Callable:
    """The run function of phase ``name``; a clear UserError when this checkout cannot import it."""
    module_name, fn_name = PHASES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # the module, or a package it needs, is missing
        raise UserError(
            f"phase '{name}' needs {module_name}.{fn_name}, which cannot be imported here ({exc}); "
            f"install what is missing, or leave the phase out (example: phases=[transfer_set])"
        ) from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise UserError(f"phase '{name}': {module_name} has no function {fn_name}; leave the phase out or update the code")
    return fn


def _phase_summary(name: str, result) -> dict:
    if not isinstance(result, dict):
        return {}
    if name == "transfer_set":
        keys = ("rows_in", "rows_out", "rows_rejected", "rows_written", "complete", "fingerprint")
        return {k: result.get(k) for k in keys if k in result}
    return {k: v for k, v in result.items() if isinstance(v, (str, int, float, bool)) or v is None}


def job_main(argv: Sequence[str], *, prog: str, default_phases: Sequence[str] = ALL_PHASES,
             phases_allowed: bool = True) -> int:
    """Entry point of ``jobs/*.py``: config JSON first, then each phase in order; 2 on a user error."""
    from sdrrl_ray.cli import _user_error
    from sdrrl_ray.config import load_config

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        config, overrides, phases_arg = split_job_args(argv)
        if config is None:
            raise UserError(f"usage: {prog} CONFIG [key=value ...]; CONFIG is a YAML file such as jobs/configs/demo.yaml")
        if phases_arg is not None and not phases_allowed:
            raise UserError(f"{prog} runs one phase; use jobs/full.py to choose phases")
        cfg = load_config(config, overrides)
        print(cfg.to_json(), flush=True)
        phases = parse_phases(phases_arg) if phases_arg is not None else tuple(default_phases)
        functions = {name: phase_function(name) for name in phases}  # all checked before any runs

        from sdrrl_ray.runtime import init_ray

        init_ray(cfg.ray)
        report: dict = {"phases": {}}
        for name in phases:
            print(f"{prog}: phase {name}: start", flush=True)
            started = time.perf_counter()
            result = functions[name](cfg)
            seconds = round(time.perf_counter() - started, 2)
            if name == "transfer_set":
                from sdrrl_ray.transfer_set import summary

                print(summary(result), flush=True)
            released = wait_gpus_released(timeout_s=cfg.ray.gpu_release_timeout_s)
            print(
                f"{prog}: phase {name}: done in {seconds}s; GPUs released: {released['holders']} actor(s) of this "
                f"job hold a GPU (cluster GPUs {released['gpus_available']}/{released['gpus_total']} free)",
                flush=True,
            )
            report["phases"][name] = {**_phase_summary(name, result), "phase_seconds": seconds,
                                      "gpu_holders_after": released["holders"]}
        print(json.dumps(report, sort_keys=True), flush=True)
        return 0
    except Exception as exc:  # noqa: BLE001 - mapped like the sdrrl CLI: user errors -> one line, exit 2
        err = _user_error(exc)
        if err is None:
            raise
        print(f"{prog}: error: {err}", file=sys.stderr, flush=True)
        return 2


# ----------------------------------------------------------------------------------------------
# GPUs between phases


def gpu_holders(job_id: Optional[str] = None) -> list:
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


# ----------------------------------------------------------------------------------------------
# model weights from object storage

MODEL_CACHE_ENV = "SDRRL_MODEL_CACHE"
MARKER = ".sdrrl-copy.json"


def is_remote_url(path: str) -> bool:
    """``s3://``, ``gs://``, ``file://``, ``hf://``... (anything fsspec can open); not a local path or hub id."""
    return isinstance(path, str) and "://" in path


def model_cache_root(cache_dir: Optional[str] = None) -> str:
    """Local-disk folder for copied weights: ``cache_dir``, else ``$SDRRL_MODEL_CACHE``, else ``<tmp>/sdrrl-models``."""
    root = cache_dir or os.environ.get(MODEL_CACHE_ENV) or os.path.join(tempfile.gettempdir(), "sdrrl-models")
    return os.path.abspath(os.path.expanduser(root))


def _listing(fs, path: str) -> dict[str, list]:
    """relative path -> [size, version] of every file under ``path`` (or of the single file ``path``)."""

    def version(info: dict):
        for key in ("ETag", "etag", "md5Hash", "generation", "mtime", "LastModified", "last_modified"):
            if info.get(key) is not None:
                return str(info[key])
        return None

    if fs.isfile(path):
        info = fs.info(path)
        return {os.path.basename(path.rstrip("/")): [info.get("size"), version(info)]}
    found = fs.find(path, detail=True)
    base = path.rstrip("/") + "/"
    out = {}
    for name, info in found.items():
        if info.get("type", "file") != "file":
            continue
        rel = name[len(base):] if name.startswith(base) else name.rsplit("/", 1)[-1]
        out[rel] = [info.get("size"), version(info)]
    return out


def ensure_local_copy(url: str, cache_dir: Optional[str] = None, *, lock_timeout_s: float = 3600) -> tuple[str, bool]:
    """Copy the model at ``url`` to local disk once per node; return (local folder, whether this call copied)."""
    import fsspec
    from filelock import FileLock

    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise UserError(f"model URL {url}: no filesystem for it ({exc}); install s3fs for s3://, gcsfs for gs://") from None
    try:
        if not fs.exists(path):
            raise FileNotFoundError(path)
        files = _listing(fs, path)
    except FileNotFoundError:
        raise UserError(f"model URL {url} does not exist; point it at a folder holding a Hugging Face model") from None
    if not files:
        raise UserError(f"model URL {url} holds no files; point it at a folder holding a Hugging Face model")

    root = model_cache_root(cache_dir)
    os.makedirs(root, exist_ok=True)
    name = os.path.basename(path.rstrip("/")) or "model"
    dest = os.path.join(root, f"{name}-{hashlib.sha256(url.encode()).hexdigest()[:12]}")

    def current() -> bool:
        try:
            with open(os.path.join(dest, MARKER), encoding="utf-8") as fh:
                return json.load(fh).get("files") == files
        except (OSError, ValueError):
            return False

    if current():
        return dest, False
    with FileLock(dest + ".lock", timeout=lock_timeout_s):
        if current():  # another process on this node finished the copy while we waited
            return dest, False
        started = time.perf_counter()
        tmp = tempfile.mkdtemp(dir=root, prefix=f".partial-{name}-")
        try:
            if fs.isfile(path):
                fs.get_file(path, os.path.join(tmp, next(iter(files))))
            else:
                for rel in files:
                    target = os.path.join(tmp, rel)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    fs.get_file(path.rstrip("/") + "/" + rel, target)
            with open(os.path.join(tmp, MARKER), "w", encoding="utf-8") as fh:
                json.dump({"url": url, "files": files, "copied_at": time.time(), "pid": os.getpid()}, fh)
            if os.path.exists(dest):
                shutil.rmtree(dest)
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.warning("copied %s (%d files) to %s in %.1fs", url, len(files), dest, time.perf_counter() - started)
        return dest, True


def local_model_path(path: str, cache_dir: Optional[str] = None) -> str:
    """``path`` unchanged when local (or a hub id); a local copy of it when it is a URL (see :func:`ensure_local_copy`)."""
    if not is_remote_url(path):
        return path
    return ensure_local_copy(path, cache_dir)[0]
