"""What the console shows around a run, without Ray: each phase's preamble, the training summary line,
the closing line, the training progress line, and where the full log goes."""

from __future__ import annotations

import logging
import re

from sdrrl_ray.app import phases
from sdrrl_ray.app.phases import PHASES, closing_line, train_summary_line
from sdrrl_ray.config import load_config
from sdrrl_ray.layout.paths import Out
from sdrrl_ray.runtime import progress_bars, setup_logging, verbose
from sdrrl_ray.train.progress import TORCH_DEPRECATION, due, progress_line, report_every
from tests.conftest import DEMO_CONFIG as DEMO

TRAIN_RESULT = {
    "targets": {
        "ja": {"seconds": 80.4, "skipped": False,
               "result": {"steps": 533, "epochs_run": 2, "best_epoch": 1, "best_heldout_loss": 2.3456,
                          "tokens_per_s": 3120.7, "last": {"loss": 2.104}}},
        "th": {"skipped": True, "seconds": 70.0, "result": {"steps": 400}},
    },
    "model_dirs": {"ja": "out/demo/model/ja", "th": "out/demo/model/th"},
    "manifest": "out/demo/train_manifest.json",
    "seconds": 161.0,
}


def test_each_phase_starts_with_what_it_will_do(tmp_path):
    cfg = load_config(DEMO, [f"out_dir={tmp_path}"])
    (ts,) = PHASES["transfer-set"].preamble(cfg)
    assert "500 items" in ts and "targets ja, th" in ts and "at most 4600 rows" in ts
    assert ts.endswith(Out(str(tmp_path)).transfer_set)
    (train,) = PHASES["train"].preamble(cfg)
    assert "2 epochs, 2 workers, global batch 8" in train and train.endswith(Out(str(tmp_path)).models)
    (ev,) = PHASES["eval"].preamble(cfg)
    assert "mkqa" in ev and "every item" in ev and ev.endswith(Out(str(tmp_path)).report_md)


def test_the_training_summary_shows_real_values_not_an_empty_dict(tmp_path):
    cfg = load_config(DEMO, [f"out_dir={tmp_path}"])
    lines = PHASES["train"].lines(cfg, TRAIN_RESULT)
    assert "{}" not in "\n".join(lines)
    assert lines[0] == train_summary_line(TRAIN_RESULT)
    assert lines[0] == ("trained ja: 533 steps, 2 epochs, loss 2.104, held-out 2.346 (best epoch 1), 3121 tok/s, "
                        "80.4s; th: kept (already trained)")
    assert "model ja: out/demo/model/ja" in lines and lines[-1] == "train manifest: out/demo/train_manifest.json"
    assert train_summary_line({}) == "trained nothing"
    report = PHASES["train"].report(TRAIN_RESULT)
    assert report["seconds"] == 161.0 and report["targets"]["ja"]["steps"] == 533
    assert report["targets"]["th"]["skipped"] is True


def test_the_closing_line_names_the_time_and_the_log():
    assert closing_line("sdrrl", 372.4, "/x/logs/sdrrl.log") == "sdrrl: done in 6m12s; full log: /x/logs/sdrrl.log"
    assert closing_line("sdrrl", 5, None) == "sdrrl: done in 0m05s"


def test_the_training_progress_line():
    assert progress_line("ja", 123, 533, 2.1, 3100.0, 0.11) == "train ja 123/533 loss 2.10 3.1k tok/s ETA 0:45"
    assert progress_line("th", 533, 533, 1.0, 950.0, 1.0) == "train th 533/533 loss 1.00 950 tok/s ETA 0:00"
    assert progress_line("ja", 1, 10_001, 3.0, 2.5e6, 1.0).endswith("2.5M tok/s ETA 2:46:40")
    assert report_every(533) == 54 and report_every(5) == 1
    printed = [s for s in range(1, 534) if due(s, 533)]
    assert len(printed) == 10 and printed[-1] == 533  # about every 10%, and the last step
    assert re.search(TORCH_DEPRECATION, "`torch.distributed.all_gather_into_tensor` is deprecated. Please use ...")
    assert re.search(TORCH_DEPRECATION, "`torch.distributed._all_gather_base` is a private function and will be")
    assert not re.search(TORCH_DEPRECATION, "`torch.load` is deprecated")


