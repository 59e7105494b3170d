"""Loading the configuration: a YAML file, ``key=value`` overrides (values parsed as YAML 1.2 by
:mod:`.yaml12`, the one reader for both: ``languages.targets=[ja,th]``, ``seed=0123`` is 123, ``no`` is
a string), unknown keys rejected by name, every problem collected before raising, and the
cross-section checks (languages against the registry and each configured component). Every problem
is one line that says what, where and how to fix it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import re
from dataclasses import fields
from typing import Any, NoReturn, Union, get_args, get_origin, get_type_hints

import yaml

from sdrrl_ray import languages as langs
from sdrrl_ray.config import yaml12
from sdrrl_ray.config.sections import Config
from sdrrl_ray.config.yaml12 import one_line
from sdrrl_ray.errors import ConfigError, UserError


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict:
    """Turn ``["a.b=1", "c=[x,y]"]`` into a nested dict; values parsed as YAML 1.2 (:mod:`.yaml12`),
    an empty value is the empty string."""
    nested: dict = {}
    for item in overrides:
        shown = one_line(repr(item))
        if "=" not in item:
            _raise([f"override {shown} is not key=value (example: seed=3)"])
        key, raw = item.split("=", 1)
        key = key.strip().lstrip("-")
        parts = key.split(".")
        if not all(parts):
            _raise([f"override {shown} has an empty key name; write section.key=value (example: seed=3)"])
        try:
            value = yaml12.load(raw, "value") if raw != "" else ""
        except yaml.YAMLError as exc:
            bad = yaml12.describe(exc, "value")
        else:
            bad = ""
        if bad:
            _raise([f"override {shown}: the value does not parse as YAML ({bad}); "
                    f"fix it, or quote text that holds ': ', '#' or brackets: '{key}=\"...\"'"])
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                _raise([f"override {shown} conflicts with another override of {part}"])
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
    if data is None and prefix:  # "data:" with every line under it commented out: the defaults
        data = {}
    if not isinstance(data, dict):
        problems.append(f"{prefix or 'config'} must be a mapping (key: value lines), got {_short(data)}")
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
        before = len(problems)
        value = _coerce(hints[f.name], data[f.name], where, problems)
        if len(problems) == before:  # a value already reported keeps the default, so the checks below can run
            kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        problems.extend(_qualify(p, prefix, names) for p in exc.problems)
        return cls()


def _qualify(problem: str, prefix: str, names: set[str]) -> str:
    """Give a problem that names a field of a shared section (``batch_size=0 ...`` from a pool) its full key."""
    match = re.match(r"[A-Za-z_]+", problem)
    if prefix and match and match.group(0) in names:
        return f"{prefix}.{problem}"
    return problem


def _coerce(tp: Any, value: Any, where: str, problems: list[str]) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where, problems)
    if origin is Union:
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where, problems)
    if value is None and tp is str:  # "key:" with nothing after it, as "key=" on the command line
        return ""
    if value is None and tp in (int, float, bool):
        problems.append(f"{where} is empty (null); give it a value, or leave the key out for the default")
        return None
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            problems.append(f"{where} must be a list, got {_short(value)}")
            return ()
        if get_args(tp)[:1] == (str,):
            if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
                problems.append(f"{where} must be a list of names, got {_short(value)} (example: {where}=[a,b])")
                return ()
            return tuple(str(v) for v in value)
        return tuple(value)
    if origin is dict or tp is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            problems.append(f"{where} must be a mapping, got {_short(value)}")
            return {}
        return dict(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, float) and math.isnan(value):
        problems.append(f"{where} is nan; give it a number")
        return None
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if tp is bool and not isinstance(value, bool):
        problems.append(f"{where} must be a boolean, got {_short(value)} (yes/no/on/off are text here); "
                        "use true or false")
        return None
    if tp in (int, float, str) and (not isinstance(value, tp) or isinstance(value, bool)):
        hint = ""
        if tp is int and isinstance(value, (int, float)):
            hint = "; use a whole number"
        elif tp is str and isinstance(value, (dict, list)):
            hint = "; quote it if the ': ', '- ' or brackets are part of the text"
        problems.append(f"{where} must be {tp.__name__}, got {_short(value)}{hint}")
        return None
    return value


def from_dict(data: dict, *, require_engines: bool = True) -> Config:
    """Build a :class:`Config` from a nested dict, collecting every problem before raising."""
    problems: list[str] = []
    cfg = _build(Config, data, "", problems)
    if problems:
        _raise(problems)
    check(cfg, require_engines=require_engines)
    return cfg


def with_settings(cfg: Config, settings: dict) -> Config:
    """``cfg`` with the nested ``settings`` merged over it (as overrides are), validated again."""
    return from_dict(_deep_merge(cfg.to_dict(), settings))


def load_config(path: str | os.PathLike | None, overrides: list[str] | tuple[str, ...] = (), *,
                require_engines: bool = True) -> Config:
    """Read YAML ``path`` (or nothing), apply ``key=value`` overrides and validate.

    ``require_engines=False`` skips the check that the configured engines are importable here
    (planning a vLLM run from a laptop)."""
    data: dict = {}
    if path:
        path = os.fspath(path)
        data = _resolve_relative_paths(read_config_file(path), os.path.dirname(os.path.abspath(path)))
    data = _deep_merge(data, parse_overrides(list(overrides)))
    return from_dict(data, require_engines=require_engines)


MAX_CONFIG_BYTES = 10 * 2**20  # a config is a few KiB


def read_config_file(path: str) -> dict:
    """The mapping in YAML file ``path`` ({} when it is empty); every problem a one-line :class:`UserError`."""
    shown = one_line(path)
    if os.path.isdir(path):
        try:
            inside = sorted(n for n in os.listdir(path) if n.endswith((".yaml", ".yml")))[:3]
        except OSError:
            inside = []
        hint = f" (it holds {', '.join(inside)})" if inside else " (see jobs/configs/)"
        raise UserError(f"config file {shown} is a folder, not a YAML file; pass the YAML file itself{hint}")
    if not os.path.exists(path):
        if os.path.islink(path):
            raise UserError(f"config file {shown} is a link to {one_line(os.readlink(path))}, which does not exist; "
                            "pass an existing YAML file (see jobs/configs/)")
        raise UserError(f"config file {shown} does not exist; pass an existing YAML file (see jobs/configs/)")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise UserError(f"config file {shown} cannot be read ({exc.strerror}); check that it is a readable file") \
            from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise UserError(f"config file {shown} is larger than {MAX_CONFIG_BYTES // 2**20} MiB; "
                        "is it the right file? (a config is a few KiB of YAML)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"config file {shown} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                        "it must be UTF-8 text: save it as UTF-8") from None
    try:
        data = yaml12.load(text, shown)
    except yaml.YAMLError as exc:
        raise UserError(f"{yaml12.describe(exc, shown)}; the config file is not valid YAML, fix it there") from None
    if data is None:  # empty, or only comments: all defaults
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file {shown} must hold a mapping at the top level (key: value lines), "
                        f"got {_short(data)}")
    return data


def _resolve_relative_paths(data: dict, base: str) -> dict:
    """Paths in a config file that start with ``./`` or ``../`` are relative to the file."""
    done: dict[int, Any] = {}  # a mapping reached through several aliases is fixed once

    def fix(value: Any) -> Any:
        if isinstance(value, str) and (value.startswith("./") or value.startswith("../")):
            return os.path.normpath(os.path.join(base, value))
        if isinstance(value, dict):
            if id(value) not in done:
                done[id(value)] = {k: fix(v) for k, v in value.items()}
            return done[id(value)]
        return value

    return fix(data)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _raise(problems: list[str]) -> NoReturn:
    raise ConfigError([one_line(p) for p in problems])


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
    targets = cfg.languages.targets
    if not targets:
        problems.append("languages.targets is empty; name at least one target, e.g. languages.targets=[ja]")
    once = list(dict.fromkeys(targets))
    for iso in once:
        if targets.count(iso) > 1:
            problems.append(f"languages.targets lists {iso} {_times(targets.count(iso))}; name each target once "
                            f"(languages.targets=[{','.join(once)}])")
    if src in targets:
        rest = ",".join(t for t in once if t != src) or "ja"
        problems.append(f"languages.targets contains the source language '{src}' (languages.source); "
                        f"translate into other languages only, e.g. languages.targets=[{rest}]")
    family = translate_family(cfg)
    for iso in once:
        if iso == src:
            continue
        if iso not in langs.PIPELINE_LANGUAGES:
            problems.append(
                f"languages.targets has unknown language '{iso}' "
                f"(supported: {', '.join(langs.PAPER_TARGETS)})"
            )
            continue
        try:
            langs.check_supported(iso, f"translate:{family}")
        except langs.UnsupportedLanguage as exc:
            problems.append(str(exc))
    # an eval task scores the targets it covers (XL-Sum has 6 of the paper's 14, as in the paper);
    # one that covers none of them is a configuration mistake
    known = [t for t in once if t in langs.PIPELINE_LANGUAGES]
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
        _raise(problems)


def _times(n: int) -> str:
    return "twice" if n == 2 else f"{n} times"


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
