"""One URL-based downloader for every public data file, and the unpacking of archives.

:func:`download` writes to ``<path>.part`` and renames it into place only when complete and checked,
so a file at ``path`` is always whole. A ``.part`` left by an interrupted run is resumed with an HTTP
``Range`` request (started over when the server ignores it). Checks: the byte count against
``Content-Length`` (``Content-Range`` when resuming) and against a known size; the SHA-256 against a
known digest, else against the ``X-Linked-Etag`` / ``ETag`` that Hugging Face sends for its large
(LFS) files when that is a SHA-256. Every failure is a :class:`FetchError`: one line naming the URL
and what to do about it.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from typing import Mapping, Optional

from sdrrl_ray.errors import UserError

CHUNK = 1 << 20
TIMEOUT_S = 60.0
PART_SUFFIX = ".part"
USER_AGENT = "sdrrl-ray (data fetch)"
_SHA256 = re.compile(r'^(?:W/)?"?([0-9a-f]{64})"?$')
_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")
MIRROR_HINT = "set --base-url (HF_ENDPOINT for Hugging Face files) to a mirror that has it"


class FetchError(UserError):
    """A download or unpacking that failed (the command prints it as one line, exit status 2)."""


@dataclass(frozen=True)
class Downloaded:
    path: str
    bytes: int
    sha256: str
    resumed_from: int  # bytes kept from an interrupted run (0: downloaded from the start)


def partial_path(path: str) -> str:
    """Where :func:`download` writes ``path`` until it is complete."""
    return path + PART_SUFFIX


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _hint(code: int) -> str:
    if code in (401, 403):
        return ("access refused: for a gated Hugging Face dataset accept its terms on the hub and set HF_TOKEN, "
                f"or {MIRROR_HINT}")
    if code in (404, 410):
        return f"no file at this address: check --sources and --languages, or {MIRROR_HINT}"
    return f"the server failed: rerun later (finished files are kept), or {MIRROR_HINT}"


def _etag_sha256(headers) -> Optional[str]:
    for name in ("X-Linked-Etag", "ETag"):
        match = _SHA256.match((headers.get(name) or "").strip().lower())
        if match:
            return match.group(1)
    return None


def _open(url: str, have: int, headers: Mapping[str, str], timeout: float):
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    for key, value in headers.items():
        req.add_unredirected_header(key, value)  # a token never follows a redirect to another host
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        return urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            return None  # the part file cannot be continued: start over
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}; {_hint(exc.code)}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise FetchError(f"cannot reach {url} ({reason}); check the network, or {MIRROR_HINT}") from None


def download(url: str, path: str, *, sha256: Optional[str] = None, size: Optional[int] = None,
             headers: Optional[Mapping[str, str]] = None, timeout: float = TIMEOUT_S) -> Downloaded:
    """Download ``url`` to ``path`` (see the module's docstring); returns what was written."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    part = partial_path(path)
    have = os.path.getsize(part) if os.path.isfile(part) else 0
    resp = _open(url, have, headers or {}, timeout)
    if resp is None:
        os.remove(part)
        have = 0
        resp = _open(url, 0, headers or {}, timeout)
    with resp:
        total: Optional[int] = None
        match = _RANGE.match(resp.headers.get("Content-Range") or "") if resp.status == 206 else None
        if have and match and int(match.group(1)) == have:
            mode = "ab"
            total = None if match.group(2) == "*" else int(match.group(2))
        else:  # a fresh download, or a server that sent the whole file again
            have, mode = 0, "wb"
            length = resp.headers.get("Content-Length") or ""
            total = int(length) if length.isdigit() else None
        expected_sha = (sha256 or _etag_sha256(resp.headers) or "").lower() or None
        got = have
        try:
            with open(part, mode) as fh:
                for chunk in iter(lambda: resp.read(CHUNK), b""):
                    fh.write(chunk)
                    got += len(chunk)
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(f"download of {url} broke off after {got} bytes ({type(exc).__name__}); "
                             "rerun the same command to resume it") from None
    if total is not None and got != total:
        raise FetchError(f"download of {url} stopped at {got} of {total} bytes; rerun the same command to resume it")
    if size is not None and got != size:
        os.remove(part)
        raise FetchError(f"{url} has {got} bytes where {size} were expected; the file changed upstream or the "
                         f"mirror serves another one: {MIRROR_HINT}")
    digest = file_sha256(part)
    if expected_sha and digest != expected_sha:
        os.remove(part)
        raise FetchError(f"{url}: SHA-256 {digest[:12]}... does not match the expected {expected_sha[:12]}...; "
                         "the partial file was removed, rerun to download it again")
    os.replace(part, path)
    return Downloaded(path, got, digest, have)


def _member_name(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name


def extract(archive: str, wanted: Mapping[str, str], url: str = "") -> dict[str, int]:
    """Write the members of ``archive`` (tar with any compression, or zip) named in ``wanted``
    (member name, a leading ``./`` ignored -> output path), each through a temporary file renamed into
    place. Returns {output path: bytes}; raises :class:`FetchError` naming members it lacks."""
    out: dict[str, int] = {}

    def write(target: str, src) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        tmp = partial_path(target)
        with open(tmp, "wb") as fh:
            for block in iter(lambda: src.read(CHUNK), b""):
                fh.write(block)
        os.replace(tmp, target)
        out[target] = os.path.getsize(target)

    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    target = wanted.get(_member_name(info.filename))
                    if target and not info.is_dir():
                        with zf.open(info) as src:
                            write(target, src)
        else:
            with tarfile.open(archive, "r:*") as tf:
                for member in tf:
                    target = wanted.get(_member_name(member.name))
                    if target and member.isfile():
                        src = tf.extractfile(member)
                        if src is not None:
                            write(target, src)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise FetchError(f"cannot unpack {os.path.basename(archive)} from {url or archive} ({exc}); "
                         f"delete {archive} and rerun") from None
    missing = sorted(m for m, target in wanted.items() if target not in out)
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise FetchError(f"{url or archive} lacks {shown}: the archive's layout changed, or the language has no "
                         "file there")
    return out
