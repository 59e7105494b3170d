"""``out_dir=s3://bucket/run``: the three phases against a real S3-compatible server.

moto's S3 server runs in its own process on a free port of 127.0.0.1 (no fake filesystem: the
package's s3fs calls, Ray Data's and Ray Train's pyarrow S3 calls all go over HTTP to it). The
pipeline runs as a user runs it, ``python jobs/full.py jobs/configs/demo.yaml out_dir=s3://... k=v``,
in its own process with ``AWS_ENDPOINT_URL`` and test credentials (botocore, under s3fs, and the AWS
SDK under pyarrow both read them; Ray Train keeps its checkpoints under ``OUT/checkpoints`` through
pyarrow's S3 filesystem, as it does for any ``s3://`` storage path), from an empty working directory:

1. the whole flow (transfer set, training, evaluation) puts every output in the bucket and nothing
   in the working directory;
2. the same command again resumes from the bucket: the complete transfer set is not touched, the
   trained model is skipped by its fingerprint, nothing of either phase is rewritten;
3. an interrupted transfer-set run (a part written but its commit marker not, no manifest: what a
   kill leaves) is finished from the bucket: the uncommitted part is removed, the committed pairs are
   skipped, the rest is redone, and the manifest counts what is in the bucket. The driver lists the
   bucket before Ray's workers write to it, so this fails if listings are served from a stale cache.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import ROOT
from tests.integration.isolation import die_with_parent, free_port

DEMO = os.path.join(ROOT, "jobs", "configs", "demo.yaml")
FULL_JOB = os.path.join(ROOT, "jobs", "full.py")
BUCKET = "sdrrl-s3-test"
OUT = f"s3://{BUCKET}/run"
ITEMS = 24
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sdrrl-test-key", "AWS_SECRET_ACCESS_KEY": "sdrrl-test-secret"}
REGION = "us-east-1"
# one target, two dozen items, a short training and evaluation; rows_per_file: the items' rows and the
# parallel-corpus rows are committed as separate parts (so that a resume has a committed part to skip)
OVERRIDES = [
    f"out_dir={OUT}", "languages.targets=[ja]", f"data.limit={ITEMS}", "rows_per_file=16", "generate.max_new_tokens=16",
    "parallel.n_pairs=20", "train.epochs=1", "train.max_length=64", "train.micro_batch_size=2", "eval.limit=4",
]
# outputs that a rerun of a finished run must leave as they are (train_manifest.json, the loss plot
# and the evaluation's outputs are written again by design)
KEPT_ON_RERUN = ("manifest.json", "run.json", "transfer_set/", "rejects/", ".commits/", "generations/", "model/",
                 "train_log.jsonl", "train_cache/", "checkpoints/")


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """moto's S3 server on 127.0.0.1:<free port>; yields its endpoint URL; stopped at the end."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"moto server exited {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{endpoint}/", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"moto server not up after 60s: {log.read_text()[-2000:]}")
                time.sleep(0.2)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def job_env(endpoint: str, home: str) -> dict:
    """The environment of a run: the S3 endpoint and test credentials (read by s3fs/botocore and by
    pyarrow's S3 filesystem alike), no AWS profile or instance metadata from this machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "RAY_ADDRESS"}
    env.update(CREDENTIALS)
    env.update({
        "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": os.path.join(home, "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"])),
        "TORCH_EXTENSIONS_DIR": os.environ.get("TORCH_EXTENSIONS_DIR") or os.path.join(ROOT, ".cache",
                                                                                        "torch_extensions"),
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    })
    return env


def run_job(args: list, *, cwd, env: dict, logs, name: str, timeout: float) -> str:
    """``python jobs/full.py ...`` in its own process group (the driver and its local Ray); the whole
    group is killed if it outlives ``timeout``. Returns stdout + stderr."""
    path = logs / f"{name}.log"
    with open(path, "w") as fh:
        proc = subprocess.Popen([sys.executable, FULL_JOB, *args], cwd=cwd, env=env, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = path.read_text()
    assert proc.returncode == 0, f"{name}: exit {proc.returncode}\n{text[-4000:]}"
    return text


class Bucket:
    """The test's own view of the bucket (its own s3fs client, no listing cache)."""

    def __init__(self, endpoint: str):
        import s3fs

        self.fs = s3fs.S3FileSystem(key=CREDENTIALS["AWS_ACCESS_KEY_ID"], secret=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                                    endpoint_url=endpoint,
                                    use_listings_cache=False, skip_instance_cache=True)
        self.root = f"{BUCKET}/run"

    def objects(self) -> dict:
        """relative key -> (ETag, LastModified) of every object under OUT."""
        found = self.fs.find(self.root, detail=True) if self.fs.exists(self.root) else {}
        return {k[len(self.root) + 1:]: (v.get("ETag"), str(v.get("LastModified")))
                for k, v in found.items() if v.get("type") == "file"}

    def text(self, rel: str) -> str:
        return self.fs.cat_file(f"{self.root}/{rel}").decode("utf-8")

    def json(self, rel: str):
        return json.loads(self.text(rel))

    def part_rows(self, sub: str, part: str, columns=None) -> list:
        """Rows of ``OUT/<sub>/part-<part>.parquet`` (none when there is no such part)."""
        import pyarrow.parquet as pq

        path = f"{self.root}/{sub}/part-{part}.parquet"
        if not self.fs.exists(path):
            return []
        with self.fs.open(path, "rb") as fh:
            return pq.read_table(fh, columns=columns).to_pylist()

    def committed(self, sub: str) -> list:
        """Rows of the committed parts of ``OUT/<sub>``, read here with pyarrow."""
        objects = self.objects()
        ids = {k.rsplit("/", 1)[-1] for k in objects if k.startswith(".commits/")}
        return [row for part in sorted(part_ids(objects, sub) & ids) for row in self.part_rows(sub, part)]


