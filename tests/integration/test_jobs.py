"""``jobs/*.py`` through Ray Jobs on a real head started with ``ray start --head``.

The head runs in its own PID + mount namespace (``unshare``; see test_multinode.py) with a private
``/tmp/ray`` and free ports, its dashboard / job server bound to 127.0.0.1, and fake GPUs
(``--num-gpus 2``). Jobs are submitted from outside the namespace exactly as a user would: with the
``ray job submit`` CLI and with ``ray.job_submission.JobSubmissionClient``, uploading the repository
as ``--working-dir`` with ``cluster/runtime_env.yaml`` (no pip install). Teardown always runs
``ray stop`` (inside the namespace: the machine's other Ray instances are not touched), then ends the
namespace.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import psutil
import pytest
import yaml

from tests.conftest import saved_answer_parts
from tests.integration.isolation import TEST_ENV, die_with_parent, free_port, isolated, isolation, machine_ip  # noqa: F401 (fixture)
from tests.integration.test_multinode import GENERATION_ONLY, ROOT

RUNTIME_ENV = os.path.join(ROOT, "cluster", "runtime_env.yaml")
GEN_ACTOR = "MapWorker(MapBatches(Generator))"


class RayHead:
    """``ray start --head --block`` in its own namespace; ``stop()`` = ``ray stop`` there, then the namespace ends."""

    def __init__(self, *, num_cpus: int = 4, num_gpus: int = 0, resources: dict | None = None, env: dict | None = None):
        self.tmp = tempfile.mkdtemp(prefix="sdrrl-head-", dir="/tmp")
        names = ("gcs", "dashboard", "agent", "agent_grpc", "runtime_env", "metrics", "client")
        self.ports = {name: free_port() for name in names}
        self.address = f"http://127.0.0.1:{self.ports['dashboard']}"
        self.env = {**os.environ, **TEST_ENV, **(env or {})}
        self.env.pop("RAY_ADDRESS", None)
        p = self.ports
        cmd = [
            os.path.join(os.path.dirname(sys.executable), "ray"), "start", "--head", "--block", "--disable-usage-stats",
            "--node-ip-address", "127.0.0.1", "--port", str(p["gcs"]),
            "--dashboard-host", "127.0.0.1", "--dashboard-port", str(p["dashboard"]),
            "--dashboard-agent-listen-port", str(p["agent"]), "--dashboard-agent-grpc-port", str(p["agent_grpc"]),
            "--runtime-env-agent-port", str(p["runtime_env"]), "--metrics-export-port", str(p["metrics"]),
            "--ray-client-server-port", str(p["client"]),
            "--num-cpus", str(num_cpus), "--num-gpus", str(num_gpus), "--resources", json.dumps(resources or {}),
        ]
        self.log_path = os.path.join(self.tmp, "head.log")
        self.proc = subprocess.Popen(isolated(cmd, os.path.join(self.tmp, "ray"), net=False), env=self.env,
                                     stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT,
                                     preexec_fn=die_with_parent)
        self.stop_output = ""

    def cli(self, *args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
        """``ray job ...`` (the CLI, as a user runs it) against this head, from the repository root."""
        ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
        return subprocess.run([ray_bin, "job", args[0], "--address", self.address, *args[1:]], cwd=ROOT,
                              env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=timeout)

    def client(self):
        from ray.job_submission import JobSubmissionClient

        return JobSubmissionClient(self.address)

    def wait_ready(self, timeout_s: float = 180) -> float:
        """Until a trivial job runs: the dashboard, the job agent and a worker are all up."""
        started = time.monotonic()
        deadline = started + timeout_s
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray start exited {self.proc.returncode}: {open(self.log_path).read()[-3000:]}")
            try:
                job = self.client().submit_job(entrypoint="python -c 'print(1)'")
                wait_job(self.client(), job, timeout_s=max(5, deadline - time.monotonic()))
                return time.monotonic() - started
            except Exception as exc:  # noqa: BLE001 - dashboard or job agent not up yet
                last = exc
                time.sleep(1)
        raise TimeoutError(f"head not ready after {timeout_s}s: {last!r}\n{open(self.log_path).read()[-3000:]}")

    def namespace_init(self) -> int | None:
        try:
            children = psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return None
        return children[0].pid if children else None

    def stop(self) -> None:
        """``ray stop`` inside the head's namespace, then end the namespace (kills anything left)."""
        init = self.namespace_init()
        if init is not None:
            ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
            try:
                res = subprocess.run(["nsenter", "-t", str(init), "-p", "-m", ray_bin, "stop", "--grace-period", "10"],
                                     env=self.env, capture_output=True, text=True, timeout=60)
                self.stop_output = res.stdout + res.stderr
            except subprocess.TimeoutExpired:
                self.stop_output = "ray stop timed out"
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)  # unshare --kill-child: the namespace's PID 1 goes, and all in it
        self.proc.wait(timeout=30)
        if not os.environ.get("SDRRL_KEEP_RAY_LOGS"):  # set it to keep the head's /tmp/ray (session logs)
            shutil.rmtree(self.tmp, ignore_errors=True)


