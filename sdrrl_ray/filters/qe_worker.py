"""COMET scoring worker (CometKiwi for ``filter.qe``, reference-based COMET for ``eval.comet``), run with
the python of a separate environment that has unbabel-comet (it imports nothing from ``sdrrl_ray``):
line-delimited JSON on stdio (``*.python``) or an HTTP service (``*.url``). Usage and protocol:
``docs/comet-worker.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading


def load_model(spec: str):
    from comet import download_model, load_from_checkpoint

    if os.path.isfile(spec):
        path = spec
    elif os.path.isdir(spec):
        path = os.path.join(spec, "checkpoints", "model.ckpt")
    else:
        path = download_model(spec)
    return load_from_checkpoint(path)


class Scorer:
    def __init__(self, spec: str, batch_size: int, gpus: int):
        self.model = load_model(spec)
        self.batch_size = batch_size
        self.gpus = gpus
        self.lock = threading.Lock()

    def score(self, data: list) -> list:
        if not data:
            return []
        # CometKiwi reads (src, mt); reference-based COMET (wmt22-comet-da) also "ref"
        rows = [{k: str(d[k]) for k in ("src", "mt", "ref") if k in d} for d in data]
        with self.lock:
            out = self.model.predict(rows, batch_size=self.batch_size, gpus=self.gpus, progress_bar=False)
        return [float(s) for s in out.scores]


def _default_gpus() -> int:
    try:
        import torch

        return 1 if torch.cuda.is_available() else 0
    except Exception:
        return 0


def serve_stdio(scorer_factory) -> None:
    # The protocol owns the real stdout; anything the libraries print goes to stderr.
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        scorer = scorer_factory()
    except Exception as exc:
        proto.write(json.dumps({"ready": False, "error": f"{type(exc).__name__}: {exc}"}) + "\n")
        raise SystemExit(1)
    proto.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        req_id = None
        try:
            req = json.loads(line)
            req_id = req.get("id")
            reply = {"id": req_id, "scores": scorer.score(req.get("data", []))}
        except Exception as exc:
            reply = {"id": req_id, "error": f"{type(exc).__name__}: {exc}"}
        proto.write(json.dumps(reply) + "\n")


def serve_http(scorer_factory, host: str, port: int, model: str) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    scorer = scorer_factory()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: dict) -> None:
            raw = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self):  # noqa: N802
            if self.path.rstrip("/") in ("/health", ""):
                self._send(200, {"ok": True, "model": model})
            else:
                self._send(404, {"error": "use GET /health or POST /score"})

        def do_POST(self):  # noqa: N802
            if self.path.rstrip("/") not in ("/score", ""):
                self._send(404, {"error": "use POST /score"})
                return
            try:
                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                self._send(200, {"scores": scorer.score(req.get("data", []))})
            except Exception as exc:
                self._send(400, {"error": f"{type(exc).__name__}: {exc}"})

        def log_message(self, fmt, *args):
            sys.stderr.write("qe_worker: " + fmt % args + "\n")

    server = ThreadingHTTPServer((host, port), Handler)
    sys.stderr.write(f"qe_worker: serving {model} on http://{host}:{server.server_address[1]}\n")
    sys.stderr.flush()
    server.serve_forever()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="Unbabel/wmt22-cometkiwi-da")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--gpus", type=int, default=None, help="default: 1 if CUDA is available")
    parser.add_argument("--serve", type=int, default=None, help="serve HTTP on this port instead of stdio")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    gpus = _default_gpus() if args.gpus is None else args.gpus

    def factory():
        return Scorer(args.model, args.batch_size, gpus)

    if args.serve is not None:
        serve_http(factory, args.host, args.serve, args.model)
    else:
        serve_stdio(factory)


if __name__ == "__main__":
    main()
