"""The shipped cluster configs (cluster/), job configs and the cluster helpers (model copies in
sdrrl_ray/storage.py, actor pools in sdrrl_ray/runtime.py).

- Ray cluster-launcher YAMLs are checked with Ray's own schema and preparation code (what `ray up` runs).
- KubeRay manifests are parsed and checked for structure (no Kubernetes API here).
- No credentials in cluster/ or jobs/configs/; trust_remote_code stays off; the dashboard / job API
  is bound to localhost or protected by Ray's token authentication in every config.
- Resources come from the config (actor pools, training workers, custom resources per node type).
- Model weights from a URL are copied to local disk once per node.
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import re
import shlex

import pytest
import ray
import yaml

from sdrrl_ray.config import ActorPoolConfig, GenerateConfig, load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER = os.path.join(ROOT, "cluster")
JOB_CONFIGS = os.path.join(ROOT, "jobs", "configs")
LAUNCHERS = ["aws.yaml", "gcp.yaml"]
KUBERAY = ["kuberay/raycluster.yaml", "kuberay/rayjob.yaml"]
GPU_TYPES = {"gpu_gen": 1, "gpu_train": 8}  # custom resource -> GPUs per node


def load(name: str) -> dict:
    with open(os.path.join(CLUSTER, name), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def ray_up_validate(config: dict) -> dict:
    """What `ray up` does to a cluster YAML before launching anything: merge the provider's defaults and
    validate against ray/autoscaler/ray-schema.json. Ray exposes this only in a private module
    (ray.autoscaler._private.util); this adapter is the one place that touches it."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


# ----------------------------------------------------------------------------------------------
# cluster launcher (AWS, GCP)


@pytest.mark.parametrize("name", LAUNCHERS)
def test_launcher_yaml_passes_rays_schema(name):
    prepared = ray_up_validate(load(name))
    assert prepared["provider"]["type"] == name.split(".")[0]


@pytest.mark.parametrize("name", LAUNCHERS)
def test_rays_schema_check_is_real(name):
    import jsonschema

    bad = load(name)
    bad["available_node_types"]["gpu_gen"]["resources"]["gpu_gen"] = 0.5  # resources must be integers
    with pytest.raises(jsonschema.ValidationError):
        ray_up_validate(bad)
    bad = load(name)
    bad["available_node_types"]["gpu_gen"]["node_type_typo"] = 1
    with pytest.raises(jsonschema.ValidationError):
        ray_up_validate(bad)


@pytest.mark.parametrize("name", LAUNCHERS)
def test_launcher_node_types(name):
    cfg = load(name)
    types = cfg["available_node_types"]
    head = types[cfg["head_node_type"]]
    assert not head["resources"].get("GPU") and not set(GPU_TYPES) & set(head["resources"])  # CPU head
    assert 0 < cfg["idle_timeout_minutes"] <= 30
    total_max = 0
    for resource, gpus in GPU_TYPES.items():
        node = types[resource]
        assert node["resources"][resource] == gpus
        if "GPU" in node["resources"]:  # GCP: declared; AWS: detected from the instance type
            assert node["resources"]["GPU"] == gpus
        assert node["min_workers"] == 0 < node["max_workers"]
        total_max += node["max_workers"]
    assert cfg["max_workers"] >= total_max


