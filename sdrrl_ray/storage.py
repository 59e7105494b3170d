"""Files and folders, local or on object storage: fsspec I/O, atomic writes, folders built once,
model weights copied to local disk.

Every path under ``OUT`` goes through here (``out_dir`` may be ``s3://bucket/run``): :func:`join`
builds paths that work for both, :func:`write_json` / :func:`write_text` write atomically (a
temporary name renamed into place), :func:`upload` copies a locally written file or folder (a
plot, an exported model) to its place under ``OUT``.

:func:`cached_folder` builds a folder once per machine: a file lock, a temporary folder renamed
into place when complete, leftovers of a killed build removed. The demo models, the CTranslate2
conversions and the local copies of remote model weights (:func:`local_model_path`) use it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from typing import Any, Callable, Optional

import fsspec

from sdrrl_ray.errors import UserError

log = logging.getLogger("sdrrl_ray")

MODEL_CACHE_ENV = "SDRRL_MODEL_CACHE"
COPY_MARKER = ".sdrrl-copy.json"


# ---------------------------------------------------------------------------------------------
# paths and I/O


def is_remote_url(path: str) -> bool:
    """``s3://``, ``gs://``, ``file://``, ``hf://``... (anything fsspec can open); not a local path or hub id."""
    return isinstance(path, str) and "://" in path


def url_to_fs(url: str):
    """(filesystem, path inside it) for a local path or URL.

    An object store is listed afresh each time (fsspec's ``use_listings_cache=False``): ``OUT`` is
    written by several processes at once (the driver, Ray Data's and Ray Train's workers), and a
    listing cached in one process hides what the others wrote since (a resumed run's manifest would
    count none of the parts its workers just committed)."""
    url = url.rstrip("/") if len(url) > 1 else url
    if is_remote_url(url) and not url.startswith("file://"):
        return fsspec.core.url_to_fs(url, use_listings_cache=False)
    return fsspec.core.url_to_fs(url)


def join(root: str, *parts: str) -> str:
    """``root/part/...`` for a URL, ``os.path.join`` for a local path."""
    if is_remote_url(root):
        return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])
    return os.path.join(root, *parts)


def absolute(path: str) -> str:
    """A local path made absolute (workers may run in another folder); URLs unchanged."""
    return path if is_remote_url(path) else os.path.abspath(os.path.expanduser(path))


def full_url(fs: Any, path: str) -> str:
    """The URL of ``path`` on ``fs`` (a plain path for the local filesystem)."""
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return path if protocol in ("file", "local") else f"{protocol}://{path}"


def exists(url: str) -> bool:
    fs, path = url_to_fs(url)
    return fs.exists(path)


def is_file(url: str) -> bool:
    fs, path = url_to_fs(url)
    return fs.exists(path) and not fs.isdir(path)


def write_bytes(url: str, data: bytes) -> None:
    """Write atomically: a temporary name next to ``url``, then a rename."""
    fs, path = url_to_fs(url)
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    if parent:
        fs.makedirs(parent, exist_ok=True)
    tmp = f"{path}.tmp"
    try:
        with fs.open(tmp, "wb") as fh:
            fh.write(data)
        fs.mv(tmp, path)
    except BaseException as exc:
        _remove_quietly(fs, tmp)  # a full disk or a kill leaves no partial file behind
        if isinstance(exc, OSError) and exc.errno is not None and not exc.filename:
            raise OSError(exc.errno, exc.strerror, url) from exc
        raise


def _remove_quietly(fs: Any, path: str) -> None:
    try:
        if fs.exists(path):
            fs.rm(path)
    except OSError:
        pass


def create_exclusive(url: str, data: bytes) -> bool:
    """Create ``url`` holding ``data`` only if nothing is there (``O_EXCL`` locally, a conditional
    write ``If-None-Match: *`` on object stores); False when it already exists."""
    fs, path = url_to_fs(url)
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    if parent:
        fs.makedirs(parent, exist_ok=True)
    if not is_remote_url(url):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return True
    try:
        fs.pipe_file(path, data, mode="create")
    except FileExistsError:
        return False
    except OSError as exc:  # s3fs maps 412 Precondition Failed to an OSError
        if "PreconditionFailed" in str(exc) or "412" in str(exc):
            return False
        raise
    return True


