"""Motion-model training: data loading, determinism, resume, early stopping, checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from portraittalker.motion.checkpoint import load_motion_model
from portraittalker.motion.dataset import MotionDatasetError, load_motion_clips, make_toy_corpus
from portraittalker.motion.features import FrontEndConfig
from portraittalker.motion.model import MotionModelConfig, target_columns
from portraittalker.motion.train import (
    TrainConfig,
    TrainingResumeError,
    split_clips,
    train_motion_model,
    train_preset,
)

TINY_MODEL = MotionModelConfig(front_end=FrontEndConfig(conv_channels=16), d_model=16, n_layers=1, n_heads=2,
                               ff_mult=2, dropout=0.1, n_styles=3)


def tiny_config(**overrides) -> TrainConfig:
    values = {"model": TINY_MODEL, "max_epochs": 3, "steps_per_epoch": 2, "batch_size": 2, "window_frames": 25,
              "warmup_steps": 1, "device": "cpu", **overrides}
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory, ict_head) -> Path:
    return make_toy_corpus(tmp_path_factory.mktemp("toy"), ict_head, n_speakers=4, clips_per_speaker=2, seconds=3.0)


def test_toy_corpus_follows_the_dataset_contract(toy_dir: Path, ict_head) -> None:
    clips = pd.read_parquet(toy_dir / "clips.parquet")
    assert set(clips["split"]) == {"train", "val", "test"}
    assert (clips["status"] == "ok").all()
    for row in clips.itertuples():
        assert (toy_dir / row.audio_path).is_file()
    frames = pd.read_parquet(toy_dir / "frames.parquet")
    assert len(frames) == clips["n_frames"].sum()
    columns = target_columns(ict_head.expression_names, predict_gaze=False)
    truth = load_motion_clips([toy_dir], ict_head.name, ict_head.expression_names, columns, prefer_truth=True)
    fitted = load_motion_clips([toy_dir], ict_head.name, ict_head.expression_names, columns, prefer_truth=False)
    assert all(c.kind == "synthetic" for c in truth)
    assert not np.allclose(truth[0].targets, fitted[0].targets)  # frames.parquet holds noisy fits
    clip = truth[0]
    assert clip.wave.shape == (clip.n_frames * 640,)
    # The toy "speech" drives the jaw: loud frames open the mouth.
    loudness = np.sqrt((clip.wave.reshape(clip.n_frames, -1) ** 2).mean(1))
    jaw = clip.targets[:, columns.index("jaw_rot_x")]
    assert np.corrcoef(loudness, jaw)[0, 1] > 0.5


def test_dataset_errors_name_the_problem(tmp_path: Path, toy_dir: Path, ict_head) -> None:
    columns = target_columns(ict_head.expression_names, predict_gaze=False)
    with pytest.raises(MotionDatasetError, match=r"frames\.parquet"):
        (tmp_path / "empty").mkdir()
        pd.DataFrame({"clip_id": []}).to_parquet(tmp_path / "empty" / "clips.parquet")
        load_motion_clips([tmp_path / "empty"], ict_head.name, ict_head.expression_names, columns)
    with pytest.raises(MotionDatasetError, match="flame"):
        load_motion_clips([toy_dir], "flame", ict_head.expression_names, columns)


def test_unfitted_synthetic_corpus_trains_on_truth(tmp_path: Path, toy_dir: Path, ict_head) -> None:
    import shutil

    corpus = tmp_path / "synth"
    shutil.copytree(toy_dir, corpus)
    (corpus / "frames.parquet").unlink()  # synth-corpus output before prepare has fitted the videos
    columns = target_columns(ict_head.expression_names, predict_gaze=False)
    clips = load_motion_clips([corpus], ict_head.name, ict_head.expression_names, columns, prefer_truth=True)
    assert len(clips) == 8 and all(c.kind == "synthetic" for c in clips)
    with pytest.raises(MotionDatasetError, match=r"lacks frames\.parquet"):
        load_motion_clips([corpus], ict_head.name, ict_head.expression_names, columns, prefer_truth=False)


def test_split_clips_holds_out_speakers_without_val(toy_dir: Path, ict_head) -> None:
    columns = target_columns(ict_head.expression_names, predict_gaze=False)
    clips = load_motion_clips([toy_dir], ict_head.name, ict_head.expression_names, columns, splits=("train",))
    train, val = split_clips(clips, val_fraction=0.4)
    assert train and val
    assert not {c.speaker_id for c in train} & {c.speaker_id for c in val}


def test_training_writes_checkpoints_and_calls_back(tmp_path: Path, toy_dir: Path, ict_head) -> None:
    seen: list[tuple[int, dict]] = []
    result = train_motion_model([toy_dir], tmp_path / "run", tiny_config(), progress=False, head=ict_head,
                                on_epoch_end=lambda epoch, metrics: seen.append((epoch, metrics)))
    assert [e for e, _ in seen] == [0, 1, 2] and result.epochs_run == 3
    assert all(np.isfinite(m["val_lve_mm"]) and np.isfinite(m["train_loss"]) for _, m in seen)
    assert result.best_checkpoint.is_file() and result.last_checkpoint.is_file()
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epoch"] == result.best_epoch
    model = load_motion_model(result.best_checkpoint, ict_head)
    assert model.style_names[0] == "<average>" and len(model.style_names) == 3
    table = model.animate(np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32), ict_head)
    assert len(table) == 25


def test_training_is_deterministic_and_resumes_exactly(tmp_path: Path, toy_dir: Path, ict_head) -> None:
    config = tiny_config()
    straight = train_motion_model([toy_dir], tmp_path / "a", config, progress=False, head=ict_head)

    class InterruptError(Exception):
        pass

    def stop_after_first(epoch: int, metrics: dict) -> None:
        if epoch == 0:
            raise InterruptError

    with pytest.raises(InterruptError):
        train_motion_model([toy_dir], tmp_path / "b", config, progress=False, head=ict_head,
                           on_epoch_end=stop_after_first)
    resumed = train_motion_model([toy_dir], tmp_path / "b", config, progress=False, head=ict_head)
    assert resumed.resumed_from_epoch == 1 and resumed.epochs_run == 3
    a = torch.load(straight.last_checkpoint, weights_only=True)["state_dict"]
    b = torch.load(resumed.last_checkpoint, weights_only=True)["state_dict"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=0, rtol=0, msg=key)
    assert [h["val_total"] for h in straight.history] == [h["val_total"] for h in resumed.history]


def test_resume_with_another_config_is_refused(tmp_path: Path, toy_dir: Path, ict_head) -> None:
    train_motion_model([toy_dir], tmp_path, tiny_config(max_epochs=1), progress=False, head=ict_head)
    with pytest.raises(TrainingResumeError, match="different training configuration"):
        train_motion_model([toy_dir], tmp_path, tiny_config(max_epochs=1, seed=5), progress=False, head=ict_head)


def test_resume_on_re_prepared_data_is_refused(tmp_path: Path, toy_dir: Path, ict_head) -> None:
    """A finished run must not be 'resumed' (and republished unchanged) after the dataset was re-prepared."""
    import shutil

    import soundfile as sf

    data = tmp_path / "data"
    shutil.copytree(toy_dir, data)
    train_motion_model([data], tmp_path / "run", tiny_config(max_epochs=1), progress=False, head=ict_head)
    again = train_motion_model([data], tmp_path / "run", tiny_config(max_epochs=1), progress=False, head=ict_head)
    assert again.epochs_run == 1  # same data: the finished run is reused
    clips = pd.read_parquet(data / "clips.parquet")
    audio = data / clips[clips["split"] == "train"].iloc[0]["audio_path"]
    wave, rate = sf.read(audio, dtype="float32")
    sf.write(audio, np.roll(wave, 2 * rate // 25), rate)  # the A/V check shifted it by 2 frames
    with pytest.raises(TrainingResumeError, match="different training data"):
        train_motion_model([data], tmp_path / "run", tiny_config(max_epochs=1), progress=False, head=ict_head)


def test_early_stopping(tmp_path: Path, toy_dir: Path, ict_head) -> None:
    # With an unreachable improvement threshold every epoch after the first counts as no improvement.
    result = train_motion_model([toy_dir], tmp_path, tiny_config(max_epochs=6, patience=2, min_delta=1e9),
                                progress=False, head=ict_head)
    assert result.stopped_early and result.epochs_run == 3 and result.best_epoch == 0
    again = train_motion_model([toy_dir], tmp_path, tiny_config(max_epochs=6, patience=2, min_delta=1e9),
                               progress=False, head=ict_head)
    assert again.epochs_run == 3  # a finished run is not continued


def test_ensemble_trains_seeded_members_and_predicts_their_mean(tmp_path: Path, toy_dir: Path, ict_head) -> None:
    from portraittalker.motion.checkpoint import model_from_payload, read_checkpoint
    from portraittalker.motion.model import MotionEnsemble

    config = tiny_config(max_epochs=2, ensemble_members=2, seed=3)
    result = train_motion_model([toy_dir], tmp_path, config, progress=False, head=ict_head)
    ensemble = load_motion_model(result.best_checkpoint, ict_head)
    assert isinstance(ensemble, MotionEnsemble) and ensemble.n_members == 2
    assert result.epochs_run == 4 and set(result.best_metrics) >= {"val_mouth_corr", "val_lve_mm"}
    members = [model_from_payload(read_checkpoint(tmp_path / f"member{i}" / "best.pt")) for i in range(2)]
    # Member i is the single run with seed + i, so an ensemble is reproducible member by member.
    single = train_motion_model([toy_dir], tmp_path / "single", tiny_config(max_epochs=2, seed=4), progress=False,
                                head=ict_head)
    for key, value in read_checkpoint(single.best_checkpoint)["state_dict"].items():
        torch.testing.assert_close(members[1].state_dict()[key], value, atol=0, rtol=0, msg=key)
    wave = np.random.default_rng(1).normal(0, 0.1, 24000).astype(np.float32)
    mean = np.mean([m.predict(wave) for m in members], axis=0)
    assert not np.allclose(members[0].predict(wave), members[1].predict(wave), atol=1e-4)
    np.testing.assert_allclose(ensemble.predict(wave), mean, rtol=1e-5, atol=1e-5)
    again = train_motion_model([toy_dir], tmp_path, config, progress=False, head=ict_head)  # members resume: no work
    assert again.epochs_run == 4 and again.best_metrics == result.best_metrics


def test_ensemble_members_must_share_normalisation(ict_head) -> None:
    from portraittalker.motion.checkpoint import head_identity
    from portraittalker.motion.model import MotionEnsemble, MotionModel

    columns = target_columns(ict_head.expression_names, predict_gaze=False)
    a = MotionModel(TINY_MODEL, head_identity(ict_head), torch.zeros(len(columns)), torch.ones(len(columns)))
    b = MotionModel(TINY_MODEL, head_identity(ict_head), torch.full((len(columns),), 0.5), torch.ones(len(columns)))
    with pytest.raises(ValueError, match="normalisation"):
        MotionEnsemble.from_members([a, b])


def test_presets() -> None:
    small, gpu = train_preset("cpu-small"), train_preset("gpu")
    assert small.model.d_model < gpu.model.d_model
    assert TrainConfig.model_validate(small.model_dump(mode="json")) == small  # params.yaml round trip
    with pytest.raises(ValueError, match="cpu-small"):
        train_preset("huge")


@pytest.mark.slow
def test_cpu_small_learns_lip_motion_from_audio(tmp_path: Path, ict_head) -> None:
    """A shortened cpu-small run must beat a static mouth on held-out speakers of the toy corpus."""
    from eval.motion_metrics import evaluate_generators

    data = make_toy_corpus(tmp_path / "toy", ict_head, n_speakers=5, clips_per_speaker=3, seconds=5.0, seed=1)
    config = train_preset("cpu-small").model_copy(update={"max_epochs": 5, "steps_per_epoch": 15, "ensemble_members": 1,
                                                          "feature_cache_dir": str(tmp_path / "features")})
    result = train_motion_model([data], tmp_path / "run", config, progress=False, head=ict_head)
    model = load_motion_model(result.best_checkpoint, ict_head)
    assert model.config.front_end.kind == "whisper"
    assert model.config.front_end.encoder_id.startswith("whisper-tiny.en@")

    def static(wave: np.ndarray):
        from portraittalker.motion.schema import MotionTable

        return MotionTable.zeros(-(-len(wave) // 640), ict_head)

    table = evaluate_generators([data], {"model": model.for_head(ict_head).animate, "static": static}, ict_head)
    by_method = table.groupby("method")[["lve_mm", "mouth_open_corr"]].mean()
    assert by_method.loc["model", "mouth_open_corr"] > 0.6
    assert by_method.loc["model", "lve_mm"] < 0.7 * by_method.loc["static", "lve_mm"]