def wait_job(client, job_id: str, timeout_s: float = 300, until=("SUCCEEDED", "FAILED", "STOPPED")) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = str(client.get_job_status(job_id))
        status = status.split(".")[-1]
        if status in until:
            return status
        time.sleep(0.5)
    raise TimeoutError(f"job {job_id} not in {until} after {timeout_s}s; logs:\n{client.get_job_logs(job_id)[-3000:]}")


def runtime_env_for_sdk() -> dict:
    """cluster/runtime_env.yaml as the SDK takes it, with the repository as working_dir (as --working-dir . does)."""
    with open(RUNTIME_ENV, encoding="utf-8") as fh:
        env = yaml.safe_load(fh)
    return {**env, "working_dir": ROOT}


DEMO_DATA = os.path.join(ROOT, "sdrrl_ray", "demo", "data")
# Paths in demo.yaml are relative to the config file, i.e. inside the job's unpacked working_dir
# (/tmp/ray/session_*/runtime_resources/working_dir_files/_ray_pkg_<content hash>/), and they are part
# of the run's fingerprint: pinned to absolute paths so that a resubmission after any edit of the
# repository (other people's, in this shared checkout) still resumes the same run.
PINNED_PATHS = [f"data.path={DEMO_DATA}/instructions.jsonl", f"code_switch.dictionaries={DEMO_DATA}/dictionaries",
                f"parallel.paths.ja={DEMO_DATA}/parallel/en-ja.tsv",
                f"parallel.paths.th={DEMO_DATA}/parallel/en-th.tsv"]


def job_overrides(out, *extra: str) -> list[str]:
    return [f"out_dir={out}", "generate.max_new_tokens=16", *GENERATION_ONLY, *PINNED_PATHS, *extra]


def config_first(logs: str) -> dict:
    """The resolved config, as JSON, is the first thing the entrypoint prints (Ray's job manager
    writes its own lines before it: "Runtime env is setting up.", "Running entrypoint for job ...")."""
    lines = logs.splitlines(keepends=True)
    first = next(i for i, ln in enumerate(lines) if ln.startswith("{"))
    assert all("Runtime env is setting up" in ln or "Running entrypoint for job" in ln or not ln.strip()
               for ln in lines[:first]), lines[:first]
    cfg, _ = json.JSONDecoder().raw_decode("".join(lines[first:]))
    assert isinstance(cfg, dict), logs[:1500]
    return cfg


def last_json(logs: str) -> dict:
    lines = [ln for ln in logs.splitlines() if ln.startswith("{\"phases\"")]
    assert lines, logs[-3000:]
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def ray_head(demo_model):
    head = RayHead(num_cpus=4, num_gpus=2, resources={"gpu_gen": 2})  # fake GPUs on a "gpu_gen" node
    try:
        head.ready_s = head.wait_ready()
        print(f"ray head ready in {head.ready_s:.1f}s at {head.address}")
        yield head
    finally:
        head.stop()  # always, also when the tests or the start failed
        assert head.proc.poll() is not None


def read_table(out, sub):
    from sdrrl_ray.layout.parts import read_parts as read_output

    return read_output(str(out), sub)


# ----------------------------------------------------------------------------------------------


# Phases the full.py job test runs. Default: the transfer set alone (about 30-45 s here). With
# SDRRL_JOB_TEST_PHASES=transfer-set,train,eval the same test runs the whole flow as one job (about
# 3 min more on 2 CPUs: Ray Train + DeepSpeed and the evaluation) and checks that the GPUs of each
# phase were released before the next one started.
JOB_TEST_PHASES = os.environ.get("SDRRL_JOB_TEST_PHASES", "transfer-set")
FAST_TRAIN_EVAL = ["train.epochs=1", "train.max_length=64", "train.micro_batch_size=2", "eval.limit=4"]


