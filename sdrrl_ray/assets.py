"""The one resolver of model references and built-in assets; nothing else outside ``demo/`` imports it.

Models (``generate.model``, ``train.model``, ``eval.models``):

- ``demo``: the project's tiny language model, built offline and cached on first use;
- a local folder must hold a Hugging Face model (``config.json``);
- anything else (a hub id, an ``s3://`` URL) is passed on unchanged: the loader resolves it, and a
  URL is copied to each node's disk inside the actor (:func:`sdrrl_ray.storage.local_model_path`).

Translation models (``translate.model``):

- ``demo:nllb``: the tiny NLLB-style demo model; ``demo:marian``: the tiny demo Marian model of each pair;
- a string with ``{src}`` / ``{tgt}``: one model per pair, e.g. ``/models/opus-mt-{src}-{tgt}``;
- a local Hugging Face folder (``config.json``) or CTranslate2 folder (``model.bin``); other strings unchanged.

COMET models (``filter.qe.model``, ``eval.comet.model``): a hub id, checkpoint or folder, passed on to
the scoring worker; ``demo:comet-da`` / ``demo:cometkiwi``: tiny random-init checkpoints in COMET's
format, built with the COMET environment (:mod:`sdrrl_ray.demo.comet_checkpoints`).

Phases resolve references on the driver and hand stages resolved paths.
"""

from __future__ import annotations

import os
from typing import Iterable, Optional

from sdrrl_ray.errors import UserError

DEMO_LLM = "demo"
DEMO_MT = ("demo:nllb", "demo:marian")


def _passed_on(spec: str) -> bool:
    """A hub id or URL: not path-like and not an existing path."""
    return "://" in spec or not (spec.startswith(("/", ".", "~")) or os.path.exists(spec))


def resolve_model(spec: str, what: str = "generate.model") -> str:
    """The model folder (or hub id / URL) that ``spec`` names; ``demo`` is built on first use."""
    if not spec:
        raise UserError(f"{what} is empty; set it to a model folder (or 'demo' for the built-in tiny model)")
    if spec == DEMO_LLM:
        from sdrrl_ray.demo.build import demo_model_path

        return demo_model_path()
    if _passed_on(spec):
        return spec  # hub id or remote URL: the loader resolves it
    path = os.path.abspath(os.path.expanduser(spec))
    if not os.path.isdir(path) or not os.path.exists(os.path.join(path, "config.json")):
        raise UserError(f"{what}={spec}: no model folder with a config.json there; "
                        "point it at a Hugging Face model folder")
    return path


def per_pair(spec: str) -> bool:
    """Whether ``spec`` names a different translation model for each (source, target) pair."""
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
                raise UserError(f"{what}=demo:marian serves one pair; name the pair (src and tgt) to resolve it")
            from sdrrl_ray.demo.mt import demo_marian_path

            return demo_marian_path(src or "en", tgt)
        raise UserError(f"{what}={spec} is not a demo model (known: {', '.join(DEMO_MT)})")
    if per_pair(spec):
        if src is None or tgt is None:
            raise UserError(f"{what}={spec} names one model per pair; name the pair (src and tgt) to resolve it")
        spec = spec.replace("{src}", src).replace("{tgt}", tgt)
    if _passed_on(spec):
        return spec
    path = os.path.abspath(os.path.expanduser(spec))
    if not os.path.isdir(path):
        raise UserError(f"{what}={spec}: no such folder; point it at a Hugging Face or CTranslate2 model folder")
    if not (os.path.isfile(os.path.join(path, "config.json")) or os.path.isfile(os.path.join(path, "model.bin"))):
        raise UserError(
            f"{what}={spec}: the folder holds neither a Hugging Face model (config.json) nor a CTranslate2 "
            "model (model.bin)"
        )
    return path


def translation_model_paths(spec: str, src: str, targets: Iterable[str]) -> dict[str, str]:
    """target -> the translation model serving (``src``, target): one model for all, or one per pair."""
    return {tgt: resolve_translation_model(spec, src, tgt) for tgt in targets}


def resolve_comet_model(spec: str, python: Optional[str], what: str = "eval.comet.model") -> str:
    """The COMET model ``spec`` names: a hub id, a checkpoint file or a folder with ``checkpoints/model.ckpt``
    (passed on: the scoring worker loads it), or ``demo:comet-da`` / ``demo:cometkiwi``, the tiny
    random-init checkpoints built with the COMET environment's ``python`` on first use."""
    if not spec:
        raise UserError(f"{what} is empty; set it to a COMET model (e.g. Unbabel/wmt22-comet-da)")
    if not spec.startswith("demo:"):
        return spec
    from sdrrl_ray.demo.comet_checkpoints import KINDS, comet_model_path

    if spec not in KINDS:
        raise UserError(f"{what}={spec} is not a demo COMET model (known: {', '.join(KINDS)})")
    section = what.rsplit(".", 1)[0]
    if not python:
        raise UserError(f"{what}={spec} is built by unbabel-comet itself: set {section}.python to the python of "
                        "the COMET environment (`make comet-env` builds .venv-comet)")
    return comet_model_path(spec, os.path.expanduser(python))


def demo_eval_data_dir() -> str:
    """The demo's own evaluation files, one folder per task in each benchmark's released layout."""
    from sdrrl_ray.demo.assets import eval_data_dir

    return eval_data_dir()


def demo_parallel_path(lang: str) -> str:
    """The demo's English-``lang`` parallel corpus (TSV)."""
    from sdrrl_ray.demo.assets import parallel_path

    return parallel_path(lang)
