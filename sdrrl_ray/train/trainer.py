"""The ``TorchTrainer`` for one training run, built from the config (the only Ray Train scheduling code).

- ScalingConfig: ``train.num_workers``, ``train.use_gpu``, ``train.resources_per_worker`` (default one
  CPU per worker on CPU, Ray's default on GPU).
- RunConfig: ``name`` = the run name (it carries a fingerprint of everything that shapes the result,
  so a rerun of the same command restores the run's latest checkpoint, and a changed config starts a
  new run); ``storage_path`` = ``train.storage_path`` (s3://, gs:// or a shared NFS folder) or
  ``OUT/checkpoints``; FailureConfig(``train.max_failures``); CheckpointConfig(``train.num_to_keep``, at
  least 2, so that a damaged latest checkpoint has a previous one to fall back to).
- TorchConfig: gloo on CPU, nccl on GPU. No Ray dataset is attached: each worker streams the tokenized
  set's files into its row store once (:mod:`.rowstore`), and the plan decides which worker trains on which row.
"""

from __future__ import annotations

from sdrrl_ray import storage
from sdrrl_ray.config import Config
from sdrrl_ray.layout.paths import Out
from sdrrl_ray.runtime import verbose

MIN_CHECKPOINTS_KEPT = 2


def storage_path(cfg: Config) -> str:
    return storage.absolute(cfg.train.storage_path or Out(cfg.out_dir).checkpoints)


def build_trainer(cfg: Config, *, loop_config: dict, run_name: str):
    from ray.train import CheckpointConfig, FailureConfig, LoggingConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from sdrrl_ray.train.loop import train_loop_per_worker

    tc = cfg.train
    resources = dict(tc.resources_per_worker) or (None if tc.use_gpu else {"CPU": 1})
    scaling = ScalingConfig(num_workers=tc.num_workers, use_gpu=tc.use_gpu, resources_per_worker=resources)
    run_config = RunConfig(
        name=run_name,
        storage_path=storage_path(cfg),
        failure_config=FailureConfig(max_failures=tc.max_failures),
        # at least 2: when the latest checkpoint turns out damaged, a resume falls back to the one before it
        checkpoint_config=CheckpointConfig(num_to_keep=max(MIN_CHECKPOINTS_KEPT, tc.num_to_keep)),
        # Ray Train's INFO lines (a "Reporting training result" per report per rank, worker-group start) stay
        # in its log files under the Ray session; the console gets its warnings and the loop's progress lines
        logging_config=LoggingConfig(log_level="INFO" if verbose() else "WARNING"),
    )
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config=loop_config,
        scaling_config=scaling,
        run_config=run_config,
        torch_config=TorchConfig(backend="nccl" if tc.use_gpu else "gloo"),
    )
