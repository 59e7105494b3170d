"""Faults against ``sdrrl transfer-set`` on a real OUT: damaged parts, two runs at once, Ctrl-C, a
full disk and a read-only OUT. After each: rows in = rows out +
rejected, every (item, target) set whole, no row id twice, and no traceback for the user."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import string
import subprocess
import textwrap
import time
from collections import Counter

import pytest

from sdrrl_ray.layout.parts import read_parts
from sdrrl_ray.layout.paths import MANIFEST, REJECTS, TRANSFER_SET
from tests.conftest import DEMO_CONFIG, sdrrl_cmd, write_jsonl

FAST = ["parallel.enabled=false", "code_switch.enabled=false", "languages.targets=[ja]", "answer.mode=gold",
        "translate.beam_size=1", "translate.max_decoding_length=24"]
LL_ONLY = ["transfer.subsets=[LL]", "parallel.enabled=false", "code_switch.enabled=false", "languages.targets=[ja]",
           "answer.mode=gold"]


def long_items(path, n: int, chars: int = 6000) -> str:
    """Instructions with ShareGPT-length answers: their rows pass Ray Data's 1 MiB block cap, so one
    (item, target) set can be cut across two committed parts."""
    sentence = "The river carries cold water from the mountains to the sea every spring. "
    return write_jsonl(path, [{"id": f"long-{i}", "instruction": f"Describe river number {i}.",
                               "output": (sentence * (chars // len(sentence) + 1))[:chars]} for i in range(n)])


def short_items(path, n: int) -> str:
    return write_jsonl(path, [{"id": f"s{i}", "instruction": f"Say {i}.", "output": f"It is {i}."}
                              for i in range(n)])


def run(args: list, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(sdrrl_cmd("transfer-set", DEMO_CONFIG, *args), capture_output=True, text=True,
                          timeout=timeout)


def check_output(out, records: int) -> dict:
    """The invariants every fault must leave true; returns the manifest."""
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["complete"] is True and manifest["problems"] == []
    assert manifest["rows_in"] == records == manifest["rows_out"] + manifest["rows_rejected"]
    kept = read_parts(str(out), TRANSFER_SET).to_pylist()
    rejects = read_parts(str(out), REJECTS)
    rows = kept + (rejects.to_pylist() if rejects is not None else [])
    ids = Counter(r["id"] for r in rows)
    assert not [i for i, n in ids.items() if n > 1], "a row written twice"
    sets = Counter((r["item_id"], r["tgt_lang"]) for r in rows)
    assert all(sets[(r["item_id"], r["tgt_lang"])] == r["pair_rows"] for r in rows), "an (item, target) set is partial"
    assert len({r["item_id"] for r in rows}) == records
    return manifest


def one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("sdrrl: error: ") and all(w in last for w in words), last
    return last


@pytest.mark.timeout(420)
def test_damaged_parts_after_a_finished_run_are_redone(demo_model, tmp_path):
    """(A kill between two commits is tested in test_transfer_set_full.py::test_kill_resume_and_determinism
    with the same invariants; a set cut across two commits, in tests/unit/test_layout_resume.py.)"""
    data = long_items(tmp_path / "long.jsonl", 12)
    out = tmp_path / "out"
    args = [f"data.path={data}", f"out_dir={out}", "rows_per_file=8", *FAST]
    done = run(args)
    assert done.returncode == 0, done.stderr[-3000:]
    first = check_output(out, 12)
    ids = sorted(r["id"] for r in read_parts(str(out), TRANSFER_SET, ["id"]).to_pylist())

    # a committed part cut off after the run finished: found, removed with its commit, redone
    part = sorted((out / TRANSFER_SET).iterdir())[0]
    part.write_bytes(part.read_bytes()[:100])
    again = run(args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "nothing to do" not in again.stderr and "damaged commit" in again.stderr
    check_output(out, 12)
    assert sorted(r["id"] for r in read_parts(str(out), TRANSFER_SET, ["id"]).to_pylist()) == ids

    # the same with the manifest gone: no pyarrow traceback, the same output
    (out / MANIFEST).unlink()
    part = sorted((out / REJECTS).iterdir() if (out / REJECTS).exists() else (out / TRANSFER_SET).iterdir())[0]
    part.write_bytes(b"")
    third = run(args)
    assert third.returncode == 0 and "Traceback" not in third.stderr, third.stderr[-3000:]
    assert check_output(out, 12)["rows_written"] == first["rows_written"]


@pytest.mark.timeout(300)
def test_two_runs_into_one_out_and_ctrl_c(demo_model, tmp_path):
    data = short_items(tmp_path / "short.jsonl", 60)
    out = tmp_path / "out"
    args = [f"data.path={data}", f"out_dir={out}", *LL_ONLY]
    procs = [subprocess.Popen(sdrrl_cmd("transfer-set", DEMO_CONFIG, *args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=240) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], results
    refused = next(err for p, (_, err) in zip(procs, results) if p.returncode == 2)
    assert "in use by another run (pid" in refused.strip().splitlines()[-1] and "Traceback" not in refused
    check_output(out, 60)

    # Ctrl-C (SIGINT to the foreground process group, as a terminal sends it) in the middle of a run
    out2 = tmp_path / "out2"
    args = [f"data.path={data}", f"out_dir={out2}", "transfer.subsets=[LL]", "parallel.enabled=false",
            "code_switch.enabled=false", "languages.targets=[ja]", "answer.mode=self", "generate.max_new_tokens=48"]
    proc = subprocess.Popen(sdrrl_cmd("transfer-set", DEMO_CONFIG, *args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (out2 / "generations").exists():
        time.sleep(0.1)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr + stdout, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == "sdrrl: interrupted; rerun the same command to resume"
    done = run(args)
    assert done.returncode == 0, done.stderr[-3000:]
    check_output(out2, 60)


DISK_FULL = textwrap.dedent("""\
    set -u
    mount -t tmpfs -o size=256k tmpfs "$MNT/full"
    mount -t tmpfs -o size=1m,ro tmpfs "$MNT/ro"
    "$@" out_dir="$MNT/ro/out" > "$LOGS/ro.out" 2> "$LOGS/ro.err"; echo $? > "$LOGS/ro.rc"
    "$@" out_dir="$MNT/full/out" > "$LOGS/full.out" 2> "$LOGS/full.err"; echo $? > "$LOGS/full.rc"
    find "$MNT/full/out" -type f | sort > "$LOGS/full.files"
    mount -o remount,size=64m "$MNT/full"
    "$@" out_dir="$MNT/full/out" > "$LOGS/again.out" 2> "$LOGS/again.err"; echo $? > "$LOGS/again.rc"
    cp -r "$MNT/full/out" "$LOGS/result"
