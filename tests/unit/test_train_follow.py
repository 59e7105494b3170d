"""The driver's in-place training progress line: it follows rank 0's step records in the run's log."""

from __future__ import annotations

import io
import json

from sdrrl_ray.train.follow import Follower


def _write(path, *records):
    with open(path, "a", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")


def test_follower_redraws_one_line_from_this_runs_steps_and_ends_it(tmp_path):
    log = tmp_path / "train_log.jsonl"
    _write(log, {"run": "old", "event": "step", "step": 9, "loss": 9.0, "tokens": 10, "seconds": 1.0})
    out = io.StringIO()
    with Follower(str(log), "r1", "ja", total_steps=4, stream=out, poll_s=3600) as follow:
        follow.poll()
        assert out.getvalue() == ""  # what the file held before the run started is not this run's
        _write(log, {"run": "r1", "event": "start", "step": 0},
               {"run": "r1", "event": "step", "step": 1, "loss": 2.5, "tokens": 1000, "seconds": 1.0},
               {"run": "other", "event": "step", "step": 7, "loss": 7.0, "tokens": 1, "seconds": 1.0})
        follow.poll()
        assert out.getvalue() == "\rtrain ja 1/4 loss 2.50 1.0k tok/s ETA 0:03\x1b[K"
        with open(log, "a", encoding="utf-8") as fh:  # a record half written: waits for its end of line
            fh.write(json.dumps({"run": "r1", "event": "step", "step": 2, "loss": 1.5, "tokens": 3000,
                                 "seconds": 1.0})[:20])
        follow.poll()
        assert out.getvalue().count("\r") == 1
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"run": "r1", "event": "step", "step": 2, "loss": 1.5, "tokens": 3000,
                                 "seconds": 1.0})[20:] + "\n")
    lines = out.getvalue().split("\r")
    assert lines[-1] == "train ja 2/4 loss 1.50 2.0k tok/s ETA 0:02\x1b[K\n"  # the last state stays, one line


def test_follower_without_a_step_prints_nothing(tmp_path):
    out = io.StringIO()
    with Follower(str(tmp_path / "missing.jsonl"), "r1", "ja", total_steps=4, stream=out, poll_s=3600):
        pass
    assert out.getvalue() == ""
