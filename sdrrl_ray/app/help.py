"""Plain-text help and version for ``sdrrl``, printed by ``main()`` before fire sees the arguments.

fire's own help goes through a pager and shows Python names (``transfer_set``); this text names each
command as it is typed (``transfer-set``), with one example each, and works without a terminal.
The commands are read from the command class, so a new command is listed; its summary and example
come from :data:`COMMANDS` (tests/unit/test_app.py checks every command has one).
"""

from __future__ import annotations

import inspect
import textwrap
from typing import Callable, Optional

from sdrrl_ray.errors import UserError

DIST = "sdrrl-ray"
HELP_FLAGS = ("--help", "-h")
VERSION_FLAGS = ("--version", "-V")
CONFIG_EXAMPLE = "jobs/configs/demo.yaml"

# typed command -> (one-line summary, example, usage after the command or "" to derive it from the signature)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "transfer-set": ("build the transfer set: generate, translate, filter, variants, code-switching",
                     "sdrrl transfer-set jobs/configs/demo.yaml out_dir=out/run", ""),
    "train": ("fine-tune one model per target on OUT/transfer_set (Ray Train + DeepSpeed)",
              "sdrrl train jobs/configs/demo.yaml out_dir=out/run", ""),
    "eval": ("evaluate base and trained models: OUT/report.md, OUT/report.json, OUT/plots/",
             "sdrrl eval jobs/configs/demo.yaml out_dir=out/run", ""),
    "demo": ("transfer-set, train and eval on the embedded demo (local Ray, tiny built-in models)",
             "sdrrl demo out_dir=out/demo", "[out_dir=DIR | --out DIR] [--verbose] [key=value ...]"),
    "compare": ("arms (methods) x seeds through the real phases, one comparison report",
                "sdrrl compare jobs/configs/demo.yaml arms=[sft-en,sdrrl] seeds=[0,1,2]",
                "CONFIG arms=[a,b] seeds=[0,1,2] [reference=a] [key=value ...]"),
    "export": ("the committed transfer set as LLaMA-Factory reads it (alpaca or sharegpt JSON lines)",
               "sdrrl export jobs/configs/demo.yaml --format sharegpt --target ja", ""),
    "config": ("print the resolved config (YAML + overrides + defaults) as JSON",
               "sdrrl config jobs/configs/demo.yaml seed=3", ""),
    "plan": ("tokens, device-hours and cost of a run before running it",
             "sdrrl plan jobs/configs/demo.yaml node_type=p5.48xlarge", ""),
    "data fetch": ("download the paper's public data in the layout the configs read",
                   "sdrrl data fetch data --sources=alpaca,flores --languages=ja,th", ""),
}


def typed(name: str) -> str:
    return name.replace("_", "-")


def _members(obj) -> list[tuple[str, object]]:
    cls = obj if isinstance(obj, type) else type(obj)
    return [(typed(n), getattr(obj, n) if not isinstance(obj, type) else m)
            for n, m in vars(cls).items() if not n.startswith("_")]


def command_table(root: type) -> dict[str, Callable]:
    """Typed command -> function, in the order the class defines them; a group's commands as ``group cmd``."""
    table: dict[str, Callable] = {}
    groups: dict[str, Callable] = {}
    for name, member in _members(root):
        if inspect.isfunction(member):
            table[name] = member
        elif not callable(member):  # a group: an instance whose methods are its commands (listed last)
            groups.update({f"{name} {sub}": fn for sub, fn in _members(member) if callable(fn)})
    return {**table, **groups}


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version(DIST)
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown (not installed: pip install -e .)"


def _summary(name: str, fn: Callable) -> str:
    if name in COMMANDS:
        return COMMANDS[name][0]
    doc = inspect.getdoc(fn) or ""
    return " ".join(doc.split("\n\n")[0].split()).split(". ")[0].rstrip(".")


def _example(name: str, fn: Callable, prog: str) -> str:
    if name in COMMANDS:
        return COMMANDS[name][1]
    return f"{prog} {name}" + (f" {CONFIG_EXAMPLE}" if "config" in inspect.signature(fn).parameters else "")


def _params(fn: Callable) -> list[inspect.Parameter]:
    return [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]


def _options(fn: Callable) -> list[str]:
    """``--name=VALUE (default ...)`` for every parameter that is not CONFIG, a first positional or overrides."""
    out = []
    for i, p in enumerate(_params(fn)):
        if p.kind is p.VAR_POSITIONAL or p.name == "config" or (i == 0 and p.kind is p.POSITIONAL_OR_KEYWORD):
            continue
        flag = f"--{typed(p.name)}" if p.default is False else f"--{typed(p.name)}=VALUE"
        out.append(flag if p.default in (None, False, inspect.Parameter.empty) else f"{flag} (default {p.default})")
    return out


