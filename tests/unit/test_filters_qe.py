"""Translation filters, CometKiwi QE: the threshold on a fake scorer, start-up checks, and the
subprocess / HTTP protocols with the real worker script against a fake COMET package (named as such)."""

import os
import re
import subprocess
import sys

import pytest

from sdrrl_ray.config import Config, FilterConfig, QEConfig
from sdrrl_ray.errors import UserError
from sdrrl_ray.filters.qe import WORKER, HTTPQEScorer, SubprocessQEScorer, check_qe_available
from sdrrl_ray.stages.filter import TranslationFilter
from tests.unit.test_filters import filter_batch


class FakeQEScorer:
    """Scores from a table (default 0.9); records what it was asked."""

    def __init__(self, table=None):
        self.table = table or {}
        self.calls = []

    def score(self, pairs):
        self.calls.append(list(pairs))
        return [self.table.get(mt, 0.9) for _, mt in pairs]


def test_qe_threshold_with_fake_scorer():
    fake = FakeQEScorer({"悪い翻訳です。": 0.79, "ぎりぎりです。": 0.8})
    filt = TranslationFilter(languages=["en", "ja"], qe={"enabled": True, "threshold": 0.8}, qe_scorer=fake)
    rows = [
        ("en", "ja", "Is this good?", "It is bad.", "これは良いですか？", "悪い翻訳です。"),
        ("en", "ja", "Is this close?", "It is close.", "これは近いですか？", "ぎりぎりです。"),
        ("en", "ja", "Copied?", "Yes, copied.", "Copied?", "はい、コピーです。"),
    ]
    table = filt(filter_batch(rows))
    d = table.to_pydict()
    assert d["answer_ok"] == [False, True, True]
    assert d["answer_reason"] == ["qe_below_threshold", None, None]
    assert d["answer_detail"][0] == "CometKiwi 0.790 < 0.8"
    assert d["answer_qe"] == [0.79, 0.8, 0.9]
    # a text that failed an earlier check is not scored
    assert d["question_reason"][2] == "copy_of_source" and d["question_qe"][2] is None
    assert [mt for _, mt in fake.calls[0]] == [
        "これは良いですか？", "悪い翻訳です。", "これは近いですか？", "ぎりぎりです。", "はい、コピーです。"]
    assert len(fake.calls) == 1  # one batched call


def test_qe_disabled_scores_nothing():
    filt = TranslationFilter(languages=["en", "ja"])
    assert filt.scorer is None
    d = filt(filter_batch([("en", "ja", "Hi?", "Yes.", "やあ？", "はい。")])).to_pydict()
    assert d["question_qe"] == [None] and d["question_ok"] == [True]


def test_qe_enabled_without_python_or_url_is_a_startup_error():
    for cfg in (QEConfig(enabled=True), FilterConfig(qe=QEConfig(enabled=True)),
                Config(filter=FilterConfig(qe=QEConfig(enabled=True)))):
        with pytest.raises(UserError, match=r"filter\.qe\.python.*filter\.qe\.url"):
            check_qe_available(cfg)
    with pytest.raises(UserError, match="filter.qe.python"):
        TranslationFilter(qe={"enabled": True})
    check_qe_available(QEConfig())  # disabled: nothing to check


def test_qe_python_without_comet_is_a_startup_error(tmp_path):
    with pytest.raises(UserError, match="cannot import comet.*pip install unbabel-comet"):
        check_qe_available(QEConfig(enabled=True, python=sys.executable))
    with pytest.raises(UserError, match="not an executable"):
        check_qe_available(QEConfig(enabled=True, python=str(tmp_path / "nope" / "python")))


def test_qe_url_unreachable_is_a_startup_error():
    with pytest.raises(UserError, match="does not answer"):
        check_qe_available(QEConfig(enabled=True, url="http://127.0.0.1:9/score"), timeout_s=5)


FAKE_COMET = '''
"""FakeComet: stands in for unbabel-comet in the worker's environment (protocol tests only)."""
class _Output:
    def __init__(self, scores):
        self.scores = scores

class FakeCometModel:
    def predict(self, data, batch_size=32, gpus=0, progress_bar=False):
        print("library noise on stdout")  # must not break the JSON-lines protocol
        # reference-based when a reference came (FLORES COMET), else against the source (CometKiwi)
        return _Output([round(len(d["mt"]) / (len(d["mt"]) + len(d.get("ref", d["src"]))), 4) for d in data])

def download_model(name):
    return name

def load_from_checkpoint(path):
    return FakeCometModel()
'''


@pytest.fixture
def fake_comet_env(tmp_path, monkeypatch):
    pkg = tmp_path / "fakecomet" / "comet"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(FAKE_COMET)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "fakecomet"))
    return dict(os.environ)


def _expected(pairs):
    return [round(len(t) / (len(t) + len(s)), 4) for s, t in pairs]


