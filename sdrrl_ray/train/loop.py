"""``train_loop_per_worker``: one top-to-bottom function that reads only its ``config`` argument.

config keys (built by :mod:`sdrrl_ray.train.trainer`): ``train`` (TrainConfig), ``seed``,
``model_path``, ``rows_url``, ``index`` (a Ray object ref to the run's :class:`sdrrl_ray.train.plan.Index`),
``steps_per_epoch`` (cut at ``train.max_steps``), ``export_dir``, ``epochs_dir``, ``log_path``, ``run``,
``target``, ``pad_id``, ``max_length``, ``env``, ``resume_from``, ``fallback_checkpoint``, ``trackers``
(train.report_to, :mod:`.trackers`), ``test_hooks`` (tests only: ``fail_at_step``, ``fail_rank``,
``fail_marker``, ``fail_delay_s`` kill a worker once with ``os._exit(1)``; ``log_ids`` logs each step's row ids).

Data: every worker reads the tokenized set's Parquet files (``rows_url``, under ``OUT/train_cache``) once,
into a local row store (:mod:`.rowstore`), and reads from it the rows the plan gives it, so batches are a
deterministic function of (seed, epoch) and a resumed run skips exactly the batches already done. State
that must survive a restore (step, epoch, position in the epoch, best held-out loss, early-stopping
counter) travels in the DeepSpeed checkpoint's client state next to the optimizer and LR-scheduler
states. Each rank's part of a checkpoint ends with a manifest (file names and sizes,
:mod:`sdrrl_ray.train.checkpoints`); a checkpoint that does not match its manifests is passed over for
the one before it, with a warning.

Exports: the model folder (``export_dir``) at the end of the best epoch (the last one without a held-out
split); with ``train.export_every_epoch`` also ``epochs_dir/epoch-<k>`` after every epoch k (one gather of
the weights serves both). Each is written at the epoch's end, before its checkpoint: a run killed in between
redoes the epoch from the checkpoint before and writes epoch k again (replacing it, atomically), so every
export holds the weights of the run that went on; a run resumed after epoch k's checkpoint keeps its export.
A fresh (not resumed) run first removes ``epochs_dir``: no export of an earlier run is left beside its own.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from typing import Any

import numpy as np

from sdrrl_ray.train import answer_loss
from sdrrl_ray.train import plan as planlib
from sdrrl_ray.train.rowstore import RowStore, parquet_batches, store_folder


def _load_model(path: str, tc: Any, precision: str):
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, use_safetensors=True)
    model.config.use_cache = False
    if tc.activation_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if tc.lora:
        import peft  # checked on the driver; imported here only when LoRA is on

        model = peft.get_peft_model(model, peft.LoraConfig(task_type="CAUSAL_LM", **dict(tc.lora)))
        if tc.activation_checkpointing:
            model.enable_input_require_grads()
    return model


def _param_groups(model: Any, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train_loop_per_worker(config: dict) -> dict:
    t_enter = time.perf_counter()
    for key, value in (config.get("env") or {}).items():
        os.environ.setdefault(key, value)
    import deepspeed
    import ray
    import ray.train
    import torch
    import torch.distributed as dist

    from sdrrl_ray import storage
    from sdrrl_ray.layout.paths import epoch_folder
    from sdrrl_ray.train.checkpoints import restore_point, write_manifest
    from sdrrl_ray.train.ds_config import WarmupDecay, ds_config, resolve_export_dtype, resolve_precision, warmup_steps
    from sdrrl_ray.train.export import gather_state_dict, save_hf_folder
    from sdrrl_ray.train.loss import Example, collate, forward_ce, micro_loss
    from sdrrl_ray.train.metrics import JsonlLog
    from sdrrl_ray.train.progress import due, progress_line, quiet_worker, show
    from sdrrl_ray.train.trackers import open_trackers

    quiet_worker()
    tc = config["train"]
    idx: planlib.Index = ray.get(config["index"])  # by reference: the driver never holds it
    hooks = config.get("test_hooks") or {}
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    on_gpu = bool(tc.use_gpu) and torch.cuda.is_available()
    if on_gpu:
        import ray.train.torch

        device = ray.train.torch.get_device()
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(int(config.get("threads") or 1))
    torch.manual_seed(int(config["seed"]))
    micro, accum, G = tc.micro_batch_size, tc.grad_accum, tc.micro_batch_size * tc.grad_accum * world
    precision = resolve_precision(tc, on_gpu)
    steps_per_epoch: list = config["steps_per_epoch"]
    total_steps = sum(steps_per_epoch)

    t_imports = time.perf_counter()
    model = _load_model(config["model_path"], tc, precision)
    # the answer loss per chunk of hidden states, without full logits (answer_loss module docstring)
    chunks = answer_loss.enable(model, tc.micro_batch_size, tc.max_length, tc.loss_chunk_tokens)
    t_model = time.perf_counter()
    ds_cfg = ds_config(tc, world, on_gpu)
    schedule = WarmupDecay(total_steps, warmup_steps(tc, total_steps), tc.lr_schedule)
    optimizer = None
    if not tc.offload_optimizer:  # torch's default (foreach) kernels; fused=True would need the params on GPU first
        optimizer = torch.optim.AdamW(_param_groups(model, tc.weight_decay), lr=tc.learning_rate)
    engine, optimizer, _, scheduler = deepspeed.initialize(
        model=model,
        optimizer=optimizer,
        model_parameters=_param_groups(model, tc.weight_decay) if optimizer is None else None,
        lr_scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, schedule),
        config=ds_cfg,
    )

    t_init = time.perf_counter()
    state = dict(global_step=0, epoch=0, step_in_epoch=0, best_loss=None, best_epoch=None, bad_epochs=0,
                 stopped=False, exported_epoch=None)
    ckpt = ray.train.get_checkpoint()  # Ray's latest; else the driver's pick when Ray's record was damaged
    if ckpt is None and config.get("fallback_checkpoint"):
        ckpt = ray.train.Checkpoint(config["fallback_checkpoint"])
    damaged: list = []
    if ckpt is not None:  # a damaged one (truncated/missing file or manifest) falls back to the one before
        ckpt, damaged = restore_point(ckpt, rank=rank, dist=dist)
    if ckpt is None and config.get("resume_from"):
        ckpt = ray.train.Checkpoint(config["resume_from"])
    resumed = ckpt is not None
    if not resumed and rank == 0 and config.get("epochs_dir"):  # a fresh run: no earlier run's epoch exports
        fs, path = storage.url_to_fs(config["epochs_dir"])
        if fs.exists(path):
            fs.rm(path, recursive=True)
    if resumed:
        with ckpt.as_directory() as d:
            _, client = engine.load_checkpoint(d, tag="ds", load_optimizer_states=True, load_lr_scheduler_states=True)
        state.update((client or {}).get("sdrrl", {}))

    log = JsonlLog(config["log_path"], {"run": config["run"], "target": config["target"]}) if rank == 0 else None
    trackers = open_trackers(config.get("trackers")) if rank == 0 else None  # train.report_to
    if log:
        for path, why in damaged:
            log.write(dict(event="damaged_checkpoint", path=path, why=why))
        log.write(dict(event="start", world_size=world, global_batch=G, resumed=resumed, step=state["global_step"],
                       restored_from=ckpt.path if resumed else None,
                       epoch=state["epoch"], step_in_epoch=state["step_in_epoch"], lr=float(engine.get_lr()[0]),
                       total_steps=total_steps, n_train=idx.n_train, n_heldout=idx.n_heldout,
                       setup_s=dict(imports=round(t_imports - t_enter, 2), model=round(t_model - t_imports, 2),
                                    deepspeed=round(t_init - t_model, 2),
                                    restore=round(time.perf_counter() - t_init, 2))))

    names, K = idx.subset_names, len(idx.subset_names)
    pad_id, max_length, packing = int(config["pad_id"]), int(config["max_length"]), bool(tc.packing)
    # the run's rows, streamed once from the tokenized set's files into a local store (rowstore module docstring)
    t_rows = time.perf_counter()
    store = RowStore.build(parquet_batches(config["rows_url"]), np.concatenate([idx.train_keys, idx.heldout_keys]),
                           folder=store_folder(config["run"], config["rows_url"], rank),
                           keep_ids=bool(hooks.get("log_ids")))
    if log:
        log.write(dict(event="rows", rows=len(store), seconds=round(time.perf_counter() - t_rows, 2),
                       peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)))
    held_mbs = planlib.heldout_micro_batches(idx.n_heldout, rank, micro, world)
    last_report = time.monotonic()

    def checkpoint(metrics: dict) -> None:
        if log:
            log.write(dict(event="checkpoint", step=state["global_step"], epoch=state["epoch"]))
            log.flush()
        with tempfile.TemporaryDirectory() as d:
            engine.save_checkpoint(d, tag="ds", client_state={"sdrrl": dict(state)})
            write_manifest(d, rank=rank, world=world, state=dict(state))  # last: marks this rank's part whole
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d))

    def export(epoch: int, model: bool = True, every: bool = False) -> None:
        """Gather once; write the model folder (``model``) and/or ``epochs_dir/epoch-<epoch + 1>`` (``every``)."""
        sd = gather_state_dict(engine, tc.zero_stage, rank)
        if rank == 0:
            dests = [("export", config["export_dir"])] if model else []
            if every:
                dests.append(("epoch_export", storage.join(config["epochs_dir"], epoch_folder(epoch + 1))))
            for event, dest in dests:
                save_hf_folder(engine.module, sd, tokenizer_src=config["model_path"], dest=dest,
                               dtype=resolve_export_dtype(tc, on_gpu))
                log.write(dict(event=event, epoch=epoch, step=state["global_step"], path=dest))
        dist.barrier()
        if model:
            state["exported_epoch"] = epoch

    def evaluate() -> dict:
        engine.eval()
        sums = torch.zeros(2 + 2 * K, dtype=torch.float64)
        with torch.no_grad():
            for mb in held_mbs:
                exs = [Example(*store.get(idx.heldout_keys[p]), float(idx.heldout_weights[p]),
                               int(idx.heldout_codes[p])) for p in mb]
                b = collate(exs, pad_id=pad_id, packing=packing, max_length=max_length)
                ce = forward_ce(engine, b, device, chunks)[0].double().cpu()
                sums[0] += (b["weights"].double() * ce).sum()
                sums[1] += ce.numel()
                sums[2:2 + K].index_add_(0, b["subsets"], ce)
                sums[2 + K:].index_add_(0, b["subsets"], torch.ones_like(ce))
        engine.train()
        sums = sums.to(device)
        dist.all_reduce(sums)
        sums = sums.cpu()
        out = {"heldout_loss": float(sums[0] / max(1.0, float(sums[1])))}
        for k, s in enumerate(names):
            if sums[2 + K + k] > 0:
                out[f"heldout_loss_{s}"] = float(sums[2 + k] / sums[2 + K + k])
        return out

    n_epochs = len(steps_per_epoch)  # train.max_steps may end the run inside an epoch
    tokens_total, seconds_total, steps_run = 0, 0.0, 0
    last_metrics: dict = {}
    while state["epoch"] < n_epochs and not state["stopped"]:
        epoch = state["epoch"]
        batches = planlib.global_batches(idx.item_starts, config["seed"], epoch, G)
        n_steps = steps_per_epoch[epoch]
        for s in range(state["step_in_epoch"], n_steps):
            n_b = len(batches[s])
            scale = accum * world / n_b
            lr = float(engine.get_lr()[0])
            t0 = time.perf_counter()
            sums = torch.zeros(3 + 2 * K, dtype=torch.float64)  # weighted CE, tokens, report flag, per subset
            for mb in planlib.rank_micro_batches(batches[s], rank, micro, accum, world):
                exs = [Example(*store.get(idx.train_keys[p]), float(idx.train_weights[p]), int(idx.train_codes[p]))
                       for p in mb]
                b = collate(exs, pad_id=pad_id, packing=packing, max_length=max_length)
                loss, ce = micro_loss(*forward_ce(engine, b, device, chunks), b, scale)
                engine.backward(loss)
                engine.step()
                ce = ce.double().cpu()
                sums[0] += (b["weights"].double() * ce).sum()
                sums[1] += b["n_tokens"]
                sums[3:3 + K].index_add_(0, b["subsets"], ce)
                sums[3 + K:].index_add_(0, b["subsets"], torch.ones_like(ce))
            if rank == 0 and time.monotonic() - last_report >= tc.report_interval_s:
                sums[2] = 1.0
            sums = sums.to(device)
            dist.all_reduce(sums)
            sums = sums.cpu()
            dt = time.perf_counter() - t0
            state["global_step"] += 1
            state["step_in_epoch"] = s + 1
            tokens_total += int(sums[1])
            seconds_total += dt
            steps_run += 1
            grad_norm = engine.get_global_grad_norm()
            metrics = dict(step=state["global_step"], epoch=epoch, loss=float(sums[0] / n_b), lr=lr,
                           grad_norm=None if grad_norm is None else float(grad_norm), examples=n_b,
                           tokens=int(sums[1]), tokens_per_s=float(sums[1]) / dt, seconds=dt)
            for k, name in enumerate(names):
                if sums[3 + K + k] > 0:
                    metrics[f"loss_{name}"] = float(sums[3 + k] / sums[3 + K + k])
            last_metrics = metrics
            if log:
                if config.get("console_progress", True) and due(state["global_step"], total_steps):
                    show(progress_line(config["target"], state["global_step"], total_steps, metrics["loss"],
                                       tokens_total / seconds_total, seconds_total / steps_run))
                record = dict(event="step", **metrics)
                if hooks.get("log_ids"):
                    record["ids"] = [store.row_id(idx.train_keys[p]) for p in batches[s]]
                log.write(record)
            if trackers:
                trackers.log(state["global_step"], metrics)
            eval_every = steps_per_epoch[epoch] // 2 if tc.eval_every_steps is None else tc.eval_every_steps
            if idx.n_heldout and eval_every and state["global_step"] % eval_every == 0 and s + 1 < n_steps:
                ev = evaluate()  # logged only: early stopping and the best export stay per epoch
                if log:
                    log.write(dict(event="eval_step", epoch=epoch, step=state["global_step"], **ev))
                if trackers:
                    trackers.log(state["global_step"], ev, group="eval")
            if hooks.get("fail_at_step") == state["global_step"] and rank == int(hooks.get("fail_rank", 0)) \
                    and not os.path.exists(hooks["fail_marker"]):
                with open(hooks["fail_marker"], "w") as fh:
                    fh.write(f"killed at step {state['global_step']}\n")
                time.sleep(float(hooks.get("fail_delay_s", 0)))  # lets Ray register the last checkpoint first
                os._exit(1)  # test-only fault injection: the worker dies mid-epoch
            every = tc.checkpoint_every_steps
            if every and state["global_step"] % every == 0 and s + 1 < n_steps:
                checkpoint(metrics)
                last_report = time.monotonic()
            elif sums[2] > 0:
                ray.train.report(metrics)
                last_report = time.monotonic()
        # end of epoch: held-out loss, keep the best, early stopping, the exports, checkpoint
        epoch_metrics = dict(last_metrics, epoch=epoch)
        best = not idx.n_heldout and epoch == n_epochs - 1
        if idx.n_heldout:
            ev = evaluate()
            improved = state["best_loss"] is None or ev["heldout_loss"] < state["best_loss"]
            if improved:
                state.update(best_loss=ev["heldout_loss"], best_epoch=epoch, bad_epochs=0)
                best = True
            else:
                state["bad_epochs"] += 1
                if tc.early_stopping_patience > 0 and state["bad_epochs"] >= tc.early_stopping_patience:
                    state["stopped"] = True
            if log:
                log.write(dict(event="eval", epoch=epoch, step=state["global_step"], improved=improved,
                               best_epoch=state["best_epoch"], stopped=state["stopped"], **ev))
            if trackers:
                trackers.log(state["global_step"], ev, group="eval")
            epoch_metrics.update(ev)
        if best or tc.export_every_epoch:
            export(epoch, model=best, every=tc.export_every_epoch)
        state.update(epoch=epoch + 1, step_in_epoch=0)
        checkpoint(epoch_metrics)
        last_report = time.monotonic()
    missing = torch.zeros(1, dtype=torch.float64)
    if rank == 0:
        missing[0] = float(state["exported_epoch"] is None
                           or not storage.exists(storage.join(config["export_dir"], "config.json")))
    missing = missing.to(device)
    dist.all_reduce(missing)
    if missing.item() > 0:  # a finished run restored after its export was deleted: export the final weights
        if log:
            log.write(dict(event="re-export", step=state["global_step"], best_epoch=state["best_epoch"],
                           note="the export was missing; writing the final weights (not necessarily the best epoch)"))
        export(state["epoch"] - 1)
    store.close()
    peaks = torch.zeros(world, dtype=torch.float64)  # every rank's peak resident memory, MB (Linux: KiB)
    peaks[rank] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peaks = peaks.to(device)
    dist.all_reduce(peaks)
    summary = dict(steps=state["global_step"], epochs_run=state["epoch"], stopped_early=state["stopped"],
                   best_epoch=state["best_epoch"], best_heldout_loss=state["best_loss"],
                   exported_epoch=state["exported_epoch"], last=last_metrics,
                   tokens_per_s=(tokens_total / seconds_total) if seconds_total else None,
                   world_size=world, global_batch=G, precision=precision,
                   peak_rss_mb=[round(float(x), 1) for x in peaks.cpu()])
    if log:
        log.write(dict(event="end", **{k: v for k, v in summary.items() if k != "last"}))
        log.close()
    if trackers:
        trackers.close()
    return summary
