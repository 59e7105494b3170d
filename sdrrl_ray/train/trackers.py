"""Experiment trackers (``train.report_to``): TensorBoard, Weights & Biases, MLflow, written from rank 0.

Each backend is one :class:`Tracker` (``log_params`` once, ``log(step, metrics)`` per step, ``close``), its
package imported only when it is used. :func:`check_trackers` runs on the driver before Ray Train starts and
names the ``pip install`` of a missing package; :func:`tracker_spec` resolves where each one writes (on the
driver, so workers elsewhere get the same answer) and :func:`open_trackers` opens them on rank 0.

Where: TensorBoard event files in ``OUT/tensorboard/<run>/``; W&B run folders in ``OUT/wandb/wandb/`` in the
mode the user's ``WANDB_MODE`` says (``offline`` writes ``offline-run-*`` folders for ``wandb sync``);
MLflow to ``MLFLOW_TRACKING_URI``, else a file store in ``OUT/mlruns`` (experiment ``sdrrl``, one run per
training run). Metric names: ``train/<key>`` for the per-step metrics (``loss``, ``loss_<subset>``, ``lr``,
``tokens_per_s``, ...), ``eval/<key>`` for the held-out losses.
"""

from __future__ import annotations

import importlib.util
import json
import os
from typing import Iterable, Optional

from sdrrl_ray.errors import UserError

# backend -> (module checked for, pip package to name)
PACKAGES = {"tensorboard": ("tensorboard", "tensorboard"), "wandb": ("wandb", "wandb"),
            "mlflow": ("mlflow", "mlflow")}
EXPERIMENT = "sdrrl"


def check_trackers(names: Iterable[str]) -> None:
    """Raise a one-line :class:`UserError` naming ``pip install <pkg>`` for each tracker whose package is missing."""
    missing = [PACKAGES[n][1] for n in names if importlib.util.find_spec(PACKAGES[n][0]) is None]
    if missing:
        raise UserError(f"train.report_to needs {', '.join(missing)}: pip install {' '.join(missing)} "
                        f"(on every node), or remove {', '.join(missing)} from train.report_to")


def flatten(params: dict, prefix: str = "") -> dict:
    """Nested config -> {"train.learning_rate": 2e-05, ...}; lists and other values as JSON-ish scalars."""
    flat: dict = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        elif isinstance(value, (bool, int, float, str)) or value is None:
            flat[name] = value
        else:
            flat[name] = json.dumps(value, default=str)
    return flat


def _scalars(metrics: dict) -> dict:
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step"}


class Tracker:
    """One backend. ``metrics`` keys arrive already grouped (``train/loss``, ``eval/heldout_loss``)."""

    def log_params(self, params: dict) -> None:
        raise NotImplementedError

    def log(self, step: int, metrics: dict) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class TensorBoardTracker(Tracker):
    def __init__(self, logdir: str, run: str):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=logdir)

    def log_params(self, params: dict) -> None:
        from torch.utils.tensorboard.summary import hparams

        hp = {k: ("" if v is None else v) for k, v in params.items()}
        for summary in hparams(hp, {}):  # the HPARAMS tab, in this run's own folder
            self.writer.file_writer.add_summary(summary)
        self.writer.add_text("config", "\n".join(f"    {k}: {v}" for k, v in params.items()))

    def log(self, step: int, metrics: dict) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, global_step=step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


class WandbTracker(Tracker):
    def __init__(self, root: str, run: str, mode: Optional[str], project: str):
        import wandb

        os.makedirs(root, exist_ok=True)
        self.run = wandb.init(project=project, name=run, dir=root, mode=mode or None, reinit="create_new")

    def log_params(self, params: dict) -> None:
        self.run.config.update(params, allow_val_change=True)

    def log(self, step: int, metrics: dict) -> None:
        self.run.log(metrics, step=step)

    def close(self) -> None:
        self.run.finish()


class MlflowTracker(Tracker):
    def __init__(self, uri: str, run: str):
        if uri.startswith("file:"):  # MLflow 3 refuses its file store unless asked (maintenance mode)
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(EXPERIMENT)
        exp_id = exp.experiment_id if exp else self.client.create_experiment(EXPERIMENT)
        self.run_id = self.client.create_run(exp_id, run_name=run).info.run_id

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=items[i:i + 100])

    def log(self, step: int, metrics: dict) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in metrics.items()])

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


def tracker_spec(names: Iterable[str], *, out_dir: str, run: str, params: dict) -> dict:
    """Everything rank 0 needs to open the trackers, resolved on the driver (paths, env)."""
    from sdrrl_ray.layout.paths import Out

    out = Out(out_dir)
    uri = os.environ.get("MLFLOW_TRACKING_URI") or out.mlruns
    if "://" not in uri:
        uri = "file://" + os.path.abspath(uri)
    return dict(names=list(names), run=run, params=flatten(params), tensorboard=out.tensorboard(run),
                wandb=out.wandb, wandb_mode=os.environ.get("WANDB_MODE") or None,
                wandb_project=os.environ.get("WANDB_PROJECT") or EXPERIMENT, mlflow=uri)


class Trackers:
    """The opened trackers as one; ``log(step, metrics, group)`` keeps the numeric values as ``<group>/<key>``."""

    def __init__(self, trackers: list):
        self.trackers = trackers

    def log(self, step: int, metrics: dict, group: str = "train") -> None:
        values = {f"{group}/{k}": v for k, v in _scalars(metrics).items()}
        for t in self.trackers:
            t.log(step, values)

    def close(self) -> None:
        for t in self.trackers:
            t.close()


def open_trackers(spec: Optional[dict]) -> Optional[Trackers]:
    """Open the trackers a :func:`tracker_spec` names (None when it names none) and log the params."""
    if not spec or not spec.get("names"):
        return None
    opened: list = []
    for name in spec["names"]:
        if name == "tensorboard":
            opened.append(TensorBoardTracker(spec["tensorboard"], spec["run"]))
        elif name == "wandb":
            opened.append(WandbTracker(spec["wandb"], spec["run"], spec.get("wandb_mode"),
                                       spec.get("wandb_project") or EXPERIMENT))
        elif name == "mlflow":
            opened.append(MlflowTracker(spec["mlflow"], spec["run"]))
    for t in opened:
        t.log_params(spec.get("params") or {})
    return Trackers(opened)
