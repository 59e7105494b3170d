"""Paths and readers for the demo data shipped in ``sdrrl_ray/demo/data`` (see its README.md)."""

from __future__ import annotations

import json
import os

DEMO_LANGUAGES = ("en", "ja", "th")  # the demo LM answers in these; ja and th are the demo targets


def demo_data_dir() -> str:
    """Folder of the demo data files (package data of ``sdrrl_ray``)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def eval_data_dir() -> str:
    """The demo's evaluation files (one folder per task, in each benchmark's released layout)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "eval_data")


def demo_instructions_path() -> str:
    """The English instruction file (Alpaca layout, JSON Lines)."""
    return os.path.join(demo_data_dir(), "instructions.jsonl")


def parallel_path(lang: str) -> str:
    return os.path.join(demo_data_dir(), "parallel", f"en-{lang}.tsv")


def mt_path(lang: str) -> str:
    """The demo MT models' training corpus for English-``lang`` (TSV, as the parallel files)."""
    return os.path.join(demo_data_dir(), "mt", f"en-{lang}.tsv")


def dictionary_path(src: str, tgt: str) -> str:
    return os.path.join(demo_data_dir(), "dictionaries", f"{src}-{tgt}.txt")


def corpus_path() -> str:
    return os.path.join(demo_data_dir(), "corpus.txt")


def read_instructions(path: str | None = None) -> list[dict]:
    """Rows ``{"instruction", "input", "output"}`` of the instruction file."""
    with open(path or demo_instructions_path(), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _read_tsv(path: str) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8") as f:
        return [tuple(line.rstrip("\n").split("\t")) for line in f if line.strip()]


def read_parallel(lang: str) -> list[tuple[str, str]]:
    """(English, ``lang``) pairs of ``parallel/en-<lang>.tsv``."""
    return _read_tsv(parallel_path(lang))


def read_mt(lang: str) -> list[tuple[str, str]]:
    """(English, ``lang``) pairs of ``mt/en-<lang>.tsv`` (the demo MT models' training corpus)."""
    return _read_tsv(mt_path(lang))


def read_dictionary(src: str, tgt: str) -> list[tuple[str, str]]:
    """(source word, target word) pairs of a MUSE-format dictionary file."""
    with open(dictionary_path(src, tgt), encoding="utf-8") as f:
        return [tuple(line.rstrip("\n").split(" ")) for line in f if line.strip()]


def data_files() -> list[str]:
    """Every data file, sorted by relative path (the builder hashes them)."""
    root = demo_data_dir()
    out = []
    for folder, _, names in os.walk(root):
        out += [os.path.join(folder, n) for n in names if not n.startswith(".")]
    return sorted(out, key=lambda p: os.path.relpath(p, root))
