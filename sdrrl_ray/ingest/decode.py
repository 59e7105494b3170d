"""The bytes of one JSON or JSONL instruction file as text, decided by sniffing the bytes, not the name:

- gzip by its magic bytes (``1f 8b``), whatever the suffix (:func:`open_stream`);
- the text encoding by its byte-order mark: UTF-8 with or without one, UTF-16 LE or BE
  (:func:`sniff_encoding`);
- JSONL records split on ``\\n``, ``\\r\\n`` and a lone ``\\r`` (old Mac files); a raw CR cannot occur
  inside a valid JSON string, so this never splits a record (:func:`jsonl_records`).

Bytes the encoding cannot decode do not stop the file: each becomes the code point ``U+DC00 + byte``
(a lone surrogate, which decoded text never holds), and :func:`jsonl_records` reports the line that
holds one, so one bad line is one rejected record.

:func:`jsonl_records` is the one place that says which lines are records: ``list_inputs`` counts with
it and ``iter_rows`` reads with it, so the two always agree.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
from typing import Any, Iterator, Optional

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20
BAD_BYTES = "sdrrl-bad-bytes"  # codec error handler: an undecodable byte b -> chr(0xDC00 + b)


def _escape_bad_bytes(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "".join(chr(0xDC00 + b) for b in exc.object[exc.start:exc.end]), exc.end


codecs.register_error(BAD_BYTES, _escape_bad_bytes)


class Reader(io.RawIOBase):
    """A byte stream over ``source`` (anything with ``read(n)``) that can look ahead (:meth:`peek`)
    and feeds every byte it takes from ``source`` to ``hasher`` (a ``hashlib`` object) once;
    ``taken`` counts them."""

    def __init__(self, source: Any, hasher: Any = None):
        super().__init__()
        self._source, self._hasher, self._ahead = source, hasher, b""
        self.taken = 0

    def readable(self) -> bool:
        return True

    def _pull(self, n: int) -> bytes:
        data = self._source.read(n) or b""
        self.taken += len(data)
        if data and self._hasher is not None:
            self._hasher.update(data)
        return data

    def peek(self, n: int) -> bytes:
        """The next ``n`` bytes (fewer at the end of the stream), left to be read."""
        while len(self._ahead) < n:
            data = self._pull(max(n - len(self._ahead), CHUNK))
            if not data:
                break
            self._ahead += data
        return self._ahead[:n]

    def readinto(self, buf: Any) -> int:
        if self._ahead:
            data, self._ahead = self._ahead[: len(buf)], self._ahead[len(buf):]
        else:
            data = self._pull(len(buf))
        buf[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        parts, self._ahead = [self._ahead], b""
        while data := self._pull(CHUNK):
            parts.append(data)
        return b"".join(parts)

    def drain(self) -> None:
        """Read (and hash) what is left."""
        self._ahead = b""
        while self._pull(CHUNK):
            pass


def open_stream(fh: Any, hasher: Any = None) -> tuple[Reader, Reader]:
    """(the file's own bytes, hashed into ``hasher``; its content: gunzipped when it starts with
    the gzip magic bytes, else the same stream). Reading a damaged gzip stream raises ``EOFError``
    (cut off), ``gzip.BadGzipFile`` or ``zlib.error``."""
    raw = Reader(fh, hasher)
    if raw.peek(2) == GZIP_MAGIC:
        return raw, Reader(gzip.GzipFile(fileobj=raw, mode="rb"))
    return raw, raw


def sniff_encoding(head: bytes) -> str:
    """The codec for content starting with ``head`` (its first bytes): by its byte-order mark."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # reads the BOM, decodes by it and drops it
    return "utf-8-sig"  # drops a UTF-8 BOM when there is one


def _problem(line: str, encoding: str) -> Optional[str]:
    """Why ``line`` holds bytes ``encoding`` could not decode (escaped as lone surrogates), or None."""
    try:
        line.encode("utf-8")
        return None
    except UnicodeEncodeError:
        pass
    if encoding == "utf-16":
        return "is not valid UTF-16 (an unpaired surrogate, or a character cut off at the end of the file)"
    try:  # the undecodable bytes back as they were, decoded again for the reason
        line.encode("utf-8", "surrogateescape").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError) as exc:
        return f"is not valid UTF-8 ({exc.reason})"
    return "is not valid UTF-8"


def jsonl_records(content: Reader) -> Iterator[tuple[int, str, Optional[str]]]:
    """``(line number, text, problem)`` for every record of a JSONL stream: each line that is not
    blank, and each line holding undecodable bytes (``problem`` says why; ``text`` is then not JSON)."""
    encoding = sniff_encoding(content.peek(4))
    text = io.TextIOWrapper(io.BufferedReader(content, CHUNK), encoding=encoding, errors=BAD_BYTES, newline=None)
    for number, line in enumerate(text, start=1):
        if line.startswith("\ufeff"):  # the BOM of a file concatenated onto another one
            line = line[1:]
        problem = _problem(line, encoding)
        if problem is not None or line.strip():
            yield number, line, problem


def parse_line(text: str) -> Any:
    """One JSONL record; ``ValueError`` (``json.JSONDecodeError`` among them) when it is not JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def load_json(content: Reader) -> Any:
    """A whole JSON file, decoded by its byte-order mark; ``ValueError`` (``UnicodeDecodeError`` and
    ``json.JSONDecodeError`` among them) when it does not decode or parse."""
    data = content.read()
    try:
        return json.loads(data.decode(sniff_encoding(data[:4])))
    except RecursionError:
        raise ValueError("nested too deeply") from None
