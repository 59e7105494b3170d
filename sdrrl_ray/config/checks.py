"""The value checks the config sections run in ``__post_init__``: each raises :class:`ConfigError`
with one problem that names the key, the value and what it must be."""

from __future__ import annotations

import math
import posixpath
from typing import Any

from sdrrl_ray.errors import ConfigError


def _one_of(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError([f"{name}={value!r} is not one of {list(allowed)}"])


def _positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError([f"{name}={value!r} must be a positive integer"])


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _at_least(name: str, value: Any, low: float, *, whole: bool = False) -> None:
    ok = (isinstance(value, int) and not isinstance(value, bool)) if whole else _number(value)
    if not ok or value < low:
        raise ConfigError([f"{name}={value!r} must be {'an integer' if whole else 'a number'} >= {low}"])


def _above_zero(name: str, value: Any) -> None:
    if not _number(value) or value <= 0:
        raise ConfigError([f"{name}={value!r} must be a number above 0"])


def _fraction(name: str, value: Any, *, zero: bool = True, one: bool = True) -> None:
    if not _number(value) or value < 0 or value > 1 or (value == 0 and not zero) or (value == 1 and not one):
        interval = f"{'[' if zero else '('}0, 1{']' if one else ')'}"
        raise ConfigError([f"{name}={value!r} must be in {interval}"])


def _check_out_dir(out_dir: Any) -> None:
    """Reject an empty ``out_dir`` and one that is a file-system or bucket root (``/``, ``//``, ``file:///``,
    ``s3://``): the run writes and resumes under it."""
    if not isinstance(out_dir, str) or not out_dir.strip():
        raise ConfigError([f"out_dir is empty ({out_dir!r}); set out_dir=DIR, a folder for this run's outputs"])
    scheme, sep, rest = out_dir.strip().partition("://")
    if not sep:
        scheme, rest = "", out_dir.strip()
        if rest.lower().startswith("file:"):  # file:/ and file:/tmp/x
            scheme, rest = "file", rest[5:]
    if scheme.lower() in ("", "file", "local"):
        if scheme and not rest.startswith("/"):
            rest = "/" + rest
        if posixpath.normpath(rest).strip("/") in ("", ".") and rest.startswith("/"):
            raise ConfigError([f"out_dir={out_dir!r} is the file-system root; set out_dir=DIR, a folder for this "
                               "run's outputs (e.g. out_dir=/data/runs/ja)"])
    elif not rest.strip("/"):
        raise ConfigError([f"out_dir={out_dir!r} names no bucket or folder; set out_dir={scheme}://BUCKET/FOLDER"])
