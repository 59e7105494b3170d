"""Gather the trained weights and write a Hugging Face folder that transformers loads.

All ranks call :func:`gather_state_dict` (ZeRO-3 gathers parameter by parameter onto rank 0, the
16-bit path DeepSpeed uses for ``save_16bit_model``); rank 0 then writes ``safetensors`` weights,
the config, the generation config and the tokenizer with its chat template. Weights are cast to the
export dtype: bf16 when training ran in bf16 (GPU), fp32 when it ran in fp32 (CPU), unless
``train.export_dtype`` says otherwise. With LoRA the adapters are merged into the base weights.
The folder is written beside its destination and moved into place, so a reader never sees half a model.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Optional

import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def gather_state_dict(engine: Any, zero_stage: int, rank: int) -> Optional[dict]:
    """Full state dict on rank 0 (CPU tensors), None on the other ranks. Collective: every rank calls it."""
    if zero_stage == 3:
        # DeepSpeed's own consolidation (used by engine.save_16bit_model); needs
        # stage3_gather_16bit_weights_on_model_save, which ds_config sets.
        sd = engine._zero3_consolidated_16bit_state_dict()
    else:
        sd = engine.module.state_dict() if rank == 0 else None
    if rank != 0 or sd is None:
        return None
    return {k: v.detach().to("cpu").clone() for k, v in sd.items()}


def _merge_lora(module: Any, state_dict: dict) -> tuple[Any, dict]:
    """(base model, merged state dict) for a peft model; the base is rebuilt on CPU from its config."""
    import peft
    from transformers import AutoModelForCausalLM

    base_cfg = module.get_base_model().config
    lora_cfg = module.peft_config["default"]
    fresh = AutoModelForCausalLM.from_config(base_cfg)
    merged = peft.get_peft_model(fresh, lora_cfg)
    merged.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=False)
    base = merged.merge_and_unload()
    return base, base.state_dict()


def save_hf_folder(module: Any, state_dict: dict, *, tokenizer_src: str, dest: str, dtype: str) -> str:
    """Write ``dest`` (local path or fsspec URL) from rank 0; returns ``dest``."""
    from transformers import AutoTokenizer

    if hasattr(module, "peft_config"):
        module, state_dict = _merge_lora(module, state_dict)
    torch_dtype = DTYPES[dtype]
    state_dict = {k: (v.to(torch_dtype) if v.is_floating_point() else v) for k, v in state_dict.items()}
    remote = "://" in dest and not dest.startswith("file://")
    local_dest = dest[len("file://"):] if dest.startswith("file://") else dest
    parent = tempfile.gettempdir() if remote else (os.path.dirname(os.path.abspath(local_dest)) or ".")
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        module.save_pretrained(tmp, state_dict=state_dict)
        _set_config_dtype(os.path.join(tmp, "config.json"), torch_dtype)
        AutoTokenizer.from_pretrained(tokenizer_src).save_pretrained(tmp)
        _umask_permissions(tmp)
        if remote:
            from sdrrl_ray import storage

            storage.upload(tmp, dest)  # replaces what is there
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            old = None
            if os.path.exists(local_dest):
                old = tempfile.mkdtemp(prefix=".old-", dir=parent)
                os.rename(local_dest, os.path.join(old, "model"))
            os.rename(tmp, local_dest)
            if old:
                shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _umask_permissions(folder: str) -> None:
    """mkdtemp makes a private folder; give the export the permissions an ordinary folder gets."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)
    for name in os.listdir(folder):
        os.chmod(os.path.join(folder, name), 0o666 & ~umask)


def _set_config_dtype(path: str, dtype: torch.dtype) -> None:
    with open(path, encoding="utf-8") as fh:
        conf = json.load(fh)
    conf["dtype"] = str(dtype).replace("torch.", "")
    conf.pop("torch_dtype", None)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(conf, fh, indent=2, sort_keys=True)
        fh.write("\n")
