"""What decides a transfer set's rows, as one hash: a rerun into the same ``OUT`` resumes only when
it matches, and refuses otherwise."""

from __future__ import annotations

import hashlib
import json

from sdrrl_ray.config import Config
from sdrrl_ray.storage import content_hash

# config sections that change no row of the output (resources, later phases)
NOT_IN_FINGERPRINT = ("out_dir", "ray", "train", "eval", "compare", "rows_per_file")


def _model_identity(info):
    """A local folder is known by its config and weight files; a hub id or URL only by its name."""
    if not isinstance(info, dict):
        return info
    if "config_sha256" in info:
        return {k: v for k, v in info.items() if k != "path"}
    if "path" in info:
        return info
    return {k: _model_identity(v) for k, v in info.items()}  # one model per target


def fingerprint(cfg: Config, files: list, models: dict) -> str:
    """Config (minus resources and later phases), input and resource file contents, models. Paths are
    replaced by content hashes, so the same run submitted from another folder (a Ray Job's
    working_dir upload) resumes instead of being refused."""
    conf = {k: v for k, v in cfg.to_dict().items() if k not in NOT_IN_FINGERPRINT}
    for section in conf.values():
        if isinstance(section, dict):
            section.pop("pool", None)
    conf["generate"].pop("cache_dir", None)
    conf["translate"].pop("cache_dir", None)
    conf["data"]["path"] = [f.sha256 for f in files]
    conf["code_switch"]["dictionaries"] = content_hash(cfg.code_switch.dictionaries)
    conf["parallel"]["paths"] = {t: content_hash(p) for t, p in cfg.parallel.paths.items()}
    payload = {"config": conf, "models": {k: _model_identity(v) for k, v in models.items()}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
