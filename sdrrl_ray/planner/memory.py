"""GPU memory per phase, estimated from parameter, KV-cache and optimizer-state sizes (no measurement).

Formulas (bytes; Φ parameters, L layers, h hidden size, h_kv = KV heads x head size, i MLP size,
V vocabulary, b micro-batch, s sequence length, N GPUs):

- generation (vLLM, bf16): weights 2Φ; KV cache 2 (K and V) x L x h_kv x 2 bytes per token; vLLM
  keeps ``gpu_memory_utilization`` x GPU memory, and what weights and a reserve for activations and
  CUDA graphs leave is KV cache: it bounds how many sequences run at once (the rest wait);
- translation (CTranslate2, encoder-decoder): weights 2Φ (fp16) or 1Φ (int8); per hypothesis and
  token, decoder self-attention K/V plus cross-attention K/V over the source: 2 x L_dec x d x 2 bytes
  each, for ``max_batch_size`` sentences x beam hypotheses;
- full fine-tuning with DeepSpeed ZeRO-3 and bf16 mixed precision: bf16 weights 2Φ + bf16 gradients 2Φ
  + fp32 master weights, Adam m and v 12Φ, all divided by N; activations of an HF Llama layer
  without recomputation 2 x (10h + 3h_kv + 4i) bytes per token (tensors saved for the backward pass:
  the fp32 and bf16 RMSNorm outputs, q/k/v and the attention output, the SwiGLU MLP's four i-wide
  tensors), x L x b x s; with activation checkpointing only each layer's input (2h per token and layer)
  plus one layer's activations at a time; the loss 10 x b x s x V (bf16 logits, their fp32 upcast and
  its fp32 gradient); the layer being computed gathered whole (its bf16 weights and gradients, 4Φ/L).

``python -m sdrrl_ray.planner.memory`` prints the table (cluster/README.md) and checks the training
formula against the measured 1.1B H100 run in ``benchmarks/results/train_gpu.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from typing import Optional

GIB = 2**30
BF16, FP32 = 2, 4
VLLM_RESERVE_GIB = 3.0  # activations, sampler and CUDA graphs in vLLM's budget (planner assumption)


@dataclass(frozen=True)
class Shape:
    """What the formulas need of a decoder-only LM (or of an encoder-decoder MT model: ``layers`` is
    the decoder's, ``hidden`` its d_model)."""

    name: str
    params: float
    layers: int
    hidden: int
    kv_hidden: int  # KV heads x head size (= hidden without grouped-query attention)
    intermediate: int
    vocab: int


# from each model's config.json (public); params from the safetensors / model card
SHAPES = {
    "llama-2-7b": Shape("Llama-2-7B", 6.738e9, 32, 4096, 4096, 11008, 32000),
    "qwen2.5-0.5b": Shape("Qwen2.5-0.5B", 0.494e9, 24, 896, 128, 4864, 151936),
    "bench-1.1b": Shape("benchmark 1.1B Llama", 1.104218112e9, 16, 2048, 512, 8192, 32000),
    "nllb-3.3b": Shape("NLLB-200-3.3B", 3.3e9, 24, 2048, 2048, 8192, 256206),
    "nllb-600m": Shape("NLLB-200-distilled-600M", 0.615e9, 12, 1024, 1024, 4096, 256206),
}


def shape_from_config(path: str, name: str = "", params: Optional[float] = None) -> Shape:
    """A :class:`Shape` from a Hugging Face ``config.json`` (Llama-style keys); ``params`` as given."""
    with open(os.path.join(path, "config.json") if os.path.isdir(path) else path, encoding="utf-8") as fh:
        c = json.load(fh)
    hidden, heads = c["hidden_size"], c["num_attention_heads"]
    head = c.get("head_dim") or hidden // heads
    return Shape(name or os.path.basename(os.path.normpath(path)), float(params or 0), c["num_hidden_layers"], hidden,
                 c.get("num_key_value_heads", heads) * head, c["intermediate_size"], c["vocab_size"])


def vllm(shape: Shape, gpu_gib: float = 80.0, utilization: float = 0.9, seq_tokens: int = 1536,
         batch: int = 256) -> dict:
    """GiB of weights and KV cache, and how many ``seq_tokens``-long sequences fit at once."""
    weights = BF16 * shape.params / GIB
    kv_token = 2 * shape.layers * shape.kv_hidden * BF16
    kv_seq = kv_token * seq_tokens / GIB
    budget = max(0.0, utilization * gpu_gib - weights - VLLM_RESERVE_GIB)
    return {"weights": weights, "kv_per_token_mib": kv_token / 2**20, "kv_per_seq": kv_seq,
            "kv_batch": kv_seq * batch, "kv_budget": budget, "concurrent": int(budget // kv_seq) if kv_seq else 0,
            "total": utilization * gpu_gib}


def ct2(shape: Shape, precision: str = "float16", sentences: int = 32, beam: int = 4, src_tokens: int = 256,
        tgt_tokens: int = 256) -> dict:
    """GiB of an encoder-decoder's weights and beam-search caches (``sentences`` x ``beam`` hypotheses)."""
    weights = (1 if precision.startswith("int8") else 2) * shape.params / GIB
    per_token = 2 * shape.layers * shape.hidden * 2  # K and V, fp16
    cache = sentences * beam * (src_tokens + tgt_tokens) * per_token / GIB
    return {"weights": weights, "cache": cache, "total": weights + cache}


def zero3(shape: Shape, gpus: int = 8, micro: int = 4, seq: int = 2048, checkpointing: bool = True) -> dict:
    """GiB per GPU of ZeRO-3 bf16 full fine-tuning with Adam (see the module docstring)."""
    tokens = micro * seq
    states = 16 * shape.params / gpus / GIB
    per_layer_token = BF16 * (10 * shape.hidden + 3 * shape.kv_hidden + 4 * shape.intermediate)
    if checkpointing:
        acts = (BF16 * shape.hidden * shape.layers * tokens + per_layer_token * tokens) / GIB
    else:
        acts = per_layer_token * shape.layers * tokens / GIB
    logits = 10 * tokens * shape.vocab / GIB
    live = 4 * shape.params / shape.layers / GIB
    return {"states": states, "activations": acts, "logits": logits, "live_layer": live,
            "total": states + acts + logits + live}


def measured_check(path: str) -> Optional[dict]:
    """The training formula on the measured run's own settings, against its peak (``max_memory_gib``:
    ``torch.cuda.max_memory_allocated``); None when the file is missing."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fh:
        r = json.load(fh)["result"]
    shape = SHAPES["bench-1.1b"]
    if abs(r["params"] - shape.params) > 1e6:
        return None
    est = zero3(shape, gpus=r["world_size"], micro=r["micro"], seq=r["seq"],
                checkpointing=r["activation_checkpointing"])
    return {"device": r["device"], "measured": r["max_memory_gib"], "estimate": est,
            "ratio": r["max_memory_gib"] / est["total"], "settings": {k: r[k] for k in ("world_size", "micro", "seq",
                                                                                       "zero_stage", "precision")}}


def table(results: str = "") -> list[str]:
    """The per-phase table for a 7B model (and the 0.5B first run), as Markdown lines."""
    g, t, q, mt, small = (SHAPES["llama-2-7b"], SHAPES["nllb-3.3b"], SHAPES["qwen2.5-0.5b"], SHAPES["nllb-600m"],
                          SHAPES["bench-1.1b"])
    out = ["| phase | model, setting | estimate per GPU (GiB) | how |", "|---|---|---|---|"]
    v = vllm(g)
    out.append(f"| generation | {g.name} bf16, vLLM, 80 GiB GPU, gpu_memory_utilization 0.9 | {v['total']:.0f} "
               f"(weights {v['weights']:.1f}, KV budget {v['kv_budget']:.1f}) | KV {v['kv_per_token_mib']:.2f} MiB per "
               f"token, {v['kv_per_seq']:.2f} GiB per 1,536-token sequence (1,024 prompt + 512 new): "
               f"{v['concurrent']} sequences at once; a batch of 256 would need {v['kv_batch']:.0f} GiB of KV |")
    for precision in ("float16", "int8"):
        c = ct2(t, precision)
        out.append(f"| translation | {t.name} CTranslate2 {precision}, 32 sentences x beam 4, 256+256 tokens | "
                   f"{c['total']:.1f} (weights {c['weights']:.1f}, caches {c['cache']:.1f}) | worst case: segments are "
                   "cut at 256 tokens; typical sentences (30-60 tokens) need a quarter of the cache |")
    for ac in (True, False):
        z = zero3(g, checkpointing=ac)
        out.append(f"| training | {g.name}, ZeRO-3 on 8 GPUs, bf16 + Adam, micro 4 x 2,048, activation checkpointing "
                   f"{'on' if ac else 'off'} | {z['total']:.1f} (states {z['states']:.1f}, activations "
                   f"{z['activations']:.1f}, loss {z['logits']:.1f}, live layer {z['live_layer']:.1f}) | 16Φ/8 + "
                   "activations + loss |")
    vq, cq, zq = vllm(q), ct2(mt), zero3(q, gpus=1)
    out.append(f"| first run, 1 GPU | {q.name} transformers generate, 256 x 1,536 tokens / {mt.name} fp16 / "
               f"ZeRO-3 on 1 GPU (micro 4 x 2,048, checkpointing on) | {vq['weights'] + vq['kv_batch']:.1f} / "
               f"{cq['total']:.1f} / {zq['total']:.1f} (loss {zq['logits']:.1f}: a 152k vocabulary) | generation and "
               "translation share the GPU; training and evaluation run after them |")
    check = measured_check(results)
    if check:
        e = check["estimate"]
        settings = check["settings"]
        out.append(f"| check: measured | {small.name}, ZeRO-3 on 1 {check['device']}, micro {settings['micro']} "
                   f"x {settings['seq']}, checkpointing off | measured {check['measured']:.1f}; formula "
                   f"{e['total']:.1f} (states {e['states']:.1f}, activations {e['activations']:.1f}, loss "
                   f"{e['logits']:.1f}) | formula = {1 / check['ratio']:.0%} of the measured peak |")
    return out


def main(argv: Optional[list[str]] = None) -> None:
    from sdrrl_ray.planner.rates import REPO_RESULTS

    ap = argparse.ArgumentParser(prog="python -m sdrrl_ray.planner.memory", description=__doc__.split("\n")[0])
    ap.add_argument("--results", default=os.path.join(REPO_RESULTS, "train_gpu.json"),
                    help="measured training result to check the formula against")
    print("\n".join(table(ap.parse_args(argv).results)))


if __name__ == "__main__":
    main()
