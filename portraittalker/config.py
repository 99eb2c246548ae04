"""``params.yaml`` — the one configuration source, read by DVC and typed here on load.

Each component owns its config model (threestudio-style) in a light ``config`` module (pydantic and stdlib
only); this module only composes them, so loading params imports neither torch, cv2 nor ``eval``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from portraittalker.appearance.config import AppearanceConfig
from portraittalker.assets import REPO_ROOT
from portraittalker.avatar.config import DesignerConfig
from portraittalker.data.config import PrepareConfig, SynthCorpusConfig
from portraittalker.errors import PortraitTalkerError
from portraittalker.head.config import FLAMEConfig
from portraittalker.media.config import AudioConfig
from portraittalker.metrics_config import EvalConfig
from portraittalker.motion.config import BaselineLipSyncConfig, TrainConfig, train_preset
from portraittalker.render.config import DiffRendererConfig, GLRendererConfig
from portraittalker.speech.config import SpeechConfig

DEFAULT_PARAMS_PATH = REPO_ROOT / "params.yaml"


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class ConfigError(PortraitTalkerError, ValueError):
    """``params.yaml`` is missing or does not match the expected schema."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HeadConfig(Section):
    model: Literal["ict-facekit", "flame"] = "ict-facekit"
    path: str | None = None  # ICT npz override; FLAME reads head.flame.path
    flame: FLAMEConfig = FLAMEConfig()


class CameraConfig(Section):
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    distance_m: float = 1.0
    fov_deg: float = 20.0
    projection: Literal["perspective", "orthographic"] = "perspective"
    target: tuple[float, float, float] = (0.0, 0.0, 0.02)


class RenderConfig(Section):
    image_size: int = Field(512, ge=64, le=2048)
    camera: CameraConfig = CameraConfig()
    gl: GLRendererConfig = GLRendererConfig()
    diff: DiffRendererConfig = DiffRendererConfig()


class MotionConfig(Section):
    generator: Literal["baseline", "model"] = "baseline"
    checkpoint: str | None = None
    # Whisper encoder folder for learned models with a whisper front end (None: the packaged tiny.en, or
    # what the checkpoint was trained with); its weights must be the ones the checkpoint records.
    encoder_path: str | None = None
    # Learned model: scale of the expression and jaw columns about the closed neutral face (1 = as predicted).
    expression_gain: float = Field(1.0, gt=0, le=3)
    baseline: BaselineLipSyncConfig = BaselineLipSyncConfig()


class VideoConfig(Section):
    fps: int = 25
    crf: int = Field(18, ge=0, le=51)
    preset: str = "veryfast"


class DaskConfig(Section):
    """``generate.task_runner: dask``: an existing cluster at ``address``, else a LocalCluster started per run."""

    address: str | None = None  # e.g. tcp://10.0.0.5:8786 (a `dask scheduler` with `dask worker`s on GPU nodes)
    n_workers: int = Field(2, ge=1)  # LocalCluster worker processes (one job at a time each)
    threads_per_worker: int = Field(1, ge=1)


class GenerateConfig(Section):
    manifest: str = "examples/demo_manifest.csv"
    out_dir: str = "outputs/generate"
    max_parallel_jobs: int = Field(1, ge=1)
    task_runner: Literal["threads", "dask"] = "threads"
    dask: DaskConfig = DaskConfig()


class MlflowConfig(Section):
    experiment: str = "portraittalker"
    tracking_uri: str = "sqlite:///mlflow.db"  # MLFLOW_TRACKING_URI overrides
    log_videos: bool = True


class PrepareInput(Section):
    source: Literal["folder", "synthetic", "hdtf", "manifest"]
    # a folder of videos | a synthetic corpus | an `hdtf cut` output folder | a folder with manifest.csv
    # (file, speaker, language; see portraittalker/data/inputs.py)
    path: str
    language: str = ""  # for clips without one (manifest rows with an empty language, folder clips)


class PrepareSection(PrepareConfig):
    """``prepare``: the stage settings plus which inputs go into the dataset and where it is written."""

    model_config = ConfigDict(extra="forbid")
    inputs: list[PrepareInput] = Field(default_factory=lambda: [
        PrepareInput(source="synthetic", path="data/synth"),
        PrepareInput(source="folder", path="../shared/data/real_clips", language="en"),
    ])
    out_dir: str = "data/prepared"

    def stage_config(self) -> PrepareConfig:
        """The stage settings alone: which inputs are listed must not invalidate every clip's cache."""
        return PrepareConfig.model_validate(self.model_dump(include=set(PrepareConfig.model_fields)))