@pytest.mark.timeout(60)
def test_subprocess_scorer_speaks_json_lines_with_the_worker(fake_comet_env):
    check_qe_available(QEConfig(enabled=True, python=sys.executable))  # comet importable now
    scorer = SubprocessQEScorer(sys.executable, model="Unbabel/wmt22-cometkiwi-da", env=fake_comet_env)
    try:
        pairs = [("Hello.", "こんにちは。"), ("A much longer source sentence.", "短い。")]
        assert scorer.score(pairs) == _expected(pairs)
        assert scorer.score([]) == []
        assert scorer.score(pairs[:1]) == _expected(pairs[:1])  # the worker stays up between requests
    finally:
        scorer.close()
    assert scorer.proc.poll() is not None


@pytest.mark.timeout(60)
def test_http_service_mode_and_url_check(fake_comet_env):
    proc = subprocess.Popen([sys.executable, WORKER, "--serve", "0"], stderr=subprocess.PIPE, text=True,
                            env=fake_comet_env)
    try:
        line = proc.stderr.readline()
        port = int(re.search(r":(\d+)\s*$", line).group(1))
        url = f"http://127.0.0.1:{port}/score"
        check_qe_available(QEConfig(enabled=True, url=url))
        pairs = [("Hello.", "こんにちは。"), ("Hi.", "やあ。")]
        scorer = HTTPQEScorer(url, batch_size=1)
        assert scorer.score(pairs) == _expected(pairs)
        filt = TranslationFilter(languages=["en", "ja"], qe={"enabled": True, "url": url, "threshold": 0.6})
        d = filt(filter_batch([("en", "ja", "Hello.", "Hi.", "こんにちは。", "やあ。")])).to_pydict()
        assert d["question_qe"] == [round(6 / 12, 4)] and d["question_reason"] == ["qe_below_threshold"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)




# ---------------------------------------------------------------- HTTP client: bounded retries


class FakeQEServer:
    """A local HTTP scoring service (test-only) that fails its first requests in the given ways, then
    scores every pair 0.5 (or fails forever with ``always``). Counts the requests it was sent."""

    def __init__(self, failures=(), always=None, delay_s=0.5):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.failures, self.always, self.requests = list(failures), always, 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                import json
                import time

                data = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                server.requests += 1
                mode = server.failures.pop(0) if server.failures else server.always
                if mode == "drop":  # the connection closes without an answer
                    self.close_connection = True
                    return
                if mode == "slow":  # answers after the client's timeout
                    time.sleep(delay_s)
                if isinstance(mode, int):
                    self.send_error(mode)
                    return
                raw = json.dumps({"scores": [0.5] * len(data["data"])}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/score"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_qe_server():
    servers = []

    def make(**kwargs):
        servers.append(FakeQEServer(**kwargs))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


@pytest.mark.timeout(30)
def test_http_scorer_retries_connection_errors_timeouts_and_5xx_then_succeeds(fake_qe_server, caplog):
    server = fake_qe_server(failures=["drop", 503, "slow"])
    scorer = HTTPQEScorer(server.url, timeout_s=0.2, attempts=4, backoff_s=0.01)
    with caplog.at_level("WARNING", logger="sdrrl_ray.filters.qe"):
        assert scorer.score([("Hello.", "こんにちは。"), ("Hi.", "やあ。")]) == [0.5, 0.5]
    assert server.requests == 4  # three failures, then the answer
    retried = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retried) == 3 and all(server.url in m for m in retried)
    assert "HTTP 503" in retried[1] and "timed out" in retried[2]


@pytest.mark.timeout(30)
def test_http_scorer_gives_up_after_its_attempts_with_a_clear_error(fake_qe_server):
    from sdrrl_ray.filters.qe import QEServiceError

    server = fake_qe_server(always=503)
    with pytest.raises(QEServiceError) as err:
        HTTPQEScorer(server.url, attempts=3, backoff_s=0.01).score([("Hello.", "こんにちは。")])
    assert server.requests == 3 and err.value.attempts == 3
    msg = str(err.value)
    assert f"QE service {server.url} did not answer after 3 attempt(s)" in msg and "HTTP 503" in msg
    assert "check that the scoring service is running" in msg and "--serve PORT" in msg and "filter.qe.url" in msg
    # nothing listening: every attempt is refused
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    server.close()
    with pytest.raises(QEServiceError, match=rf"127\.0\.0\.1:{port}/score did not answer after 2 attempt.*refused"):
        HTTPQEScorer(server.url, attempts=2, backoff_s=0.01).score([("a", "b")])


@pytest.mark.timeout(30)
def test_http_scorer_does_not_retry_a_request_the_service_rejects(fake_qe_server):
    server = fake_qe_server(always=400)
    with pytest.raises(RuntimeError, match="answered HTTP 400") as err:
        HTTPQEScorer(server.url, attempts=3, backoff_s=0.01).score([("a", "b")])
    assert server.requests == 1 and not hasattr(err.value, "attempts")
