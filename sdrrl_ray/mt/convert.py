"""Convert a Hugging Face seq2seq folder to CTranslate2 once (:func:`converted_folder`), cache the
result, and work around transformers 5's break of CTranslate2's M2M100/NLLB vocabulary
(:func:`m2m100_vocabulary`). Where the folder lives and why the patch: ``docs/ctranslate2-conversion.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from typing import Optional

from sdrrl_ray.storage import cache_root, cached_folder, has_file

logger = logging.getLogger(__name__)

MARKER = "sdrrl_ct2.json"  # provenance, written before the rename
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".ckpt")


def is_ct2_folder(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "model.bin"))


def converted_folder(model: str, quantization: Optional[str]) -> str:
    """The CTranslate2 folder for ``model`` (an HF folder or hub id), converting it on first use."""
    import ctranslate2

    if os.path.isdir(model) and is_ct2_folder(model):
        return model
    quant = quantization or "float32"
    key = _source_key(model, quant, ctranslate2.__version__)
    final = _target_path(model, quant, key)

    def build(tmp: str) -> None:
        convert(model, tmp, quant)
        with open(os.path.join(tmp, MARKER), "w", encoding="utf-8") as f:
            json.dump({"source": model, "quantization": quant, "ctranslate2": ctranslate2.__version__}, f)

    folder, built = cached_folder(final, build, complete=has_file(MARKER))
    if built:
        logger.info("converted %s to CTranslate2 (%s): %s", model, quant, folder)
    return folder


def convert(model: str, output_dir: str, quantization: Optional[str]) -> None:
    """Run CTranslate2's transformers converter (M2M100/NLLB vocabulary fixed) and save the tokenizer."""
    import ctranslate2.converters.transformers as ct2t
    from transformers import AutoTokenizer

    with _patched_m2m100_vocabulary(ct2t):
        ct2t.TransformersConverter(model, low_cpu_mem_usage=True).convert(
            output_dir, quantization=None if quantization == "float32" else quantization, force=True
        )
    AutoTokenizer.from_pretrained(model).save_pretrained(output_dir)


@contextlib.contextmanager
def _patched_m2m100_vocabulary(ct2t):
    loader = ct2t.M2M100Loader
    original = loader.get_vocabulary
    loader.get_vocabulary = lambda self, model, tokenizer: m2m100_vocabulary(model.config.vocab_size, tokenizer)
    try:
        yield
    finally:
        loader.get_vocabulary = original


def m2m100_vocabulary(vocab_size: int, tokenizer) -> list[str]:
    """Token of every id ``0 .. vocab_size-1`` (holes filled with ``madeupwordN``)."""
    by_id: dict[int, str] = {}
    sources = [tokenizer.get_vocab()]
    sources.append(getattr(tokenizer, "added_tokens_encoder", {}) or {})
    sources.append(getattr(tokenizer, "lang_token_to_id", {}) or {})
    for mapping in sources:
        for token, idx in mapping.items():
            if 0 <= idx < vocab_size and idx not in by_id:
                by_id[idx] = token
    seen: set[str] = set()
    tokens, madeup = [], 0
    for idx in range(vocab_size):
        token = by_id.get(idx)
        if token is None or token in seen:
            token = f"madeupword{madeup}"
            madeup += 1
        seen.add(token)
        tokens.append(token)
    return tokens


def _source_key(model: str, quant: str, version: str) -> str:
    h = hashlib.sha256(f"{os.path.abspath(model) if os.path.isdir(model) else model}\n{quant}\n{version}\n".encode())
    if os.path.isdir(model):
        for name in sorted(os.listdir(model)):
            st = os.stat(os.path.join(model, name))
            h.update(f"{name}\0{st.st_size}\0{int(st.st_mtime)}\n".encode())
    return h.hexdigest()[:16]


def _target_path(model: str, quant: str, key: str) -> str:
    name = f"{os.path.basename(os.path.normpath(model)) or 'model'}.ct2-{quant}-{key}".replace("/", "--")
    if os.environ.get("SDRRL_CACHE"):
        return os.path.join(cache_root(), "ct2", name)
    if os.path.isdir(model):
        parent = os.path.dirname(os.path.abspath(model))
        if os.access(parent, os.W_OK):
            return os.path.join(parent, name)
    return os.path.join(cache_root(), "ct2", name)
