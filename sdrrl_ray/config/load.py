"""Loading the configuration: a YAML file, ``key=value`` overrides (values parsed as YAML:
``languages.targets=[ja,th]``), unknown keys rejected by name, every problem collected before
raising, and the cross-section checks (languages against the registry and each configured component).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from dataclasses import fields
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

from sdrrl_ray import languages as langs
from sdrrl_ray.config.sections import Config
from sdrrl_ray.errors import ConfigError, UserError


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict:
    """Turn ``["a.b=1", "c=[x,y]"]`` into a nested dict; values parsed as YAML."""
    nested: dict = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError([f"override {item!r} is not key=value (example: seed=3)"])
        key, raw = item.split("=", 1)
        key = key.strip().lstrip("-")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as exc:
            raise ConfigError([f"override {item!r}: value does not parse as YAML ({exc.problem})"]) from None
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError([f"override {item!r} conflicts with another override of {part}"])
        node[parts[-1]] = value
    return nested


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in _FREE_DICT_KEYS:
            out[key] = _deep_merge(out[key], value)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


# dict-valued fields whose keys are free (not part of the schema)
_FREE_DICT_KEYS = {"resources", "engine_kwargs", "paths", "lora", "resources_per_worker", "models"}


def _build(cls: type, data: Any, prefix: str, problems: list[str]) -> Any:
    if not isinstance(data, dict):
        problems.append(f"{prefix or 'config'} must be a mapping, got {type(data).__name__}")
        return cls()
    hints = get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    for key in data:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else key
            problems.append(f"unknown config key '{where}' (known here: {', '.join(sorted(names))})")
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        where = f"{prefix}.{f.name}" if prefix else f.name
        kwargs[f.name] = _coerce(hints[f.name], data[f.name], where, problems)
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return cls()


def _coerce(tp: Any, value: Any, where: str, problems: list[str]) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where, problems)
    if origin is Union:
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where, problems)
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            problems.append(f"{where} must be a list, got {value!r}")
            return ()
        return tuple(value)
    if origin is dict or tp is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            problems.append(f"{where} must be a mapping, got {value!r}")
            return {}
        return dict(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if tp in (int, float, str, bool) and not isinstance(value, tp):
        problems.append(f"{where} must be {tp.__name__}, got {value!r}")
        return None
    if tp is int and isinstance(value, bool):
        problems.append(f"{where} must be int, got {value!r}")
    return value


def from_dict(data: dict, *, require_engines: bool = True) -> Config:
    """Build a :class:`Config` from a nested dict, collecting every problem before raising."""
    problems: list[str] = []
    cfg = _build(Config, data, "", problems)
    if problems:
        raise ConfigError(problems)
    check(cfg, require_engines=require_engines)
    return cfg


def load_config(path: str | os.PathLike | None, overrides: list[str] | tuple[str, ...] = (), *,
                require_engines: bool = True) -> Config:
    """Read YAML ``path`` (or nothing), apply ``key=value`` overrides and validate.

    ``require_engines=False`` skips the check that the configured engines are importable here
    (planning a vLLM run from a laptop)."""
    data: dict = {}
    if path:
        path = os.fspath(path)
        if not os.path.exists(path):
            raise UserError(f"config file {path} does not exist; pass an existing YAML file (see jobs/configs/)")
        with open(path, encoding="utf-8") as fh:
            try:
                data = yaml.safe_load(fh) or {}
            except yaml.YAMLError as exc:
                raise UserError(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise UserError(f"config file {path} must hold a mapping at the top level")
        data = _resolve_relative_paths(data, os.path.dirname(os.path.abspath(path)))
    data = _deep_merge(data, parse_overrides(list(overrides)))
    return from_dict(data, require_engines=require_engines)


def _resolve_relative_paths(data: dict, base: str) -> dict:
    """Paths in a config file that start with ``./`` or ``../`` are relative to the file."""

    def fix(value: Any) -> Any:
        if isinstance(value, str) and (value.startswith("./") or value.startswith("../")):
            return os.path.normpath(os.path.join(base, value))
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        return value

    return fix(data)


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def check(cfg: Config, *, require_engines: bool = True) -> None:
    """Cross-field checks: languages against the registry and every configured component."""
    problems: list[str] = []
    src = cfg.languages.source
    if src not in langs.SOURCES:
        problems.append(
            f"languages.source={src!r} is not a supported source language (supported: {', '.join(langs.SOURCES)})"
        )
    if not cfg.languages.targets:
        problems.append("languages.targets is empty; name at least one target, e.g. languages.targets=[ja]")
    family = translate_family(cfg)
    for iso in cfg.languages.targets:
        if iso not in langs.PIPELINE_LANGUAGES:
            problems.append(
                f"languages.targets has unknown language '{iso}' "
                f"(supported: {', '.join(langs.PAPER_TARGETS)})"
            )
            continue
        if iso == src:
            problems.append(f"languages.targets contains the source language '{iso}'")
        try:
            langs.check_supported(iso, f"translate:{family}")
        except langs.UnsupportedLanguage as exc:
            problems.append(str(exc))
    # an eval task scores the targets it covers (XL-Sum has 6 of the paper's 14, as in the paper);
    # one that covers none of them is a configuration mistake
    known = [t for t in cfg.languages.targets if t in langs.PIPELINE_LANGUAGES]
    for task in cfg.eval.tasks:
        covered = []
        for iso in known:
            try:
                langs.check_supported(iso, f"eval:{task}")
                covered.append(iso)
            except langs.UnsupportedLanguage:
                pass
        if known and not covered:
            problems.append(
                f"languages {known} are not supported by eval:{task}; remove {task} from eval.tasks "
                "or add a target it covers"
            )
    if require_engines and cfg.generate.engine == "vllm" and not vllm_available():
        problems.append(
            "generate.engine=vllm but the vllm package is not importable in this environment; "
            "install it (pip install 'sdrrl-ray[vllm]' on a GPU machine) or set generate.engine=hf"
        )
    if problems:
        raise ConfigError(problems)


def translate_family(cfg: Config) -> str:
    """The language-code family the translation model uses."""
    if cfg.translate.backend == "llm":
        return "llm"
    if cfg.translate.family != "auto":
        return cfg.translate.family
    name = os.path.basename(cfg.translate.model.rstrip("/")).lower()
    if "m2m" in name:
        return "m2m100"
    if "marian" in name or "opus-mt" in name:
        return "marian"
    return "nllb"
