"""What the demo's console shows on a terminal: run it through a pseudo-terminal and count the lines a person sees.

``sdrrl demo`` runs under ``script`` (a pseudo-terminal of ``--cols`` x ``--rows``, so Ray Data's progress bars are
on and redraw in place); the typescript is replayed through ``pyte`` (a terminal emulator) and the lines left on
the screen and in its scroll-back are what the user saw. The same run's output to a file is counted from
``--file-run`` (optional second run with the output redirected: bars off).

    python benchmarks/console.py                      # writes benchmarks/results/console_demo.{txt,json}
    python benchmarks/console.py --typescript T.log   # only replay an existing typescript

Needs ``pyte`` (``pip install pyte``; not a dependency of the project).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def replay(typescript: str, cols: int, rows: int) -> list[str]:
    """The lines on the emulated screen plus its scroll-back, trailing blank lines dropped."""
    import pyte

    screen = pyte.HistoryScreen(cols, rows, history=100000)
    stream = pyte.ByteStream(screen)
    with open(typescript, "rb") as fh:
        data = fh.read()
    data = data.replace("\ufe0f".encode(), b"")  # pyte drops the rest of a line after this variation selector
    lines = data.split(b"\n", 1)  # the first line is script's own header
    stream.feed(lines[1] if len(lines) > 1 else data)
    history = ["".join(ch.data for ch in (line[x] for x in range(cols))).rstrip() for line in screen.history.top]
    shown = history + [line.rstrip() for line in screen.display]
    while shown and not shown[-1].strip():
        shown.pop()
    while shown and (shown[-1].startswith("Script done") or not shown[-1].strip()):
        shown.pop()
    return shown


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cols", type=int, default=120)
    ap.add_argument("--rows", type=int, default=40)
    ap.add_argument("--typescript", help="replay this typescript instead of running the demo")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)
    from benchmarks.common import RESULTS, machine, save

    seconds = None
    typescript = args.typescript
    if not typescript:
        work = tempfile.mkdtemp(prefix="sdrrl_console_")
        typescript = os.path.join(work, "typescript")
        sdrrl = shutil.which("sdrrl") or f"{sys.executable} -m sdrrl_ray"
        cmd = f"stty cols {args.cols} rows {args.rows}; {sdrrl} demo --out {work}/out"
        t0 = time.perf_counter()
        subprocess.run(["script", "-q", "-e", "-c", cmd, typescript], check=True, stdout=subprocess.DEVNULL)
        seconds = round(time.perf_counter() - t0, 1)
    shown = replay(typescript, args.cols, args.rows)
    non_blank = [line for line in shown if line.strip()]
    print("\n".join(shown))
    summary = dict(terminal_lines=len(shown), non_blank_lines=len(non_blank), cols=args.cols, rows=args.rows,
                   seconds=seconds)
    if not args.no_save:
        with open(os.path.join(RESULTS, "console_demo.txt"), "w") as fh:
            fh.write("\n".join(shown) + "\n")
        save("console_demo", dict(machine=machine(), **summary))
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
