"""The one mapping of errors to what the user sees: a :class:`~sdrrl_ray.errors.UserError` (also
when Ray wrapped it in a task error) is one line on stderr and exit status 2; Ctrl-C is one line
saying how to resume and status 130; anything else is a bug and keeps its traceback."""

from __future__ import annotations

import sys
from typing import Callable

from sdrrl_ray.errors import user_error

USER_ERROR = 2
INTERRUPTED = 130


def run_mapped(fn: Callable[[], object], prog: str) -> int:
    """Run ``fn``; map what it raises to an exit status (0 when it returns)."""
    try:
        fn()
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; rerun the same command to resume", file=sys.stderr,
              flush=True)
        return INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the one place that maps errors to exit codes
        err = user_error(exc)
        if err is None:
            raise
        print(f"{prog}: error: {err}", file=sys.stderr, flush=True)
        return USER_ERROR
    return 0