""")


@pytest.mark.timeout(420)
def test_a_full_disk_and_a_read_only_out(demo_model, tmp_path):
    """OUT on a 256 KiB tmpfs (a mount namespace of its own: ``unshare -rm``): one line naming the
    full device, nothing partial kept; after the space grows, the same command completes."""
    if not shutil.which("unshare"):
        pytest.fail("needs `unshare` (util-linux) to mount a small tmpfs in a namespace of its own")
    rng = random.Random(0)
    words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 9))) for _ in range(3000)]
    data = write_jsonl(tmp_path / "items.jsonl", [  # about 1 MB that does not compress much
        {"id": f"w{i}", "instruction": f"Write note {i}.", "output": " ".join(rng.choices(words, k=400))}
        for i in range(300)])
    mnt, logs = tmp_path / "mnt", tmp_path / "logs"
    for d in (mnt / "full", mnt / "ro", logs):
        d.mkdir(parents=True)
    env = dict(os.environ, MNT=str(mnt), LOGS=str(logs))
    cmd = sdrrl_cmd("transfer-set", DEMO_CONFIG, f"data.path={data}", "rows_per_file=16", *LL_ONLY)
    proc = subprocess.run(["unshare", "-rm", "bash", "-c", DISK_FULL, "bash", *cmd], env=env,
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]

    def result(name):
        return subprocess.CompletedProcess([], int((logs / f"{name}.rc").read_text()),
                                           (logs / f"{name}.out").read_text(), (logs / f"{name}.err").read_text())

    one_line_error(result("ro"), "not writable")
    one_line_error(result("full"), "no space left on the device writing", str(mnt / "full" / "out"),
                   "run the same command again")
    assert not [f for f in (logs / "full.files").read_text().split() if f.endswith(".tmp")]
    again = result("again")
    assert again.returncode == 0, again.stderr[-3000:]
    check_output(logs / "result", 300)