@pytest.mark.parametrize("name", LAUNCHERS)
def test_launcher_security_and_storage(name):
    cfg = load(name)
    head_start = " ".join(cfg["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start and "0.0.0.0" not in head_start
    for cmds in (cfg["head_start_ray_commands"], cfg["worker_start_ray_commands"]):
        start = [c for c in cmds if "ray start" in c]
        assert start and all("RAY_AUTH_MODE=token" in c for c in start)
    assert "~/.ray/auth_token" in cfg["file_mounts"]  # the token travels as a file the user generated
    assert any("/mnt/shared" in c and "mount" in c for c in cfg["initialization_commands"])
    assert any("/mnt/shared" in opt for opt in cfg["docker"]["run_options"])
    for image in (cfg["docker"]["image"], cfg["docker"]["head_image"]):
        assert image.startswith(f"rayproject/ray:{ray.__version__}-")


# ----------------------------------------------------------------------------------------------
# KubeRay


def cluster_spec(doc: dict) -> dict:
    return doc["spec"] if doc["kind"] == "RayCluster" else doc["spec"]["rayClusterSpec"]


def group_resources(group: dict) -> dict:
    raw = group.get("rayStartParams", {}).get("resources")
    return json.loads(raw.strip('"').replace('\\"', '"')) if raw else {}


@pytest.mark.parametrize("name", KUBERAY)
def test_kuberay_manifest_structure(name):
    doc = load(name)
    kinds = {"raycluster.yaml": "RayCluster", "rayjob.yaml": "RayJob"}
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == kinds[name.split("/")[1]]
    spec = cluster_spec(doc)
    assert spec["rayVersion"] == ray.__version__
    assert spec["enableInTreeAutoscaling"] is True
    assert 0 < spec["autoscalerOptions"]["idleTimeoutSeconds"] <= 1800
    # the dashboard is on the pod network (the operator and the submitter need it): token auth on
    head = spec["headGroupSpec"]
    assert spec["authOptions"]["mode"] == "token" or head["rayStartParams"].get("dashboard-host") == "127.0.0.1"
    assert head["rayStartParams"].get("num-cpus") == "0"
    head_container = head["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in head_container["resources"]["limits"]
    groups = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    assert set(groups) == {"cpu", "gpu-gen", "gpu-train"}
    for g in groups.values():
        assert 0 <= g["minReplicas"] <= g["replicas"] <= g["maxReplicas"]
        assert g["minReplicas"] == 0 and g["maxReplicas"] > 0  # scaled by the autoscaler, from zero
    for resource, gpus in GPU_TYPES.items():
        g = groups[resource.replace("_", "-")]
        assert group_resources(g) == {resource: gpus}
        limits = g["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == gpus
    assert group_resources(groups["cpu"]) == {}
    for container in [head_container] + [g["template"]["spec"]["containers"][0] for g in groups.values()]:
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert "/mnt/shared" in mounts
        for env in container.get("env", []):
            if re.search(r"TOKEN|SECRET|PASSWORD|KEY", env["name"]):
                assert "value" not in env and "valueFrom" in env, f"{env['name']} must come from a Secret"


def test_rayjob_matches_raycluster_and_runs_a_shipped_job():
    job, cluster = load("kuberay/rayjob.yaml"), load("kuberay/raycluster.yaml")
    spec = job["spec"]
    assert spec["shutdownAfterJobFinishes"] is True and spec["submissionMode"] == "K8sJobMode"
    job_groups = {g["groupName"]: group_resources(g) for g in cluster_spec(job)["workerGroupSpecs"]}
    assert job_groups == {g["groupName"]: group_resources(g) for g in cluster_spec(cluster)["workerGroupSpecs"]}
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert not {"pip", "uv", "conda"} & set(runtime_env)  # nothing installed at submission
    args = shlex.split(spec["entrypoint"])
    assert args[0] == "python" and args[1] == "/home/ray/sdrrl-ray/jobs/full.py"
    assert os.path.exists(os.path.join(ROOT, "jobs", "full.py"))
    from sdrrl_ray.app.jobs import split_job_args

    config, overrides, phases = split_job_args(args[2:])
    config = config.replace("/home/ray/sdrrl-ray", ROOT)
    cfg = load_config(config, [*overrides, "generate.engine=hf"])  # vllm is not installed here
    assert cfg.generate.pool.resources == {"gpu_gen": 1} and cfg.translate.pool.resources == {"gpu_gen": 1}
    assert cfg.train.resources_per_worker == {"gpu_train": 1} and cfg.train.use_gpu is True
    assert phases is None  # all three phases


def test_dockerfile_builds_on_the_installed_ray():
    text = open(os.path.join(CLUSTER, "Dockerfile"), encoding="utf-8").read()
    assert f"rayproject/ray:{ray.__version__}-py311-gpu" in text
    ignored = open(os.path.join(CLUSTER, "Dockerfile.dockerignore"), encoding="utf-8").read().split()
    assert {".venv*", ".cache", "out", ".git"} <= set(ignored)


# ----------------------------------------------------------------------------------------------
# the runtime_env used at submission


def test_runtime_env_installs_nothing_and_uploads_only_the_code():
    from ray.runtime_env import RuntimeEnv

    env = load("runtime_env.yaml")
    RuntimeEnv(**env)  # Ray accepts it
    assert not {"pip", "uv", "conda", "container", "image_uri", "py_modules"} & set(env)
    assert {".venv*", ".cache", "out", ".git"} <= set(env["excludes"])
    assert all(isinstance(v, str) for v in env["env_vars"].values())


# ----------------------------------------------------------------------------------------------
# no credentials, trust_remote_code off

CREDENTIAL_PATTERNS = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret key setting": re.compile(r"aws_secret_access_key\s*[:=]\s*\S+", re.I),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "GCP service-account key": re.compile(r'"type"\s*:\s*"service_account"|"private_key(_id)?"\s*:'),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    # key: value / KEY=value with a literal, long, random-looking value (not $VAR, a path or a placeholder)
    "secret-named setting": re.compile(
        r"(?i)\b[\w.-]*(password|passwd|secret|token|api[_-]?key|access[_-]?key)[\w.-]*\"?\s*[:=]\s*"
        r"[\"']?(?![$~/<{(]|your-|REPLACE)([A-Za-z0-9+/_\-]{16,})"
    ),
    # a Kubernetes env entry or similar: {name: SOMETHING_TOKEN, value: <literal>}
    "secret-named env value": re.compile(
        r"(?i)name:\s*['\"]?[\w.-]*(token|secret|password|passwd|api[_-]?key|access[_-]?key)[\w.-]*['\"]?\s*,?\s*\n?\s*"
        r"value:\s*['\"]?(?![$]|your-|REPLACE)\S{8,}"
    ),
    "hex secret": re.compile(r"(?<![\w/.-])[0-9a-f]{32,}(?![\w/.-])"),
    "long hex or base64 literal": re.compile(
        r"(?<![\w/.-])(?=[A-Za-z0-9+/]*\d)(?=[A-Za-z0-9+/]*[a-zA-Z])[A-Za-z0-9+/]{40,}={0,2}(?![\w/.-])"
    ),
}


def credential_findings(text: str) -> list[str]:
    return [f"{name}: {m.group(0)[:40]}"
            for name, pattern in CREDENTIAL_PATTERNS.items() for m in pattern.finditer(text)]


def shipped_files() -> list[str]:
    out = []
    for top in (CLUSTER, JOB_CONFIGS):
        for dirpath, _, files in os.walk(top):
            out += [os.path.join(dirpath, f) for f in files if not f.endswith((".pyc",))]
    return sorted(out)


def test_no_credentials_in_cluster_and_job_configs():
    files = shipped_files()
    assert any(f.endswith("aws.yaml") for f in files) and any(f.endswith("demo.yaml") for f in files)
    findings = {os.path.relpath(f, ROOT): credential_findings(open(f, encoding="utf-8").read()) for f in files}
    assert {f: hits for f, hits in findings.items() if hits} == {}


@pytest.mark.parametrize("sample", [
    "aws_access_key_id: AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "-----BEGIN RSA PRIVATE KEY-----",
    '{"type": "service_account", "project_id": "x"}',
    "env: {RAY_AUTH_TOKEN: 3f9a0c1d2e4b5a6978877c6d5e4f3a2b}",
    "- {name: RAY_AUTH_TOKEN, value: 9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e}",
    "HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",
    "password: hunter2hunter2hunter2",
    "env:\n  - name: RAY_AUTH_TOKEN\n    value: abcdefgh12345678",
])
def test_credential_scan_catches_fake_credentials(sample):
    assert credential_findings(sample), sample


@pytest.mark.parametrize("sample", [
    "RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=$HOME/.ray/auth_token ray start",
    '"~/.ray/auth_token": "~/.ray/auth_token"',
    "valueFrom: {secretKeyRef: {name: sdrrl, key: auth_token}}",
    "export RAY_AUTH_TOKEN=$(kubectl get secret sdrrl -o jsonpath='{.data.auth_token}' | base64 -d)",
    "sourceImage: projects/deeplearning-platform-release/global/images/family/common-cu124-ubuntu-2204-py310",
    "- {name: HF_HUB_OFFLINE, value: \"1\"}",
])
def test_credential_scan_passes_references(sample):
    assert credential_findings(sample) == []


def _walk(node, key):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _walk(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v, key)


def test_trust_remote_code_off_in_shipped_configs():
    assert GenerateConfig().trust_remote_code is False
    configs = sorted(os.path.relpath(os.path.join(d, f), JOB_CONFIGS)
                     for d, _, files in os.walk(JOB_CONFIGS) for f in files if f.endswith((".yaml", ".yml")))
    assert "demo.yaml" in configs
    for name in configs:  # jobs/configs/*.yaml and the presets under it
        path = os.path.join(JOB_CONFIGS, name)
        raw = yaml.safe_load(open(path, encoding="utf-8"))
        assert not any(v for v in _walk(raw, "trust_remote_code")), name
        cfg = load_config(path, ["generate.engine=hf"])  # vllm is not installed here
        resolved = cfg.to_dict()
        assert cfg.generate.trust_remote_code is False
        assert not any(v for v in _walk(resolved, "trust_remote_code")), name  # also not via engine_kwargs
    for name in LAUNCHERS + KUBERAY + ["runtime_env.yaml"]:
        assert "trust_remote_code" not in open(os.path.join(CLUSTER, name), encoding="utf-8").read()


# ----------------------------------------------------------------------------------------------
# resources from config


def test_actor_pool_resources_from_config():
    from ray.data import ActorPoolStrategy

    from sdrrl_ray.runtime import actor_pool_args

    pool = ActorPoolConfig(min_actors=2, max_actors=4, num_cpus=4, num_gpus=1, batch_size=64, resources={"gpu_gen": 1})
    args = actor_pool_args(pool)
    assert isinstance(args["compute"], ActorPoolStrategy)
    assert (args["compute"].min_size, args["compute"].max_size) == (2, 4)
    assert args["batch_size"] == 64 and args["num_cpus"] == 4 and args["num_gpus"] == 1
    assert args["resources"] == {"gpu_gen": 1}
    # vLLM tensor parallelism: every rank's GPU is in the one actor
    assert actor_pool_args(pool, tensor_parallel_size=4)["num_gpus"] == 4
    # a CPU pool stays on CPU whatever the TP setting; no GPU or custom resources unless configured
    cpu = actor_pool_args(ActorPoolConfig(), tensor_parallel_size=2)
    assert "num_gpus" not in cpu and "resources" not in cpu


def test_pool_and_training_resources_from_overrides():
    demo = os.path.join(JOB_CONFIGS, "demo.yaml")
    cfg = load_config(demo, ["generate.pool.resources={gpu_gen: 1}", "generate.pool.num_gpus=1",
                             "generate.pool.max_actors=4", "train.use_gpu=true", "train.num_workers=8",
                             "train.resources_per_worker={gpu_train: 1}", "ray.gpu_release_timeout_s=60"])
    assert cfg.generate.pool.resources == {"gpu_gen": 1} and cfg.generate.pool.max_actors == 4
    assert cfg.train.resources_per_worker == {"gpu_train": 1} and cfg.train.num_workers == 8
    assert cfg.ray.gpu_release_timeout_s == 60


# ----------------------------------------------------------------------------------------------
# model weights from object storage: copied once per node


def _fake_model(root) -> str:
    src = os.path.join(root, "remote", "tiny-model")
    os.makedirs(os.path.join(src, "sub"))
    for name, size in (("config.json", 10), ("model.safetensors", 300_000), ("sub/tokenizer.json", 2_000)):
        with open(os.path.join(src, name), "wb") as fh:
            fh.write(os.urandom(size))
    return src


def _copy_in_process(args):
    url, cache = args
    from sdrrl_ray.storage import ensure_local_copy

    return ensure_local_copy(url, cache)


def test_weights_copied_once_per_node(tmp_path):
    from sdrrl_ray.storage import COPY_MARKER as MARKER
    from sdrrl_ray.storage import local_model_path

    src = _fake_model(tmp_path)
    url, cache = f"file://{src}", str(tmp_path / "node-disk")
    with multiprocessing.get_context("spawn").Pool(4) as pool:  # four actors starting on one node
        results = pool.map(_copy_in_process, [(url, cache)] * 4)
    paths = {p for p, _ in results}
    assert len(paths) == 1 and sum(copied for _, copied in results) == 1
    (dest,) = paths
    for rel in ("config.json", "model.safetensors", "sub/tokenizer.json"):
        assert open(os.path.join(dest, rel), "rb").read() == open(os.path.join(src, rel), "rb").read()
    assert not [d for d in os.listdir(cache) if d.startswith(".partial-")]
    marker = json.load(open(os.path.join(dest, MARKER)))
    assert marker["url"] == url
    # a later call reuses the copy; a changed remote file is copied again
    assert local_model_path(url, cache) == dest
    assert _copy_in_process((url, cache))[1] is False
    with open(os.path.join(src, "config.json"), "wb") as fh:
        fh.write(b"{}")
    assert _copy_in_process((url, cache)) == (dest, True)
    assert open(os.path.join(dest, "config.json"), "rb").read() == b"{}"


def test_local_paths_and_bad_urls(tmp_path):
    from sdrrl_ray.errors import UserError
    from sdrrl_ray.storage import is_remote_url, local_model_path

    assert local_model_path("/models/llama") == "/models/llama"
    assert local_model_path("meta-llama/Llama-2-7b-hf") == "meta-llama/Llama-2-7b-hf"
    assert is_remote_url("s3://bucket/m") and is_remote_url("gs://bucket/m") and not is_remote_url("/m")
    with pytest.raises(UserError, match="does not exist"):
        local_model_path(f"file://{tmp_path}/missing", str(tmp_path / "c"))
    with pytest.raises(UserError, match="no filesystem"):
        local_model_path("nosuchproto://bucket/model", str(tmp_path / "c"))


def test_a_model_loads_from_a_copied_url(tmp_path, tiny_lm):
    """The copy is a loadable model folder (what the engines get when generate.model is a URL)."""
    from transformers import AutoConfig

    from sdrrl_ray.storage import local_model_path

    local = local_model_path(f"file://{tiny_lm}", str(tmp_path / "cache"))
    assert local != tiny_lm and AutoConfig.from_pretrained(local).model_type == "llama"
