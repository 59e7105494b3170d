"""User-facing errors: the CLI turns these into one line on stderr and exit status 2."""

from __future__ import annotations

import errno
import re
from typing import Optional


class UserError(Exception):
    """Something the user can fix (a bad config, a missing file, an input that does not parse).

    The message says what is wrong, where, and how to fix it.
    """


class ConfigError(UserError):
    """One or more config problems, reported together."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class OutputError(UserError):
    """What a run wrote does not add up (rows missing, doubled or damaged); a rerun redoes them."""


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def _is_path(name) -> bool:
    """A file name worth naming (Ray's retry wrapper puts its own message where the name goes)."""
    return isinstance(name, str) and "\n" not in name and (name.startswith("/") or "://" in name)


def _no_space(exc: OSError) -> UserError:
    where = f" writing {exc.filename}" if _is_path(exc.filename) else ""
    return UserError(f"no space left on the device{where} ({exc.strerror or 'disk full'}); nothing partial was "
                     "kept: free space and run the same command again to resume")


def user_error(exc: Optional[BaseException]) -> Optional[UserError]:
    """The UserError behind ``exc``, also when Ray wrapped it in a task error; a full disk is one too
    (named by the deepest error in the chain that knows the path)."""
    seen, full, texts = set(), [], []
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        texts.append(str(exc))
        if isinstance(exc, UserError):
            return exc
        if isinstance(exc, OSError) and exc.errno in NO_SPACE:
            full.append(exc)
        elif "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc):  # pyarrow, or Ray's text
            full.append(OSError(errno.ENOSPC, "No space left on device"))
        exc = getattr(exc, "cause", None) or exc.__cause__ or exc.__context__
    if full:
        named = next((e for e in reversed(full) if _is_path(e.filename)), None)
        if named is None:  # Ray's wrapper keeps the worker's error only as text
            found = [m for t in texts for m in re.findall(r"No space left on device: '([^'\n]+)'", t) if _is_path(m)]
            named = OSError(errno.ENOSPC, "No space left on device", found[-1]) if found else full[0]
        return _no_space(named)
    return None