class SynthSection(SynthCorpusConfig):
    """``synth``: the corpus settings plus its size, languages and location."""

    model_config = ConfigDict(extra="forbid")
    out_dir: str = "data/synth"
    languages: list[str] = Field(default_factory=lambda: ["en", "ko", "cmn", "ja"])
    clips_per_language: int = Field(6, ge=1)
    image_size: int = Field(512, ge=64)
    seed: int = 0


class TrainSection(Section):
    """``train``: a preset from portraittalker/motion/config.py plus overrides deep-merged onto it."""

    preset: Literal["cpu-small", "gpu"] = "cpu-small"
    overrides: dict[str, Any] = Field(default_factory=dict)  # e.g. {max_epochs: 10, model: {d_model: 64}}
    data_dirs: list[str] = Field(default_factory=lambda: ["data/synth", "data/prepared"])
    out_dir: str = "models/motion"
    publish_to: str = "portraittalker/motion/default.pt"  # the checkpoint `generate --motion model` uses
    registered_model: str = "portraittalker-motion"

    def resolved(self) -> TrainConfig:
        return TrainConfig.model_validate(_deep_merge(train_preset(self.preset).model_dump(), self.overrides))

    @model_validator(mode="after")
    def _overrides_are_valid(self) -> TrainSection:
        self.resolved()  # a bad override fails at load time, naming the field
        return self


class HeldoutSection(Section):
    """Lip sync on the real held-out speakers of a prepared dataset (eval/heldout.py), part of `make eval-report`."""

    enabled: bool = True
    dataset: str = "data/prepared"  # its real clips of `split`; skipped with a note when the dataset is absent
    split: Literal["train", "val", "test"] = "test"
    image_size: int = Field(512, ge=64, le=1024)  # generate's default size: what a user's video is tracked at
    max_clips: int | None = Field(None, ge=1)
    speech_dir: str | None = "../shared/data/speech"  # real en/ja/zh speech for the per-language mouth statistics


class EvaluateSection(Section):
    manifest: str = "examples/eval_manifest.csv"  # speech of real clips: their videos are the references
    generate_dir: str = "outputs/eval/videos"
    out_dir: str = "outputs/eval/report"
    reference: str | None = "../shared/data/real_clips"
    novel_views: bool = True
    # metric key in metrics.json -> {"min": x} and/or {"max": y}; checked by `make eval-report`
    thresholds: dict[str, dict[str, float]] = Field(default_factory=dict)
    thresholds_missing_ok: bool = False
    metrics: EvalConfig = EvalConfig()
    heldout: HeldoutSection = HeldoutSection()


class Params(Section):
    seed: int = 0
    head: HeadConfig = HeadConfig()
    audio: AudioConfig = AudioConfig()
    render: RenderConfig = RenderConfig()
    video: VideoConfig = VideoConfig()
    motion: MotionConfig = MotionConfig()
    designer: DesignerConfig = DesignerConfig()
    speech: SpeechConfig = SpeechConfig()
    synth: SynthSection = SynthSection()
    prepare: PrepareSection = PrepareSection()
    train: TrainSection = TrainSection()
    generate: GenerateConfig = GenerateConfig()
    mlflow: MlflowConfig = MlflowConfig()
    evaluate: EvaluateSection = EvaluateSection()
    appearance: AppearanceConfig = AppearanceConfig()
    # Stages added by later issues keep their own sections; unknown top-level keys are an error.
    model_config = ConfigDict(extra="forbid")


def load_params(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Params:
    """Read and validate ``params.yaml`` (default: the repository's); ``overrides`` are deep-merged on top."""
    path = Path(path) if path is not None else DEFAULT_PARAMS_PATH
    raw: dict[str, Any] = {}
    if path.is_file():
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path} is not valid YAML: {error}") from error
    elif path != DEFAULT_PARAMS_PATH:
        raise ConfigError(f"params file not found: {path}")
    if overrides:
        raw = _deep_merge(raw, overrides)
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{path}: {error}") from error


@cache
def default_params() -> Params:
    return load_params()