@pytest.mark.usefixtures("isolation")
@pytest.mark.timeout(420 if JOB_TEST_PHASES == "transfer-set" else 900)
@pytest.mark.parametrize("phases", [JOB_TEST_PHASES])
def test_full_job_through_the_cli(ray_head, tmp_path, phases):
    out = tmp_path / "out"
    sid = f"sdrrl-cli-{os.getpid()}-{int(time.time())}"
    names = phases.split(",")
    started = time.perf_counter()
    res = ray_head.cli("submit", "--submission-id", sid, "--working-dir", ".",
                       "--runtime-env", "cluster/runtime_env.yaml",
                       "--", "python", "jobs/full.py", "jobs/configs/demo.yaml", *job_overrides(out, "data.limit=40"),
                       "generate.pool.num_gpus=1", "generate.pool.resources={gpu_gen: 1}", *FAST_TRAIN_EVAL,
                       "--phases", phases, timeout=360 if names == ["transfer-set"] else 840)
    print(f"ray job submit (CLI, 40 rows, phases {phases}): {time.perf_counter() - started:.1f}s")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"Job '{sid}' succeeded" in res.stdout + res.stderr

    status = ray_head.cli("status", sid)
    assert status.returncode == 0 and "succeeded" in (status.stdout + status.stderr).lower()
    assert "phase transfer-set: start" in ray_head.cli("logs", sid).stdout
    logs = ray_head.client().get_job_logs(sid)
    cfg = config_first(logs)  # the resolved config is the first thing the job prints
    assert cfg["out_dir"] == str(out) and cfg["generate"]["pool"]["num_gpus"] == 1.0
    assert cfg["generate"]["pool"]["resources"] == {"gpu_gen": 1}
    assert "phase transfer-set: start" in logs and "rows_in=40" in logs
    # each phase's GPU actors had ended before the job went on (state API, inside the job), and the
    # next phase started only after that check
    position = -1
    for name in names:
        start = logs.index(f"jobs/full.py: phase {name}: start")
        assert start > position, f"phase {name} started before the previous phase's GPUs were released"
        done = re.search(rf"jobs/full.py: phase {name}: done in [0-9.]+s; GPUs released: 0 actor\(s\) of this job hold "
                         rf"a GPU \(cluster GPUs 2.0/2.0 free\)", logs)
        assert done and done.start() > start, logs[-3000:]
        position = done.end()
    report = last_json(logs)["phases"]
    assert list(report) == sorted(names) or set(report) == set(names)
    assert report["transfer-set"]["complete"] is True and all(r["gpu_holders_after"] == 0 for r in report.values())
    if "train" in names:
        assert (out / "train_manifest.json").exists()
    if "eval" in names:
        assert (out / "report.json").exists()

    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["complete"] is True
            and manifest["rows_in"] == 40 == manifest["rows_out"] + manifest["rows_rejected"])
    ids = read_table(out, "transfer_set").column("id").to_pylist()
    assert len(ids) == len(set(ids)) == manifest["rows_written"]

    # the same, seen from outside with Ray's state API: the generation actors asked for a (fake) GPU and
    # the custom resource each, ran (on CPU: torch sees no CUDA), and are dead now
    from ray.util.state import list_actors

    job = ray_head.client().get_job_info(sid)
    actors = [a for a in list_actors(address=ray_head.address, filters=[("job_id", "=", job.job_id)], detail=True,
                                     limit=1000, raise_on_missing_output=False) if a.class_name == GEN_ACTOR]
    assert actors and all(a.required_resources.get("GPU") == 1.0 and a.required_resources.get("gpu_gen") == 1.0
                          for a in actors)
    assert all(a.state == "DEAD" for a in actors)

    # the dashboard / job server listens on loopback only
    with pytest.raises(OSError):
        socket.create_connection((machine_ip(), ray_head.ports["dashboard"]), timeout=2).close()


@pytest.mark.usefixtures("isolation")
@pytest.mark.timeout(600)
def test_stopped_job_resumes_through_the_sdk(ray_head, tmp_path):
    """``ray job stop`` mid-generation leaves no complete manifest (only committed parts count, answers
    already generated are saved); a resubmission into the same OUT finishes the rest and reuses them."""
    out = tmp_path / "out"
    slow = ["data.limit=200", "generate.generate_all=true", "generate.max_new_tokens=48", "rows_per_file=8",
            "generate.pool.batch_size=4", "generate.pool.num_gpus=1"]
    entrypoint = shlex.join(["python", "jobs/transfer_set.py", "jobs/configs/demo.yaml", *job_overrides(out, *slow)])
    client = ray_head.client()
    started = time.perf_counter()
    first = client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env_for_sdk())
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # stop mid-generation: some answers saved, the stage still running
        status = str(client.get_job_status(first)).split(".")[-1]
        assert status in ("PENDING", "RUNNING"), (
            f"job ended ({status}) before the stop:\n{client.get_job_logs(first)[-3000:]}")
        if saved_answer_parts(out) >= 3:
            break
        time.sleep(0.1)
    stop = ray_head.cli("stop", first, timeout=120)  # the CLI waits until the job has stopped
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert wait_job(client, first, timeout_s=60) == "STOPPED"
    print(f"job submitted, ran and stopped: {time.perf_counter() - started:.1f}s")

    manifest_path = out / "manifest.json"
    assert not manifest_path.exists() or json.loads(manifest_path.read_text()).get("complete") is not True
    partial = read_table(out, "transfer_set")  # committed parts only count; none or some, never all
    assert partial is None or partial.num_rows < 200
    saved_at_stop = saved_answer_parts(out)
    assert 3 <= saved_at_stop

    started = time.perf_counter()
    second = client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env_for_sdk())
    assert wait_job(client, second, timeout_s=400) == "SUCCEEDED", client.get_job_logs(second)[-3000:]
    print(f"resumed job: {time.perf_counter() - started:.1f}s")
    logs = client.get_job_logs(second)
    assert config_first(logs)["out_dir"] == str(out)
    manifest = json.loads(manifest_path.read_text())
    assert manifest["complete"] is True
    assert manifest["rows_in"] == 200 == manifest["rows_out"] + manifest["rows_rejected"]
    kept = read_table(out, "transfer_set")
    ids = kept.column("id").to_pylist()
    assert len(ids) == len(set(ids)) == manifest["rows_written"]
    rejects = read_table(out, "rejects")
    items = set(kept.column("item_id").to_pylist())
    if rejects is not None:
        items |= set(rejects.column("item_id").to_pylist())
    assert len(items) == 200
    # answers saved by the stopped job were reused, not generated again
    assert sum(kept.column("gen_cached").to_pylist()) >= 3 * 4