def test_the_full_log_goes_to_a_file_under_out(tmp_path, monkeypatch):
    monkeypatch.delenv("SDRRL_VERBOSE", raising=False)
    out = Out(str(tmp_path))
    assert out.log_file == str(tmp_path / "logs" / "sdrrl.log")
    assert not verbose()
    path = setup_logging(out.log_file)
    try:
        assert path == out.log_file
        logging.getLogger("sdrrl_ray.test").info("a library line")
        for handler in logging.getLogger().handlers:
            handler.flush()
        assert "INFO sdrrl_ray.test: a library line" in (tmp_path / "logs" / "sdrrl.log").read_text()
        assert setup_logging("s3://bucket/run/logs/sdrrl.log") is None  # a remote OUT: no file
    finally:
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "baseFilename", None) == path:
                logging.getLogger().removeHandler(handler)
                handler.close()
    monkeypatch.setenv("SDRRL_VERBOSE", "1")
    assert verbose()
    monkeypatch.setenv("SDRRL_PROGRESS", "0")
    assert not progress_bars()
    monkeypatch.setenv("SDRRL_PROGRESS", "1")
    assert progress_bars()


def test_the_phase_runner_prints_preamble_and_closing_line(monkeypatch, capsys, tmp_path):
    from sdrrl_ray.app.cli import main

    for name, real in list(phases.PHASES.items()):
        monkeypatch.setitem(phases.PHASES, name, phases.Phase(name, lambda: (lambda cfg: {}), lambda cfg, r: [],
                                                              real.report, lambda cfg, name=name: [f"about {name}"]))
    assert main(["demo", f"--out={tmp_path}"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:3] == ["sdrrl: phase transfer-set: start", "about transfer-set"]
    assert re.fullmatch(rf"sdrrl: done in 0m0\ds; full log: {re.escape(str(tmp_path / 'logs' / 'sdrrl.log'))}",
                        out[-1]), out


def test_a_training_worker_drops_ray_train_info_and_torch_deprecations(monkeypatch):
    import io
    import warnings

    from sdrrl_ray.train.progress import quiet_worker

    monkeypatch.delenv("SDRRL_VERBOSE", raising=False)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    ray_logger = logging.getLogger("ray")
    ray_logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            quiet_worker()
            warnings.warn("`torch.distributed.all_gather_into_tensor` is deprecated.", FutureWarning)
            warnings.warn("something else", FutureWarning)
        assert [str(w.message) for w in caught] == ["something else"]
        record = logging.LogRecord("ray.train.v2.x", logging.INFO, __file__, 1, "Reporting training result", None,
                                   None)
        handler.handle(record)
        handler.handle(logging.LogRecord("ray.train.v2.x", logging.WARNING, __file__, 1, "a warning", None, None))
        handler.handle(logging.LogRecord("ray.core", logging.INFO, __file__, 1, "core info", None, None))
        assert stream.getvalue().splitlines() == ["a warning", "core info"]
    finally:
        ray_logger.removeHandler(handler)


def test_the_report_line_ray_names_by_file_path_is_dropped_too(monkeypatch):
    import io

    from sdrrl_ray.train.progress import quiet_worker

    monkeypatch.delenv("SDRRL_VERBOSE", raising=False)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    try:
        quiet_worker()
        name = "/x/site-packages/ray/train/v2/_internal/execution/context.py"
        handler.handle(logging.LogRecord(name, logging.INFO, __file__, 1, "Reporting training result 1", None, None))
        handler.handle(logging.LogRecord("sdrrl_ray.train.progress", logging.WARNING, __file__, 1, "train ja 1/2",
                                         None, None))
        handler.handle(logging.LogRecord("root", logging.INFO, __file__, 1, "a user print", None, None))
        assert stream.getvalue().splitlines() == ["train ja 1/2", "a user print"]
    finally:
        logging.getLogger().removeHandler(handler)


def test_a_log_file_on_a_full_disk_stops_quietly(tmp_path, capsys):
    """A write of the run's log file that fails (ENOSPC) drops that handler without logging's "--- Logging
    error ---" traceback: the run reports the full disk itself, as its one last line."""
    path = setup_logging(str(tmp_path / "logs" / "sdrrl.log"))
    root = logging.getLogger()
    handler = next(h for h in root.handlers if getattr(h, "baseFilename", None) == path)

    class FullDisk:
        def write(self, text):
            raise OSError(28, "No space left on device")

        def flush(self):
            raise OSError(28, "No space left on device")

    handler.stream = FullDisk()
    logging.getLogger("sdrrl_ray").warning("a line the disk has no room for")
    logging.getLogger("sdrrl_ray").warning("and another")
    err = capsys.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err
    assert handler not in root.handlers
    # the next run into another OUT gets its log file again
    again = setup_logging(str(tmp_path / "other" / "sdrrl.log"))
    logging.getLogger("sdrrl_ray").warning("written")
    assert "written" in open(again, encoding="utf-8").read()
