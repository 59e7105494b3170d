"""The one YAML reader for config files and ``key=value`` override values: PyYAML's safe loader
with YAML 1.2 core-schema scalars instead of YAML 1.1's.

YAML 1.1 (``yaml.safe_load``) reads ``0123`` as octal 83, ``yes``/``no``/``on``/``off`` as booleans
(so ``languages.targets=[no]`` was ``False``), ``2024-01-01`` as a date and ``1e-5`` as a string.
Here: booleans are only ``true``/``false`` (``True``, ``TRUE``, ...), integers are decimal
(``0123`` is 123), ``0o17`` octal or ``0x1F`` hex, floats are YAML 1.2's (``1e-5``, ``.5``,
``.inf``, ``.nan``), null is ``null``/``Null``/``NULL``/``~``/empty, and every other plain scalar is
a string. Merge keys (``<<: *defaults``) still work. A key given twice in one mapping, an alias that
refers to itself and an alias expansion past :data:`MAX_NODES` nodes are errors. Every error is a
:class:`YAMLError` whose ``str`` is one line; :func:`describe` formats it with the file name.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_NODES = 100_000  # a config is a few hundred nodes; more after alias expansion is an alias bomb

_BOOL = re.compile(r"(?:true|True|TRUE|false|False|FALSE)\Z")
_NULL = re.compile(r"(?:~|null|Null|NULL|)\Z")
_INT = re.compile(r"(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\Z")
_FLOAT = re.compile(r"(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z")
_MERGE = re.compile(r"<<\Z")

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YAML12Error(yaml.MarkedYAMLError):
    """A problem this loader finds itself (duplicate key, bad number, alias bomb)."""


class Yaml12Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with YAML 1.2 core-schema implicit resolvers (its own copy of the table:
    the global ``SafeLoader`` is untouched)."""

    yaml_implicit_resolvers: dict = {}  # this class's own table (add_implicit_resolver below fills it)

    def construct_mapping(self, node: Node, deep: bool = False) -> dict:
        if isinstance(node, MappingNode):
            _reject_duplicate_keys(self, node)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: ScalarNode) -> int:
        text = self.construct_scalar(node)
        if isinstance(text, str) and _INT.match(text):
            if text.startswith("0o"):
                return int(text[2:], 8)
            if text.startswith("0x"):
                return int(text[2:], 16)
            return int(text, 10)
        raise YAML12Error(None, None, f"{text!r} is not an integer (YAML 1.2: 123, 0o17, 0x1F)", node.start_mark)

    def construct_yaml_float(self, node: ScalarNode) -> float:
        text = self.construct_scalar(node)
        if isinstance(text, str) and (_FLOAT.match(text) or _INT.match(text)):
            if _INT.match(text):
                return float(self.construct_yaml_int(node))
            low = text.lower()
            if low.endswith(".inf"):
                return -math.inf if low.startswith("-") else math.inf
            if low == ".nan":
                return math.nan
            return float(text)
        raise YAML12Error(None, None, f"{text!r} is not a number (YAML 1.2: 1.5, 1e-5, .inf)", node.start_mark)

    def construct_yaml_bool(self, node: ScalarNode) -> bool:
        text = self.construct_scalar(node)
        if isinstance(text, str) and _BOOL.match(text):
            return text.lower() == "true"
        raise YAML12Error(None, None, f"{text!r} is not a boolean; use true or false", node.start_mark)


for _tag, _regexp, _first in (
    (_BOOL_TAG, _BOOL, "tTfF"),
    (_NULL_TAG, _NULL, ["~", "n", "N", ""]),
    (_INT_TAG, _INT, "-+0123456789"),  # before float: "1" is an int
    (_FLOAT_TAG, _FLOAT, "-+.0123456789"),
    (_MERGE_TAG, _MERGE, "<"),
):
    Yaml12Loader.add_implicit_resolver(_tag, _regexp, list(_first))
Yaml12Loader.add_constructor(_INT_TAG, Yaml12Loader.construct_yaml_int)
Yaml12Loader.add_constructor(_FLOAT_TAG, Yaml12Loader.construct_yaml_float)
Yaml12Loader.add_constructor(_BOOL_TAG, Yaml12Loader.construct_yaml_bool)


def _reject_duplicate_keys(loader: Yaml12Loader, node: MappingNode) -> None:
    seen: dict = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
            continue
        key = loader.construct_object(key_node)
        try:
            first = seen.setdefault((type(key), key), key_node)
        except TypeError:
            continue
        if first is not key_node:
            raise YAML12Error(
                None, None,
                f"key {key!r} appears twice in one mapping (first on line {first.start_mark.line + 1}); keep one",
                key_node.start_mark,
            )


def _check_size(root: Node) -> None:
    """Reject a self-referring alias and an alias expansion past MAX_NODES nodes."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise YAML12Error(None, None, "an alias refers to the node that contains it; remove the loop",
                              node.start_mark)
        active.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        if total > MAX_NODES:
            raise YAML12Error(None, None, f"aliases expand to more than {MAX_NODES} values; write the values out",
                              node.start_mark)
        sizes[key] = total
        return total

    size(root)


def load(text: str, name: str = "<string>") -> Any:
    """Parse one YAML document (``None`` when it is empty). Raises :class:`yaml.YAMLError`."""
    loader = Yaml12Loader(text)
    loader.name = name
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node)
        return loader.construct_document(node)
    except RecursionError:
        raise YAML12Error(None, None, "the document is nested too deeply", None) from None
    finally:
        loader.dispose()


def describe(exc: yaml.YAMLError, name: str) -> str:
    """One line for a YAML error: ``NAME:LINE:COLUMN: problem (while context)``."""
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character
        what = f"byte #x{char[0]:02x}" if isinstance(char, bytes) else f"character #x{char:04x}"
        return f"{name}: position {exc.position}: unacceptable {what} ({exc.reason}); remove it"
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else name
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context and exc.problem.startswith("but "):  # "expected X, but found Y"
            problem, exc.context = f"{exc.context}, {exc.problem}", None
        text = f"{where}: {problem}"
        if exc.problem and exc.context:
            text += f" ({exc.context}"
            if exc.context_mark is not None and exc.context_mark is not mark:
                text += f" started at line {exc.context_mark.line + 1}"
            text += ")"
        return one_line(text)
    return one_line(f"{name}: {exc}")


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped."""
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in str(text))