def pairs(rows: list) -> set:
    return {(r["item_id"], r["tgt_lang"]) for r in rows}


def part_ids(objects: dict, sub: str) -> set:
    return {k[len(sub) + 6:-len(".parquet")] for k in objects if k.startswith(f"{sub}/part-")}


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_all_phases_on_s3_and_resume_from_the_bucket(s3_server, demo_model, tmp_path):
    started = time.perf_counter()
    bucket = Bucket(s3_server)
    bucket.fs.mkdir(BUCKET)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    env = job_env(s3_server, str(tmp_path))

    # 1. the whole flow into the bucket, from an empty working directory
    t0 = time.perf_counter()
    text = run_job([DEMO, *OVERRIDES], cwd=cwd, env=env, logs=logs, name="first", timeout=300)
    first_s = time.perf_counter() - t0
    for phase in ("transfer-set", "train", "eval"):
        assert f"jobs/full.py: phase {phase}: done" in text, text[-3000:]
    assert os.listdir(cwd) == [], "the run wrote into its working directory"
    objects = bucket.objects()

    manifest = bucket.json("manifest.json")
    assert manifest["complete"] is True and manifest["config"]["out_dir"] == OUT
    assert manifest["rows_in"] == ITEMS == manifest["rows_out"] + manifest["rows_rejected"]
    assert "run.json" in objects
    kept, rejects = bucket.committed("transfer_set"), bucket.committed("rejects")
    assert len(kept) == manifest["rows_written"] > 0 and len(rejects) == manifest["rejects_written"]
    assert len({r["id"] for r in kept}) == len(kept)
    items = {r["item_id"] for r in kept + rejects if not r["item_id"].startswith("par:")}
    assert len(items) == ITEMS and {r["tgt_lang"] for r in kept} == {"ja"}
    commits = {k.rsplit("/", 1)[-1] for k in objects if k.startswith(".commits/")}
    written = part_ids(objects, "transfer_set") | part_ids(objects, "rejects")
    assert len(part_ids(objects, "transfer_set")) >= 2 and written == commits  # several parts, each committed
    assert any(k.startswith("generations/") and k.endswith(".parquet") for k in objects)  # saved answers

    for name in ("config.json", "model.safetensors", "tokenizer.json", "train_summary.json"):
        assert f"model/{name}" in objects, sorted(objects)
    config = bucket.json("model/config.json")
    assert config["model_type"] == "llama" and config["dtype"] == "float32"
    train_manifest = bucket.json("train_manifest.json")
    assert train_manifest["trained"] == ["ja"] and train_manifest["model_dirs"] == {"ja": f"{OUT}/model"}
    run_name = train_manifest["targets"]["ja"]["run"]
    log_lines = [json.loads(line) for line in bucket.text("train_log.jsonl").splitlines()]
    assert {r["event"] for r in log_lines} >= {"start", "step", "checkpoint", "export", "end"}
    assert all(r["run"] == run_name for r in log_lines)
    assert not any(k.startswith("train_log.jsonl.parts/") for k in objects)  # merged into the log
    assert any(k.startswith(f"checkpoints/{run_name}/checkpoint_") for k in objects)  # Ray Train, through pyarrow
    assert any(k.startswith("train_cache/tokenized-") and k.endswith("/_COMPLETE") for k in objects)

    report = bucket.json("report.json")
    assert {m["name"]: m["path"] for m in report["models"]}["sdrrl"] == f"{OUT}/model"
    assert any(r["model"] == "sdrrl" for r in report["results"])
    assert "report.md" in objects and bucket.text("report.md").startswith("#")
    assert report["plots"] and all(p in objects for p in report["plots"]) and "plots/loss.png" in objects
    assert any(k.startswith("predictions/sdrrl.") for k in objects)
    # demo.yaml's train.export_every_epoch: the export after epoch 1 in the bucket, and its off-target rate
    assert "epochs/ja/epoch-1/model.safetensors" in objects and "plots/offtarget_epochs.png" in objects
    assert [c["model"] for c in report["offtarget_epochs"]["rows"][0]["cells"]][1:] == [f"{OUT}/epochs/ja/epoch-1"]

    # 2. the same command again: resumes from the bucket
    t0 = time.perf_counter()
    text = run_job([DEMO, *OVERRIDES], cwd=cwd, env=env, logs=logs, name="rerun", timeout=240)
    rerun_s = time.perf_counter() - t0
    assert f"{OUT} is complete for this config and input; nothing to do" in text, text[-3000:]
    assert os.listdir(cwd) == []
    again = bucket.objects()
    # the model card (model/README.md) is the one file under model/ the evaluation rewrites: its results section
    def kept(found: dict) -> dict:
        return {k: v for k, v in found.items() if k.startswith(KEPT_ON_RERUN) and k != "model/README.md"}

    assert kept(again) == kept(objects)
    assert "model/README.md" in again and "## Evaluation" in bucket.text("model/README.md")
    rerun_manifest = bucket.json("train_manifest.json")
    assert rerun_manifest["trained"] == [] and rerun_manifest["targets"]["ja"]["skipped"] is True
    assert rerun_manifest["targets"]["ja"]["fingerprint"] == train_manifest["targets"]["ja"]["fingerprint"]
    assert again["report.json"] != objects["report.json"]  # the evaluation ran again

    # 3. an interrupted transfer-set run: one part written without its commit marker, no manifest
    lost = next(i for i in sorted(commits)
                if any(not r["item_id"].startswith("par:") for r in bucket.part_rows("transfer_set", i)))
    lost_pairs = pairs(bucket.part_rows("transfer_set", lost) + bucket.part_rows("rejects", lost))
    bucket.fs.rm(f"{bucket.root}/.commits/{lost}")
    bucket.fs.rm(f"{bucket.root}/manifest.json")
    survivors = {k: v for k, v in bucket.objects().items() if k.startswith(("transfer_set/", "rejects/"))}
    lost_files = [k for k in survivors if lost in k]
    done = pairs(bucket.committed("transfer_set") + bucket.committed("rejects"))
    assert lost_pairs and not lost_pairs & done
    t0 = time.perf_counter()
    text = run_job([DEMO, *OVERRIDES, "--phases", "transfer_set"], cwd=cwd, env=env, logs=logs, name="resume",
                   timeout=240)
    resume_s = time.perf_counter() - t0
    assert f"removed {len(lost_files)} uncommitted part file(s)" in text, text[-3000:]
    assert f"resuming: {len(done)} (item, target) pair(s) already complete" in text
    assert os.listdir(cwd) == []
    after = bucket.objects()
    assert not any(lost in k for k in after)  # the uncommitted part was removed
    assert all(after.get(k) == v for k, v in survivors.items() if lost not in k)  # committed parts untouched
    manifest = bucket.json("manifest.json")
    kept, rejects = bucket.committed("transfer_set"), bucket.committed("rejects")
    assert manifest["complete"] is True and manifest["resumed_pairs"] == len(done)
    assert manifest["rows_in"] == ITEMS == manifest["rows_out"] + manifest["rows_rejected"]
    # the manifest counts what is in the bucket, the parts that the workers just committed included
    assert manifest["rows_written"] == len(kept) and manifest["rejects_written"] == len(rejects)
    assert pairs(kept + rejects) >= done | lost_pairs and len({r["id"] for r in kept}) == len(kept)
    print(f"S3 run ({len(commits)} committed parts): first {first_s:.1f}s, rerun {rerun_s:.1f}s, "
          f"interrupted-run resume {resume_s:.1f}s, test {time.perf_counter() - started:.1f}s")


