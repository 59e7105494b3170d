"""``sdrrl data fetch``: every planned download through :func:`sdrrl_ray.fetch.http.download`, archives
unpacked, OPUS-100 Parquet turned into the TSV the parallel-corpus reader takes, and a record of what
is complete.

``DEST/.sdrrl-fetch.json`` records each finished output file (the source path it came from and its
size). A rerun skips an item whose outputs are all recorded and still have their size, without a
request; an interrupted download resumes from its ``.part`` file; an archive downloaded in full
but not yet unpacked (``DEST/.downloads/``) is not downloaded again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Callable, Optional

from sdrrl_ray.fetch import sources as src
from sdrrl_ray.fetch.http import TIMEOUT_S, FetchError, download, extract, partial_path

MANIFEST = ".sdrrl-fetch.json"
DOWNLOADS = ".downloads"
HF_TOKEN_ENV = "HF_TOKEN"
PREFIX = "sdrrl: data fetch:"


def _load_manifest(dest: str) -> dict:
    try:
        with open(os.path.join(dest, MANIFEST), encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else {"files": {}}
    except (OSError, ValueError):
        return {"files": {}}


def _save_manifest(dest: str, manifest: dict) -> None:
    path = os.path.join(dest, MANIFEST)
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)


def complete(dest: str, item: src.Item, manifest: dict) -> bool:
    """Every output of ``item`` was recorded as finished, from the same source path, and still has its size."""
    for rel in item.outputs:
        entry = manifest["files"].get(rel)
        path = os.path.join(dest, *rel.split("/"))
        if not entry or entry.get("path") != item.path or not os.path.isfile(path) \
                or os.path.getsize(path) != entry.get("bytes"):
            return False
    return True


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def opus_parquet_to_tsv(parquet: str, out: str, pair: tuple[str, str], url: str = "") -> tuple[int, int]:
    """Write OPUS-100's Parquet (column ``translation``: struct of the two codes) as ``src<TAB>tgt`` lines;
    tabs and line breaks inside a sentence become spaces, pairs with an empty side are dropped.
    Returns (pairs written, pairs dropped)."""
    import pyarrow.parquet as pq

    try:
        column = pq.read_table(parquet, columns=["translation"]).column("translation").combine_chunks()
        sides = [column.field(code).to_pylist() for code in pair]
    except Exception as exc:  # noqa: BLE001 - any layout problem is the same message
        raise FetchError(f"{url or parquet} is not OPUS-100's Parquet layout (a 'translation' struct with "
                         f"{pair[0]!r} and {pair[1]!r}): {exc}".replace("\n", " ")) from None
    clean = str.maketrans({"\t": " ", "\n": " ", "\r": " "})
    written = dropped = 0
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(partial_path(out), "w", encoding="utf-8", newline="\n") as fh:
        for a, b in zip(*sides):
            a, b = (a or "").translate(clean).strip(), (b or "").translate(clean).strip()
            if not a or not b:
                dropped += 1
                continue
            fh.write(f"{a}\t{b}\n")
            written += 1
    os.replace(partial_path(out), out)
    return written, dropped


def _staged(dest: str, url: str) -> str:
    name = url.rstrip("/").rsplit("/", 1)[-1]
    return os.path.join(dest, DOWNLOADS, f"{hashlib.sha1(url.encode()).hexdigest()[:10]}-{name}")


def _run_item(dest: str, item: src.Item, url: str, headers: dict, timeout: float) -> tuple[dict[str, int], str]:
    """Fetch one item; returns ({output rel: bytes}, a note for the log line)."""
    outputs = {rel: os.path.join(dest, *rel.split("/")) for rel in item.outputs}
    if item.kind == "file":
        (rel, path), = outputs.items()
        got = download(url, path, headers=headers, timeout=timeout)
        return {rel: got.bytes}, f"{_size(got.bytes)}" + (f", resumed at {_size(got.resumed_from)}"
                                                         if got.resumed_from else "")
    staged = _staged(dest, url)
    note = "downloaded earlier"
    if not os.path.isfile(staged):
        got = download(url, staged, headers=headers, timeout=timeout)
        note = _size(got.bytes) + (f", resumed at {_size(got.resumed_from)}" if got.resumed_from else "")
    if item.kind == "archive":
        extract(staged, {m: outputs[rel] for m, rel in item.members}, url)
    elif item.kind == "opus_parquet":
        (rel, path), = outputs.items()
        written, dropped = opus_parquet_to_tsv(staged, path, item.pair, url)
        note += f"; {written} pairs" + (f", {dropped} with an empty side dropped" if dropped else "")
    else:
        raise ValueError(f"unknown item kind {item.kind!r}")
    os.remove(staged)
    return {rel: os.path.getsize(path) for rel, path in outputs.items()}, note


def overrides(dest: str, fetched_sources: set, targets: list[str]) -> list[str]:
    """The config overrides that point a run at what is under ``dest``."""
    dest = os.path.abspath(dest)
    out = []
    if "alpaca" in fetched_sources:
        out.append(f"data.path={dest}/alpaca_data.json data.format=alpaca")
    if "opus100" in fetched_sources and targets:
        out.append("'parallel.paths={" + ", ".join(f"{t}: {dest}/opus-100/en-{t}.tsv" for t in targets) + "}'")
    if "muse" in fetched_sources:
        out.append(f"code_switch.dictionaries={dest}/muse")
    if fetched_sources & {"flores", "belebele", "xlsum", "mkqa", "dolly", "bactrianx"}:
        out.append(f"eval.data_dir={dest}/eval")
    return out


def fetch(dest: str = "data", sources=None, languages=None, base_url: Optional[str] = None, *,
          timeout: float = TIMEOUT_S, log: Callable[[str], None] = print) -> dict:
    """Fetch ``sources`` (default all) for the target ``languages`` (default ja) into ``dest``.

    Returns ``{"fetched": [rel...], "skipped": [rel...], "notes": [...], "overrides": [...]}``.
    Raises :class:`~sdrrl_ray.fetch.http.FetchError` (a user error) on the first failed download;
    what finished before it is kept and recorded."""
    chosen = src.names(sources, "--sources", src.SOURCES, src.SOURCES)
    targets = src.targets_of(languages)
    bases = src.resolve_bases(base_url)
    items, notes = src.plan(chosen, targets)
    os.makedirs(dest, exist_ok=True)
    manifest = _load_manifest(dest)
    token = os.environ.get(HF_TOKEN_ENV)
    summary: dict = {"fetched": [], "skipped": [], "notes": notes}
    start = time.monotonic()
    for item in items:
        url = src.url_of(item, bases)
        shown = ", ".join(item.outputs[:2]) + (f" (+{len(item.outputs) - 2})" if len(item.outputs) > 2 else "")
        if complete(dest, item, manifest):
            log(f"{PREFIX} {item.source}: {shown} complete, skipped")
            summary["skipped"] += list(item.outputs)
            continue
        headers = {"Authorization": f"Bearer {token}"} if token and item.host == "hf" else {}
        written, note = _run_item(dest, item, url, headers, timeout)
        for rel, size in written.items():
            manifest["files"][rel] = {"path": item.path, "bytes": size, "url": url}
        _save_manifest(dest, manifest)
        summary["fetched"] += list(written)
        log(f"{PREFIX} {item.source}: {shown} <- {url} ({note})")
    try:
        os.rmdir(os.path.join(dest, DOWNLOADS))
    except OSError:
        pass
    for note in notes:
        log(f"{PREFIX} not available: {note}")
    summary["overrides"] = overrides(dest, set(chosen), targets)
    log(f"{PREFIX} {len(summary['fetched'])} files fetched, {len(summary['skipped'])} complete and skipped, "
        f"in {dest} ({time.monotonic() - start:.1f}s)")
    log(f"{PREFIX} config overrides: {' '.join(summary['overrides'])}")
    return summary
