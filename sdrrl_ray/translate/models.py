"""Resolve ``translate.model`` to a folder (or hub id) a backend can load, and check it at start-up.

- ``demo:nllb``: the tiny NLLB-style demo model (:func:`sdrrl_ray.demo.mt.demo_nllb_path`);
- ``demo:marian``: the tiny demo Marian model of the pair (en-ja, en-th);
- a string with ``{src}`` / ``{tgt}``: one model per pair, e.g. ``/models/opus-mt-{src}-{tgt}``;
- a local Hugging Face folder (``config.json``) or CTranslate2 folder (``model.bin``);
- anything else that is not path-like is passed on unchanged (a hub id, for clusters with access).
"""

from __future__ import annotations

import os
from typing import Iterable, Optional

from sdrrl_ray.errors import UserError

DEMO_MODELS = ("demo:nllb", "demo:marian")


def per_pair(spec: str) -> bool:
    """Whether ``spec`` names a different model for each (source, target) pair."""
    return spec == "demo:marian" or "{src}" in spec or "{tgt}" in spec


def resolve_translation_model(spec: str, src: Optional[str] = None, tgt: Optional[str] = None,
                              what: str = "translate.model") -> str:
    """The model folder (or hub id) for ``spec``; per-pair specs need ``src`` and ``tgt``."""
    if not spec:
        raise UserError(f"{what} is empty; set it to a translation model folder, or demo:nllb for the built-in one")
    if spec.startswith("demo:"):
        if spec == "demo:nllb":
            from sdrrl_ray.demo.mt import demo_nllb_path

            return demo_nllb_path()
        if spec == "demo:marian":
            if tgt is None:
                raise UserError(f"{what}=demo:marian serves one pair; [Internal] resolve it with src and tgt")
            from sdrrl_ray.demo.mt import demo_marian_path

            return demo_marian_path(src or "en", tgt)
        raise UserError(f"{what}={spec} is not a demo model (known: {', '.join(DEMO_MODELS)})")
    if per_pair(spec):
        if src is None or tgt is None:
            raise UserError(f"{what}={spec} names one model per pair; [Internal] resolve it with src and tgt")
        spec = spec.replace("{src}", src).replace("{tgt}", tgt)
    if "://" in spec or not (spec.startswith(("/", ".", "~")) or os.path.exists(spec)):
        return spec  # hub id or remote URL: the loader resolves it
    path = os.path.abspath(os.path.expanduser(spec))
    if not os.path.isdir(path):
        raise UserError(f"{what}={spec}: no such folder; point it at a Hugging Face or CTranslate2 model folder")
    if not (os.path.isfile(os.path.join(path, "config.json")) or os.path.isfile(os.path.join(path, "model.bin"))):
        raise UserError(
            f"{what}={spec}: the folder holds neither a Hugging Face model (config.json) nor a CTranslate2 "
            "model (model.bin)"
        )
    return path


def check_translation_model(spec: str, src: str, targets: Iterable[str], backend: str = "ct2",
                            family: str = "auto") -> None:
    """Start-up check: every (src, target) pair resolves to a model that has its language codes.

    Loads tokenizers only (a second or so). Raises :class:`~sdrrl_ray.errors.UserError` naming the
    language and the model. The ``llm`` backend needs only the registry's language names.
    """
    if backend == "llm":
        return
    from transformers import AutoTokenizer

    from sdrrl_ray.translate.backends import LanguageCodes, detect_family

    seen: dict[str, LanguageCodes] = {}
    for tgt in targets:
        path = resolve_translation_model(spec, src, tgt)
        if path not in seen:
            try:
                tokenizer = AutoTokenizer.from_pretrained(path)
            except Exception as exc:
                raise UserError(f"translate.model={spec}: cannot load the tokenizer of {path} ({exc})") from None
            seen[path] = LanguageCodes(tokenizer, detect_family(tokenizer, family, path), path)
        seen[path].check_pair(src, tgt)
