"""Resolve a configured model reference to something a loader can open.

``demo`` is the project's tiny language model (built offline and cached, see
:mod:`sdrrl_ray.demo.build`); a local folder must hold a Hugging Face model; any other string is
passed to the loader unchanged (a hub id or URL, for clusters that can reach them).
"""

from __future__ import annotations

import os

from sdrrl_ray.errors import UserError

DEMO_LLM = "demo"


def resolve_model(spec: str, what: str = "generate.model") -> str:
    if not spec:
        raise UserError(f"{what} is empty; set it to a model folder (or 'demo' for the built-in tiny model)")
    if spec == DEMO_LLM:
        from sdrrl_ray.demo.build import demo_model_path

        return demo_model_path()
    if "://" in spec or not (spec.startswith(("/", ".", "~")) or os.path.exists(spec)):
        return spec  # hub id or remote URL: the loader resolves it
    path = os.path.abspath(os.path.expanduser(spec))
    if not os.path.isdir(path) or not os.path.exists(os.path.join(path, "config.json")):
        raise UserError(f"{what}={spec}: no model folder with a config.json there; point it at a Hugging Face model folder")
    return path