@pytest.mark.timeout(120)
def test_the_out_lock_on_an_object_store(s3_server, tmp_path, monkeypatch):
    """OUT/.lock on S3: created with a conditional write (If-None-Match: *), so a second run is refused;
    a lock nobody refreshed is taken over."""
    from sdrrl_ray import storage
    from sdrrl_ray.errors import UserError
    from sdrrl_ray.layout.lock import OutLock

    for key, value in job_env(s3_server, str(tmp_path)).items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    bucket = Bucket(s3_server)
    bucket.fs.mkdir("sdrrl-lock-test")
    out = "s3://sdrrl-lock-test/run"
    assert storage.create_exclusive(f"{out}/probe", b"first")
    assert not storage.create_exclusive(f"{out}/probe", b"second")  # the server refused the overwrite
    assert bucket.fs.cat_file("sdrrl-lock-test/run/probe") == b"first"

    with OutLock(out) as lock:
        assert json.loads(bucket.fs.cat_file("sdrrl-lock-test/run/.lock"))["run_id"] == lock.run_id
        with pytest.raises(UserError, match="in use by another run"):
            OutLock(out).acquire()
    assert not bucket.fs.exists("sdrrl-lock-test/run/.lock")

    stale = {"pid": 1, "host": "gone-machine", "run_id": "old", "started": 0, "refreshed": time.time() - 7200}
    bucket.fs.pipe_file("sdrrl-lock-test/run/.lock", json.dumps(stale).encode())
    with OutLock(out, stale_after_s=600) as lock:
        assert json.loads(bucket.fs.cat_file("sdrrl-lock-test/run/.lock"))["run_id"] == lock.run_id
