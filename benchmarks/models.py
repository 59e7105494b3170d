"""Random-init Llama model folders for the benchmarks, built offline with the project's tokenizer.

Speed depends on shapes, not on weights, so the benchmarks time random-init models of a named
size. ``random_llama(name)`` trains the demo's byte-level BPE tokenizer on the demo data (a few
seconds), builds a Llama of the named shape with that tokenizer's vocabulary, and saves a Hugging
Face folder (safetensors, tokenizer with chat template, generation config) that every engine loads
like any other model folder. Folders are cached by shape under ``$SDRRL_BENCH_CACHE`` (default
``~/.cache/sdrrl-ray/bench-models``).

    python benchmarks/models.py 30m          # prints the folder
"""

from __future__ import annotations

import json
import os
import sys
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VOCAB = 8000  # upper bound: the demo corpus runs out of merges a little before it

SHAPES = {
    # name: Llama trunk (hidden, MLP, layers, heads, kv heads); vocabulary = the tokenizer's
    "tiny": dict(hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=1,
                 num_key_value_heads=1),
    "30m": dict(hidden_size=512, intermediate_size=1536, num_hidden_layers=8, num_attention_heads=8,
                num_key_value_heads=4),
    "100m": dict(hidden_size=768, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=12,
                 num_key_value_heads=4),
    # Llama-3.2-1B's trunk
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8),
}


def cache_dir() -> str:
    return os.environ.get("SDRRL_BENCH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "sdrrl-ray",
                                                               "bench-models")


def tokenizer():
    from sdrrl_ray.demo.build import tokenizer_texts
    from sdrrl_ray.demo.tokenizer import train_tokenizer

    return train_tokenizer(tokenizer_texts(), VOCAB)


def random_llama(name: str, folder: Optional[str] = None, dtype: str = "float32", seed: int = 0) -> str:
    """Build (or reuse) the random-init Llama ``name`` (a key of SHAPES) and return its folder."""
    if name not in SHAPES:
        raise SystemExit(f"unknown model shape {name!r}; choose one of {', '.join(SHAPES)}")
    folder = folder or os.path.join(cache_dir(), f"llama-{name}-{dtype}")
    if (os.path.exists(os.path.join(folder, "model.safetensors"))
            or os.path.exists(os.path.join(folder, "model.safetensors.index.json"))):
        return folder
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tok = tokenizer()
    shape = SHAPES[name]
    config = LlamaConfig(
        vocab_size=len(tok), max_position_embeddings=4096, tie_word_embeddings=False,
        head_dim=shape["hidden_size"] // shape["num_attention_heads"],
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, **shape,
    )
    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):  # random init on the GPU when there is one: seconds instead of a minute for 1B
        model = LlamaForCausalLM(config)
    model.to(getattr(torch, dtype))
    model.generation_config = GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                               pad_token_id=tok.pad_token_id)
    tmp = folder + ".tmp"
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    with open(os.path.join(tmp, "bench_model.json"), "w") as fh:
        json.dump({"shape": name, "params": model.num_parameters(), "dtype": dtype, "seed": seed}, fh)
    os.replace(tmp, folder)
    return folder


def describe(folder: str) -> dict:
    """Shape, size and precision of a model folder (from its config and safetensors headers)."""
    import numpy as np
    import safetensors
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(folder)
    n, dtypes = 0, set()
    for fname in sorted(os.listdir(folder)):
        if fname.endswith(".safetensors"):
            with safetensors.safe_open(os.path.join(folder, fname), "pt") as f:
                for k in f.keys():
                    sl = f.get_slice(k)
                    n += int(np.prod(sl.get_shape()))
                    dtypes.add(str(sl.get_dtype()))
    return {"params": n, "stored_dtype": ",".join(sorted(dtypes)), "hidden": cfg.hidden_size,
            "layers": cfg.num_hidden_layers, "vocab": cfg.vocab_size}


if __name__ == "__main__":
    print(random_llama(sys.argv[1] if len(sys.argv) > 1 else "30m"))