def _usage(name: str, fn: Callable) -> str:
    if name in COMMANDS and COMMANDS[name][2]:
        return COMMANDS[name][2]
    parts = []
    for i, p in enumerate(_params(fn)):
        if p.kind is p.VAR_POSITIONAL:
            parts.append("[key=value ...]")
        elif p.name == "config":
            parts.append("CONFIG")
        elif i == 0 and p.kind is p.POSITIONAL_OR_KEYWORD:
            parts.append(f"[{p.name.upper()}]")
    return " ".join(parts + (["[options]"] if _options(fn) else []))


def top_help(root: type, prog: str) -> str:
    table = command_table(root)
    width = max(len(n) for n in table) + 2
    lines = [f"{prog} {version()}: SDRRL (self-distillation from resource-rich languages) on Ray",
             "", f"usage: {prog} COMMAND CONFIG [key=value ...]",
             f"       {prog} COMMAND --help      (help on one command)",
             f"       {prog} --version", "", "commands:"]
    for name, fn in table.items():
        lines.append(f"  {name.ljust(width)}{_summary(name, fn)}")
        lines.append(f"  {'':{width}}  e.g. {_example(name, fn, prog)}")
    lines += ["", f"CONFIG is a YAML job config ({CONFIG_EXAMPLE}, jobs/configs/*.yaml); key=value overrides any",
              "config key, the value parsed as YAML (seed=3 languages.targets=[ja] train.epochs=1).",
              f"`{prog} config CONFIG [key=value ...]` prints the resolved config. A user error exits with",
              "status 2 and one line on stderr."]
    return "\n".join(lines)


def command_help(name: str, fn: Callable, prog: str) -> str:
    doc = inspect.getdoc(fn)
    lines = [f"usage: {prog} {name} {_usage(name, fn)}".rstrip(), "",
             textwrap.fill(" ".join(doc.split()), 100) if doc else _summary(name, fn) + "."]
    params = _params(fn)
    args = []
    if any(p.name == "config" for p in params):
        args.append(f"  CONFIG         a YAML job config, e.g. {CONFIG_EXAMPLE} (jobs/configs/*.yaml);")
        args.append(f"                 `{prog} config CONFIG [key=value ...]` prints it resolved")
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        args.append("  key=value ...  overrides of config keys, values parsed as YAML, e.g. seed=3 "
                    "languages.targets=[ja]")
    if name == "demo":
        args.append("  out_dir=DIR    where the demo writes (default out/demo); --out DIR is the same")
        args.append(f"                 (the demo config is {CONFIG_EXAMPLE}: `{prog} config {CONFIG_EXAMPLE}`)")
    if args:
        lines += ["", "arguments:"] + args
    if name != "demo" and _options(fn):
        lines += ["", "options:"] + [f"  {o}" for o in _options(fn)]
    lines += ["", "example:", f"  {_example(name, fn, prog)}"]
    return "\n".join(lines)


def group_help(group: str, table: dict, prog: str) -> str:
    subs = {n: fn for n, fn in table.items() if n.startswith(group + " ")}
    lines = [f"usage: {prog} {group} COMMAND ...", "", "commands:"]
    for name, fn in subs.items():
        lines += [f"  {name}  {_summary(name, fn)}", f"    e.g. {_example(name, fn, prog)}"]
    return "\n".join(lines + ["", f"`{prog} {group} COMMAND --help` for one command."])


def intercept(root: type, args: list[str], prog: str) -> Optional[str]:
    """The text to print instead of running (help, version), None to run the command; a UserError for a
    command that does not exist."""
    table = command_table(root)
    if not args or args[0] in HELP_FLAGS:
        return top_help(root, prog)
    if args[0] in VERSION_FLAGS:
        return f"{prog} {version()}"
    if args[0].startswith("-"):
        return None  # fire's own flags (--trace, --verbose, ...)
    first = typed(args[0])
    groups = {n.split(" ")[0] for n in table if " " in n}
    if first in groups:
        sub = typed(args[1]) if len(args) > 1 and not args[1].startswith("-") else None
        if sub is None:
            return group_help(first, table, prog)
        name, rest = f"{first} {sub}", args[2:]
    else:
        name, rest = first, args[1:]
    if name not in table:
        raise UserError(f"unknown command {' '.join(args[:2] if first in groups else args[:1])!r}; "
                        f"choose from {', '.join(table)} ({prog} --help)")
    if any(a in HELP_FLAGS for a in rest):
        return command_help(name, table[name], prog)
    return None