GPU_HOLDER_SCRIPT = """
import ray
from sdrrl_ray.runtime import wait_gpus_released

ray.init()

@ray.remote(num_gpus=1)
class Holder:
    def ping(self):
        return 1

h = Holder.remote()
ray.get(h.ping.remote())
try:
    wait_gpus_released(timeout_s=2)
    print("NOT DETECTED")
except RuntimeError as exc:
    print("DETECTED:", exc)
ray.kill(h)
print("AFTER KILL:", wait_gpus_released(timeout_s=60))
"""


@pytest.mark.usefixtures("isolation")
@pytest.mark.timeout(200)
def test_gpu_release_check_sees_an_actor_holding_a_gpu(ray_head):
    client = ray_head.client()
    job = client.submit_job(entrypoint=shlex.join(["python", "-c", GPU_HOLDER_SCRIPT]),
                            runtime_env=runtime_env_for_sdk())
    assert wait_job(client, job, timeout_s=150) == "SUCCEEDED", client.get_job_logs(job)[-3000:]
    logs = client.get_job_logs(job)
    assert "DETECTED: after 2s, 1 actor(s) of this job still hold GPUs (Holder)" in logs
    assert "AFTER KILL: {'holders': 0, 'gpus_total': 2.0" in logs


@pytest.mark.usefixtures("isolation")
@pytest.mark.timeout(300)
def test_user_error_fails_the_job_with_one_line(ray_head, tmp_path):
    client = ray_head.client()
    entrypoint = shlex.join(["python", "jobs/full.py", "jobs/configs/demo.yaml", f"out_dir={tmp_path}",
                             "generate.tempreature=1"])
    job = client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env_for_sdk())
    assert wait_job(client, job, timeout_s=200) == "FAILED"
    info = client.get_job_info(job)
    assert "exit code 2" in (info.message or "")
    logs = client.get_job_logs(job)
    assert "Traceback" not in logs
    assert logs.strip().splitlines()[-1].startswith("jobs/full.py: error: unknown config key 'generate.tempreature'")


@pytest.mark.usefixtures("isolation")
@pytest.mark.timeout(300)
def test_token_authentication(tmp_path, demo_model):
    """A head with RAY_AUTH_MODE=token refuses clients without the token and runs jobs for clients with it."""
    token_file = tmp_path / "token"
    token = os.urandom(24).hex()
    token_file.write_text(token)
    head = RayHead(num_cpus=2, env={"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file)})
    try:
        with_token = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
        deadline = time.monotonic() + 180
        while True:
            script = "import ray; ray.init(); print('cpus', ray.cluster_resources()['CPU'])"
            res = head.cli("submit", "--", "python", "-c", script,
                           env=with_token, timeout=120)
            if res.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert res.returncode == 0 and "cpus 2.0" in res.stdout, res.stdout[-2000:] + res.stderr[-2000:]
        denied = head.cli("list", env={"RAY_AUTH_MODE": "disabled", "RAY_AUTH_TOKEN": "", "RAY_AUTH_TOKEN_PATH": ""})
        assert denied.returncode != 0
        assert "401" in denied.stdout + denied.stderr or "uthentication" in denied.stdout + denied.stderr
        wrong = head.cli("list", env={"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "not-the-token"})
        assert wrong.returncode != 0
    finally:
        head.stop()