def remove(url: str) -> None:
    """Delete the file at ``url`` if it is there."""
    fs, path = url_to_fs(url)
    _remove_quietly(fs, path)


def write_text(url: str, text: str) -> None:
    write_bytes(url, text.encode("utf-8"))


def write_json(url: str, data: Any) -> None:
    write_text(url, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_text(url: str) -> Optional[str]:
    fs, path = url_to_fs(url)
    if not fs.exists(path):
        return None
    with fs.open(path, "rb") as fh:
        return fh.read().decode("utf-8")


def read_json(url: str) -> Optional[Any]:
    text = read_text(url)
    return None if text is None else json.loads(text)


def upload(local: str, url: str) -> str:
    """Copy a local file or folder to ``url`` (replacing what is there); returns ``url``."""
    if not is_remote_url(url) and os.path.abspath(local) == os.path.abspath(url):
        return url
    fs, path = url_to_fs(url)
    if os.path.isdir(local):
        if fs.exists(path):
            fs.rm(path, recursive=True)
        fs.makedirs(path, exist_ok=True)
        for folder, _, names in os.walk(local):
            rel = os.path.relpath(folder, local)
            dest = path if rel == "." else f"{path}/{rel.replace(os.sep, '/')}"
            fs.makedirs(dest, exist_ok=True)
            for name in names:
                fs.put_file(os.path.join(folder, name), f"{dest}/{name}")
    else:
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if parent:
            fs.makedirs(parent, exist_ok=True)
        fs.put_file(local, path)
    return url


def content_hash(url: str) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents); '' when missing."""
    if not url:
        return ""
    fs, path = url_to_fs(url)
    if not fs.exists(path):
        return ""
    h = hashlib.sha256()
    if fs.isfile(path):
        files = [path]
        base = path
    else:
        files = sorted(p for p in fs.find(path))
        base = path.rstrip("/")
    for name in files:
        rel = "." if name == base else name[len(base) + 1:]
        h.update(rel.encode())
        with fs.open(name, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# folders built once


def cache_root(cache_dir: Optional[str] = None) -> str:
    """Root of the build cache: ``cache_dir``, else ``$SDRRL_CACHE``, else ``~/.cache/sdrrl_ray``."""
    root = cache_dir or os.environ.get("SDRRL_CACHE") or "~/.cache/sdrrl_ray"
    return os.path.abspath(os.path.expanduser(root))


def cached_folder(final: str, build: Callable[[str], Any], *, complete: Callable[[str], bool],
                  lock_timeout_s: float = -1) -> tuple[str, bool]:
    """Build the folder ``final`` once; return ``(final, whether this call built it)``.

    ``build(tmp)`` fills a temporary folder beside ``final``; ``complete(folder)`` says whether a
    folder is finished (it must hold for ``tmp`` once ``build`` returns). Concurrent callers wait on
    a file lock; a folder that is not complete, and temporary folders of a killed build, are
    removed before building; the finished folder is renamed into place."""
    if complete(final):
        return final, False
    parent = os.path.dirname(final)
    os.makedirs(parent, exist_ok=True)
    from filelock import FileLock

    with FileLock(final + ".lock", timeout=lock_timeout_s):
        if complete(final):  # another process built it while we waited
            return final, False
        prefix = "." + os.path.basename(final) + "."
        for name in os.listdir(parent):
            if name.startswith(prefix):
                shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
        tmp = tempfile.mkdtemp(prefix=prefix, dir=parent)
        try:
            build(tmp)
            if not complete(tmp):
                raise RuntimeError(f"building {final}: the build left an incomplete folder")
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache may be shared
            if os.path.exists(final):
                shutil.rmtree(final)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final, True


def has_file(name: str) -> Callable[[str], bool]:
    """A ``complete`` test for :func:`cached_folder`: the folder holds the file ``name``."""
    return lambda folder: os.path.isfile(os.path.join(folder, name))


# ---------------------------------------------------------------------------------------------
# model weights from object storage


def model_cache_root(cache_dir: Optional[str] = None) -> str:
    """Local-disk folder for copied weights: ``cache_dir``, else ``$SDRRL_MODEL_CACHE``, else ``<tmp>/sdrrl-models``."""
    root = cache_dir or os.environ.get(MODEL_CACHE_ENV) or os.path.join(tempfile.gettempdir(), "sdrrl-models")
    return os.path.abspath(os.path.expanduser(root))


def _listing(fs, path: str) -> dict[str, list]:
    """relative path -> [size, version] of every file under ``path`` (or of the single file ``path``)."""

    def version(info: dict):
        for key in ("ETag", "etag", "md5Hash", "generation", "mtime", "LastModified", "last_modified"):
            if info.get(key) is not None:
                return str(info[key])
        return None

    if fs.isfile(path):
        info = fs.info(path)
        return {os.path.basename(path.rstrip("/")): [info.get("size"), version(info)]}
    found = fs.find(path, detail=True)
    base = path.rstrip("/") + "/"
    out = {}
    for name, info in found.items():
        if info.get("type", "file") != "file":
            continue
        rel = name[len(base):] if name.startswith(base) else name.rsplit("/", 1)[-1]
        out[rel] = [info.get("size"), version(info)]
    return out


def ensure_local_copy(url: str, cache_dir: Optional[str] = None, *, lock_timeout_s: float = 3600) -> tuple[str, bool]:
    """Copy the model at ``url`` to local disk once per node; return (local folder, whether this call copied).

    Later callers on the node reuse the copy as long as the remote listing (names, sizes, etags) is unchanged."""
    try:
        fs, path = url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise UserError(f"model URL {url}: no filesystem for it ({exc}); "
                        "install s3fs for s3:// (pip install 'sdrrl-ray[s3]'), gcsfs for gs://") from None
    try:
        if not fs.exists(path):
            raise FileNotFoundError(path)
        files = _listing(fs, path)
    except FileNotFoundError:
        raise UserError(f"model URL {url} does not exist; point it at a folder holding a Hugging Face model") from None
    if not files:
        raise UserError(f"model URL {url} holds no files; point it at a folder holding a Hugging Face model")

    name = os.path.basename(path.rstrip("/")) or "model"
    dest = os.path.join(model_cache_root(cache_dir), f"{name}-{hashlib.sha256(url.encode()).hexdigest()[:12]}")

    def current(folder: str) -> bool:
        try:
            with open(os.path.join(folder, COPY_MARKER), encoding="utf-8") as fh:
                return json.load(fh).get("files") == files
        except (OSError, ValueError):
            return False

    def copy(tmp: str) -> None:
        started = time.perf_counter()
        if fs.isfile(path):
            fs.get_file(path, os.path.join(tmp, next(iter(files))))
        else:
            for rel in files:
                target = os.path.join(tmp, rel)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                fs.get_file(path.rstrip("/") + "/" + rel, target)
        with open(os.path.join(tmp, COPY_MARKER), "w", encoding="utf-8") as fh:
            json.dump({"url": url, "files": files, "copied_at": time.time(), "pid": os.getpid()}, fh)
        log.info("copied %s (%d files) in %.1fs", url, len(files), time.perf_counter() - started)

    return cached_folder(dest, copy, complete=current, lock_timeout_s=lock_timeout_s)


def local_model_path(path: str, cache_dir: Optional[str] = None) -> str:
    """``path`` unchanged when local (or a hub id); a local copy of it when it is a URL
    (see :func:`ensure_local_copy`)."""
    if not is_remote_url(path):
        return path
    return ensure_local_copy(path, cache_dir)[0]
