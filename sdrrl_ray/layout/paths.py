"""The paths under ``OUT`` (``out_dir``: a local folder or a URL such as ``s3://bucket/run``).

::

    OUT/transfer_set/part-<id>.parquet    kept rows (sdrrl transfer-set)
    OUT/rejects/part-<id>.parquet         reject rows, with reasons
    OUT/.commits/<id>                     commit marker of part <id> (written last; rows, bytes, sha256)
    OUT/.lock                             held by the run writing OUT (sdrrl_ray.layout.lock)
    OUT/config.yaml                       the resolved config of the last run
    OUT/logs/sdrrl.log                    the full library log of the runs into OUT (a local OUT only; the
                                          console keeps warnings, errors and progress)
    OUT/manifest.json  OUT/run.json       counts and provenance; the run's fingerprint
    OUT/README.md                         the transfer set's dataset card (sdrrl_ray/transfer/card.py); beside
                                          OUT/transfer_set, not in it: a folder read whole must hold Parquet only
    OUT/export/                           sdrrl export: LLaMA-Factory files and dataset_info.json
    OUT/generations/<key>/                saved source-language answers (or generate.cache_dir)
    OUT/translations/<key>/               saved sentence translations (or translate.cache_dir)
    OUT/model/ or OUT/model/<target>/     trained Hugging Face folders (sdrrl train)
    OUT/epochs/<target>/epoch-<k>/        the model after k epochs (train.export_every_epoch), Hugging Face
                                          folders; outputs: checkpoint retention never deletes them, a fresh
                                          (not resumed) training run of <target> replaces them. <target> is
                                          the training group: the target language, or "multi"
    OUT/train_log.jsonl  OUT/train_manifest.json  OUT/train_cache/  OUT/checkpoints/
    OUT/tensorboard/<run>/  OUT/wandb/  OUT/mlruns/   train.report_to trackers (MLflow: MLFLOW_TRACKING_URI
                                          overrides OUT/mlruns)
    OUT/predictions/  OUT/report.json  OUT/report.md  OUT/plots/   (sdrrl eval)
    OUT/predictions/epochs/               off-target predictions of each OUT/epochs/ export (sdrrl eval)

``sdrrl compare`` (OUT is the comparison)::

    OUT/compare.json                      arms, seeds, what each run did and reused
    OUT/arms/<arm>/seed-<seed>/           one run's OUT (transfer set, model, ...)
    OUT/shared/generations/  OUT/shared/translations/   answers and translations every arm reuses
    OUT/eval/                             the evaluation of the base and every (arm, seed) model
    OUT/report.json  OUT/report.md  OUT/plots/           the comparison: one row per arm (mean over seeds)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sdrrl_ray import storage

TRANSFER_SET = "transfer_set"
REJECTS = "rejects"
COMMITS = ".commits"
LOCK = ".lock"
PROBE = ".write-probe"
CONFIG = "config.yaml"
LOGS = "logs"
LOG_FILE = "sdrrl.log"  # OUT/logs/sdrrl.log
MANIFEST = "manifest.json"
RUN = "run.json"
CARD = "README.md"  # the transfer set's dataset card
EXPORT = "export"  # sdrrl export's default folder
GENERATIONS = "generations"
TRANSLATIONS = "translations"
MODEL = "model"
EPOCHS = "epochs"  # OUT/epochs/<target>/epoch-<k>/ and OUT/predictions/epochs/
EPOCH_PREFIX = "epoch-"
TRAIN_LOG = "train_log.jsonl"
TRAIN_MANIFEST = "train_manifest.json"
TRAIN_CACHE = "train_cache"
TENSORBOARD = "tensorboard"  # OUT/tensorboard/<run>/ (train.report_to)
WANDB = "wandb"  # W&B run folders (train.report_to)
MLRUNS = "mlruns"  # MLflow file store unless MLFLOW_TRACKING_URI is set
CHECKPOINTS = "checkpoints"
PREDICTIONS = "predictions"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
PLOTS = "plots"
TRAIN_SUMMARY = "train_summary.json"  # inside each model folder
COMPARE = "compare.json"
ARMS = "arms"
SHARED = "shared"
COMPARE_EVAL = "eval"


def epoch_folder(epoch: int) -> str:
    """The folder name of the export after ``epoch`` epochs (1 = after the first): ``epoch-<k>``."""
    return f"{EPOCH_PREFIX}{int(epoch)}"


def epoch_of(folder: str) -> Optional[int]:
    """The k of an ``epoch-<k>`` folder name (or path); None for any other name."""
    name = folder.rstrip("/").rsplit("/", 1)[-1]
    digits = name[len(EPOCH_PREFIX):]
    return int(digits) if name.startswith(EPOCH_PREFIX) and digits.isdigit() else None


@dataclass(frozen=True)
class Out:
    """Paths of one run's outputs: ``Out(cfg.out_dir).manifest`` and so on."""

    root: str

    def path(self, *parts: str) -> str:
        return storage.join(self.root.rstrip("/") or "/", *parts)

    @property
    def transfer_set(self) -> str:
        return self.path(TRANSFER_SET)

    @property
    def config(self) -> str:
        return self.path(CONFIG)

    @property
    def log_file(self) -> str:
        return self.path(LOGS, LOG_FILE)

    @property
    def manifest(self) -> str:
        return self.path(MANIFEST)

    @property
    def run(self) -> str:
        return self.path(RUN)

    @property
    def card(self) -> str:
        return self.path(CARD)

    @property
    def export(self) -> str:
        return self.path(EXPORT)

    @property
    def generations(self) -> str:
        return self.path(GENERATIONS)

    @property
    def translations(self) -> str:
        return self.path(TRANSLATIONS)

    @property
    def models(self) -> str:
        return self.path(MODEL)

    def model(self, name: str) -> str:
        return self.path(MODEL, name)

    @property
    def epoch_root(self) -> str:
        return self.path(EPOCHS)

    def epoch_models(self, name: str) -> str:
        """``OUT/epochs/<name>``: the per-epoch exports of training group ``name`` (a target, or "multi")."""
        return self.path(EPOCHS, name)

    def epoch_model(self, name: str, epoch: int) -> str:
        return self.path(EPOCHS, name, epoch_folder(epoch))

    @property
    def train_log(self) -> str:
        return self.path(TRAIN_LOG)

    @property
    def train_manifest(self) -> str:
        return self.path(TRAIN_MANIFEST)

    def train_cache(self, name: str) -> str:
        return self.path(TRAIN_CACHE, name)

    def tensorboard(self, run: str) -> str:
        return self.path(TENSORBOARD, run)

    @property
    def wandb(self) -> str:
        return self.path(WANDB)

    @property
    def mlruns(self) -> str:
        return self.path(MLRUNS)

    @property
    def checkpoints(self) -> str:
        return self.path(CHECKPOINTS)

    @property
    def predictions(self) -> str:
        return self.path(PREDICTIONS)

    @property
    def report_json(self) -> str:
        return self.path(REPORT_JSON)

    @property
    def report_md(self) -> str:
        return self.path(REPORT_MD)

    def plot(self, name: str) -> str:
        return self.path(PLOTS, name)

    # sdrrl compare: OUT is the comparison; each (arm, seed) is a run of its own under it
    @property
    def compare(self) -> str:
        return self.path(COMPARE)

    def arm_root(self, arm: str) -> str:
        return self.path(ARMS, arm)

    def arm(self, arm: str, seed: int) -> str:
        return storage.join(self.arm_root(arm), f"seed-{seed}")

    def shared(self, what: str) -> str:
        return self.path(SHARED, what)

    @property
    def compare_eval(self) -> str:
        return self.path(COMPARE_EVAL)
