"""Distillation training on Ray Train: TorchTrainer + DeepSpeed ZeRO-3, from the transfer set to HF folders.

Modules: ``tokenize`` (Ray Data stage), ``plan`` (held-out split, Eq. 6 weights, deterministic
batches), ``loss`` (collation, packing, answer-token loss), ``ds_config`` (DeepSpeed config, LR
schedule), ``loop`` (train_loop_per_worker), ``export`` (gathered weights -> HF folder),
``trainer`` (TorchTrainer from the config), ``metrics`` (train_log.jsonl, loss plot), ``run``
(:func:`run_train`). deepspeed and torch are imported inside the worker loop only.
"""

__all__ = ["run_train"]


def run_train(cfg, **kwargs):
    """See :func:`sdrrl_ray.train.run.run_train`."""
    from sdrrl_ray.train.run import run_train as _run_train

    return _run_train(cfg, **kwargs)
