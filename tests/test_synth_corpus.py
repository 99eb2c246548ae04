"""End-to-end synthetic corpus at a tiny size: files, tables, A/V durations, resume and determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile
import torch

from portraittalker.data.config import SynthCorpusConfig
from portraittalker.data.synth.corpus import make_synthetic_corpus
from portraittalker.data.synth.writer import CORPUS_FILE, PHONEMES_FILE
from portraittalker.data.tables import CLIP_COLUMNS, CLIPS_FILE, DATASET_METADATA_KEY, TRUTH_FILE
from portraittalker.media.video import probe_video, read_frames
from portraittalker.motion.schema import motion_columns
from portraittalker.render.gl import GLRendererConfig
from portraittalker.speech.espeak import UnknownLanguageError

SIZE = 128


def _config() -> SynthCorpusConfig:
    return SynthCorpusConfig(
        sentences={"en": ["Hello, papa."], "ko": ["안녕하세요."]},
        lead_silence_s=0.1,
        tail_silence_s=0.1,
        renderer=GLRendererConfig(msaa_samples=0),
        clips_per_speaker=1,
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, ict_head):
    out = tmp_path_factory.mktemp("synth") / "corpus"
    result = make_synthetic_corpus(out, ["en", "ko"], 1, seed=5, image_size=SIZE, config=_config(), progress=False,
                                   head=ict_head)
    return out, result


def test_corpus_files_and_tables(corpus, ict_head) -> None:
    out, result = corpus
    assert (result.n_clips, result.n_rendered, result.n_failed) == (2, 2, 0)
    clips = pd.read_parquet(out / CLIPS_FILE)
    assert list(clips.columns) == CLIP_COLUMNS
    assert set(clips["status"]) == {"ok"} and set(clips["source"]) == {"synthetic"}
    assert sorted(clips["language"]) == ["en", "ko"]
    meta = json.loads(pq.read_schema(out / CLIPS_FILE).metadata[DATASET_METADATA_KEY])
    assert meta["head_model"] == ict_head.name and meta["image_size"] == SIZE and meta["fps"] == 25

    truth = pd.read_parquet(out / TRUTH_FILE)
    assert list(truth.columns) == ["clip_id", *motion_columns(ict_head.expression_names)]
    for clip in clips.itertuples():
        video = probe_video(out / clip.video_path)
        samples, rate = soundfile.read(out / clip.audio_path, dtype="float32")
        assert rate == 16000 and samples.ndim == 1
        assert len(samples) == clip.n_frames * 640  # exactly whole frames
        assert (video.width, video.height, video.fps) == (SIZE, SIZE, 25.0)
        assert video.n_frames == clip.n_frames
        assert video.duration_s == pytest.approx(len(samples) / rate, abs=0.02)
        assert video.audio_duration_s == pytest.approx(len(samples) / rate, abs=0.03)
        rows = truth[truth["clip_id"] == clip.clip_id]
        assert len(rows) == clip.n_frames
        assert np.array_equal(rows["frame"], np.arange(clip.n_frames))

    manifest = pd.read_parquet(out / CORPUS_FILE)
    assert {"text", "voice", "prompt", "identity", "camera"} <= set(manifest.columns)
    assert len(manifest.iloc[0]["identity"]) == ict_head.n_identity
    phonemes = pd.read_parquet(out / PHONEMES_FILE)
    for _, group in phonemes.groupby("clip_id"):
        assert np.all(np.diff(group["start_s"]) >= 0)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-9))


def test_video_frames_show_the_ground_truth_motion(corpus, ict_head) -> None:
    """Re-render the truth of a few frames with the recorded avatar: the MP4 frame k matches truth
    frame k (H.264 loss only), and matches it better than the truth of neighbouring frames, so the
    video and truth.parquet are frame-exactly aligned. The chosen frames are an open vowel and a /p/."""
    from portraittalker.avatar.designer import AttributeDesigner
    from portraittalker.motion.schema import MotionTable
    from portraittalker.render.gl import GLRenderer
    from portraittalker.render.scene import Camera

    out, _ = corpus
    clip_id = "synth_en_0000"
    manifest = pd.read_parquet(out / CORPUS_FILE).set_index("clip_id").loc[clip_id]
    truth = pd.read_parquet(out / TRUTH_FILE)
    rows = truth[truth["clip_id"] == clip_id].drop(columns="clip_id").reset_index(drop=True)
    motion = MotionTable(rows, ict_head.name, list(ict_head.expression_names))
    open_frame = int(rows["jaw_rot_x"].idxmax())
    closed_frame = int(rows["exp_mouthClose"].idxmax())
    assert rows.loc[open_frame, "jaw_rot_x"] > 0.12  # "papa": /a/ opens the jaw
    assert rows.loc[closed_frame, "exp_mouthClose"] > 0.2  # /p/ seals the lips against the open jaw

    avatar = AttributeDesigner(ict_head).design(manifest["prompt"], seed=int(manifest["avatar_seed"]))
    np.testing.assert_allclose(avatar.identity, np.asarray(manifest["identity"]), atol=1e-6)
    camera = Camera(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(manifest["camera"]).items()})
    with GLRenderer(ict_head, SIZE, GLRendererConfig(msaa_samples=0)) as renderer:
        renderer.set_appearance(avatar.material, avatar.lighting, avatar.background)
        with torch.no_grad():
            vertices = ict_head(motion.to_head_params(ict_head, torch.from_numpy(avatar.identity))).numpy()
        video = list(read_frames(out / "clips" / f"{clip_id}.mp4"))
        for k in (open_frame, closed_frame):
            # Frame k of the video must match the truth of frame k better than any neighbour's truth.
            psnr = {j: _psnr(video[k], renderer.render(vertices[j], camera))
                    for j in range(k - 3, k + 4) if 0 <= j < len(video)}
            assert psnr[k] > 30.0, (k, psnr)
            assert max(psnr, key=psnr.get) == k, (k, psnr)


def test_resume_skips_and_rebuild_is_deterministic(corpus, tmp_path: Path, ict_head) -> None:
    out, _ = corpus
    video = out / "clips" / "synth_en_0000.mp4"
    stamp = video.stat().st_mtime_ns
    again = make_synthetic_corpus(out, ["en", "ko"], 1, seed=5, image_size=SIZE, config=_config(), progress=False,
                                  head=ict_head)
    assert (again.n_rendered, again.n_skipped) == (0, 2)
    assert video.stat().st_mtime_ns == stamp

    fresh = tmp_path / "again"
    make_synthetic_corpus(fresh, ["en"], 1, seed=5, image_size=SIZE, config=_config(), progress=False,
                          head=ict_head)
    first = pd.read_parquet(out / TRUTH_FILE)
    second = pd.read_parquet(fresh / TRUTH_FILE)
    pd.testing.assert_frame_equal(first[first["clip_id"] == "synth_en_0000"].reset_index(drop=True), second)
    a, _ = soundfile.read(out / "audio" / "synth_en_0000.wav")
    b, _ = soundfile.read(fresh / "audio" / "synth_en_0000.wav")
    assert np.array_equal(a, b)


def test_unknown_language_fails_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(UnknownLanguageError, match="installed languages"):
        make_synthetic_corpus(tmp_path / "x", ["en", "tlh"], 1, seed=0, image_size=SIZE, progress=False)
    assert not (tmp_path / "x").exists()
