"""Audio-to-motion model: front ends, transformer, chunked inference, animate, checkpoints."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from portraittalker.media.audio import Audio
from portraittalker.motion.checkpoint import (
    CheckpointError,
    HeadMismatchError,
    head_identity,
    load_motion_model,
    save_checkpoint,
)
from portraittalker.motion.features import (
    SAMPLES_PER_FRAME,
    FrontEndConfig,
    LogMel,
    SpeechEncoderMissingError,
    build_front_end,
    mel_filterbank,
    n_video_frames,
)
from portraittalker.motion.model import (
    AudioInputError,
    MotionModel,
    MotionModelConfig,
    TransformerBlock,
    VertexSubsetDeformer,
    alibi_bias,
    alibi_slopes,
    as_waveform,
    sample_blinks,
)
from portraittalker.motion.schema import EYE_BLINK_COLUMNS, MotionSchemaError

TINY = MotionModelConfig(front_end=FrontEndConfig(conv_channels=16), d_model=16, n_layers=1, n_heads=2, ff_mult=2,
                         dropout=0.0)


def tone(freq: float, seconds: float, rate: int = 16000) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_model(ict_head) -> MotionModel:
    torch.manual_seed(0)
    return MotionModel(TINY, head_identity(ict_head)).eval()


def test_mel_filterbank_peaks_in_order() -> None:
    fb = mel_filterbank(80, 512, 16000, 55.0, 7600.0)
    assert fb.shape == (80, 257)
    assert (fb >= 0).all() and (fb.sum(1) > 0).all()
    peaks = fb.argmax(1)
    assert (np.diff(peaks) >= 0).all()  # filters rise monotonically in frequency


def test_logmel_locates_a_tone_and_keeps_the_frame_clock() -> None:
    mel = LogMel(FrontEndConfig())
    wave = torch.from_numpy(np.concatenate([tone(1000, 0.5), tone(3000, 0.5)]))[None]
    out = mel(wave)
    assert out.shape == (1, 100, 80)  # 1 s at hop 160 = 100 frames, 4 per video frame
    low_bin, high_bin = out[0, 10:40].mean(0).argmax(), out[0, 60:90].mean(0).argmax()
    fb = mel_filterbank(80, 512, 16000, 55.0, 7600.0)
    assert abs(fb[low_bin].argmax() * 16000 / 512 - 1000) < 100
    assert abs(fb[high_bin].argmax() * 16000 / 512 - 3000) < 250


def test_mel_front_end_outputs_video_rate_features() -> None:
    front = build_front_end(FrontEndConfig(conv_channels=8), out_dim=12)
    n_samples = 37 * SAMPLES_PER_FRAME - 100  # last frame partial
    frames = n_video_frames(n_samples)
    assert frames == 37
    out = front(torch.randn(2, n_samples), frames)
    assert out.shape == (2, 37, 12)


def test_front_end_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="hop_length"):
        FrontEndConfig(hop_length=150)
    with pytest.raises(ValueError, match="pretrained_path"):
        FrontEndConfig(kind="wav2vec2")
    with pytest.raises(ValueError, match="divisible"):
        MotionModelConfig(d_model=30, n_heads=4)


@pytest.mark.parametrize("kind", ["wav2vec2", "hubert"])
def test_pretrained_front_end_from_local_tiny_checkpoint(tmp_path: Path, kind: str) -> None:
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model

    config_cls, model_cls = (Wav2Vec2Config, Wav2Vec2Model) if kind == "wav2vec2" else (HubertConfig, HubertModel)
    tiny = config_cls(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                      conv_dim=(16, 16, 16), conv_stride=(5, 4, 16), conv_kernel=(10, 8, 16),
                      num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2)
    torch.manual_seed(0)
    model_cls(tiny).save_pretrained(tmp_path / kind)
    config = FrontEndConfig(kind=kind, pretrained_path=str(tmp_path / kind), finetune_top_layers=1)
    front = build_front_end(config, out_dim=12)
    out = front(torch.randn(2, 16000), 25)  # 1 s -> 25 video frames (encoder runs at 50 Hz here)
    assert out.shape == (2, 25, 12) and torch.isfinite(out).all()
    encoder = front.encoder
    assert not any(p.requires_grad for p in encoder.feature_extractor.parameters())
    assert not any(p.requires_grad for p in encoder.encoder.layers[0].parameters())
    assert all(p.requires_grad for p in encoder.encoder.layers[1].parameters())
    front.train()  # frozen encoder stays in eval mode (no SpecAugment masking); the tuned layer trains
    assert not encoder.training and not encoder.encoder.layers[0].training and encoder.encoder.layers[1].training
    # The whole motion model works on top of it and round-trips through a checkpoint.
    model = MotionModel(TINY.model_copy(update={"front_end": config}), {"name": "h", "expression_names": ["a"],
                                                                       "fingerprint": "x"})
    assert model(torch.randn(1, 8000), 13).shape == (1, 13, len(model.columns))


def test_missing_pretrained_encoder_names_directory_and_source(tmp_path: Path) -> None:
    config = FrontEndConfig(kind="hubert", pretrained_path=str(tmp_path / "nowhere"))
    with pytest.raises(SpeechEncoderMissingError, match="nowhere") as info:
        build_front_end(config, 8)
    assert "facebook/wav2vec2-base-960h" in str(info.value) and "hubert-large-ls960-ft" in str(info.value)


def test_alibi_attention_ignores_padded_keys() -> None:
    torch.manual_seed(0)
    block = TransformerBlock(16, 2, 2, 0.0).eval()
    x = torch.randn(1, 30, 16)
    padded = torch.cat([x, torch.randn(1, 10, 16) * 100], dim=1)
    mask = torch.zeros(1, 40, dtype=torch.bool)
    mask[:, 30:] = True
    slopes = alibi_slopes(2)
    out = block(padded, alibi_bias(slopes, 40, mask))[:, :30]
    torch.testing.assert_close(out, block(x, alibi_bias(slopes, 30)), atol=1e-5, rtol=1e-5)


def test_model_runs_on_longer_input_than_trained(tiny_model: MotionModel) -> None:
    # No learned positions: any length works, and outputs stay finite.
    out = tiny_model(torch.randn(1, 400 * SAMPLES_PER_FRAME), 400)
    assert out.shape == (1, 400, len(tiny_model.columns)) and torch.isfinite(out).all()


class _FrameMeanModel(MotionModel):
    """Output = per-frame mean of the audio: chunking must reproduce it exactly."""

    def forward(self, wave, n_frames, style=None, frame_padding=None):  # type: ignore[override]
        frames = wave[:, : n_frames * SAMPLES_PER_FRAME].reshape(wave.shape[0], n_frames, -1).mean(-1)
        return frames[..., None].expand(-1, -1, len(self.columns))


def test_chunked_inference_cross_fades_exactly(ict_head) -> None:
    config = TINY.model_copy(update={"chunk_frames": 60, "chunk_overlap": 10})
    model = _FrameMeanModel(config, head_identity(ict_head))
    wave = np.random.default_rng(0).normal(size=237 * SAMPLES_PER_FRAME).astype(np.float32)
    expected = wave.reshape(237, -1).mean(-1)
    out = model.predict(wave)
    assert out.shape == (237, len(model.columns))
    np.testing.assert_allclose(out[:, 0], expected, atol=1e-5)


def test_chunked_inference_is_smooth_for_a_real_model(tiny_model: MotionModel) -> None:
    wave = tone(300, 12.0) * np.repeat(np.random.default_rng(1).random(300), 640).astype(np.float32)
    chunked = MotionModel(TINY.model_copy(update={"chunk_frames": 100, "chunk_overlap": 20}), tiny_model.head_identity)
    chunked.load_state_dict(tiny_model.state_dict())  # same weights, shorter attention windows
    full, pieces = tiny_model.predict(wave), chunked.predict(wave)
    assert pieces.shape == full.shape == (300, len(tiny_model.columns))
    # Cross-faded chunks stay close to whole-utterance inference and have no jumps at chunk seams.
    assert np.abs(pieces - full).mean() < 0.5 * np.abs(full - full.mean(0)).mean() + 1e-3
    jumps = np.abs(np.diff(pieces, axis=0)).max(1)
    assert jumps.max() <= 3 * np.abs(np.diff(full, axis=0)).max(1).max() + 1e-4


def test_animate_makes_a_motion_table_with_seeded_blinks(tiny_model: MotionModel, ict_head) -> None:
    wave = tone(220, 6.0)
    table = tiny_model.animate(wave, ict_head, seed=3)
    assert len(table) == n_video_frames(len(wave)) == 150
    assert table.head_model == ict_head.name
    blinks = table.frame_data[EYE_BLINK_COLUMNS].to_numpy()
    assert blinks.max() > 0.5 and blinks.min() >= 0
    same = tiny_model.animate(Audio(wave, 16000), ict_head, seed=3)
    np.testing.assert_array_equal(table.frame_data.to_numpy(), same.frame_data.to_numpy())
    other = tiny_model.for_head(ict_head).animate(wave, seed=4)
    assert not np.array_equal(other.frame_data[EYE_BLINK_COLUMNS].to_numpy(), blinks)


def test_expression_gain_scales_face_and_jaw_about_the_closed_face(tiny_model: MotionModel, ict_head) -> None:
    wave = tone(220, 2.0)
    plain = tiny_model.for_head(ict_head).animate(wave, seed=1).frame_data
    louder = tiny_model.for_head(ict_head, expression_gain=1.5).animate(wave, seed=1).frame_data
    face = [c for c in plain.columns if c.startswith(("jaw_", "exp_"))]
    rest = [c for c in plain.columns if c not in face]
    assert {"jaw_rot_x", "exp_mouthClose", "exp_browDown_L"} <= set(face)
    assert {"head_rot_x", "eye_blink_l"} <= set(rest)
    np.testing.assert_allclose(louder[face].to_numpy(), 1.5 * plain[face].to_numpy(), rtol=1e-6)
    np.testing.assert_array_equal(louder[rest].to_numpy(), plain[rest].to_numpy())
    with pytest.raises(ValueError, match="expression_gain"):
        tiny_model.for_head(ict_head, expression_gain=0.0)


def test_animate_refuses_another_head(tiny_model: MotionModel) -> None:
    flame_like = SimpleNamespace(name="flame", expression_names=[f"e{i}" for i in range(50)], n_expression=50)
    with pytest.raises(MotionSchemaError, match="flame"):
        tiny_model.animate(tone(200, 1.0), flame_like)  # type: ignore[arg-type]


def test_as_waveform_resamples_mixes_and_rejects() -> None:
    assert len(as_waveform(Audio(tone(200, 1.0, rate=8000), 8000))) == 16000
    stereo = np.stack([tone(200, 1.0), tone(200, 1.0)], axis=1)
    assert as_waveform(stereo).shape == (16000,)
    with pytest.raises(AudioInputError, match="NaN"):
        as_waveform(np.array([0.0, np.nan], dtype=np.float32))
    with pytest.raises(AudioInputError, match="non-empty"):
        as_waveform(np.zeros(0, dtype=np.float32))
    with pytest.raises(AudioInputError, match="sample_rate"):
        as_waveform(object())


def test_sample_blinks_shape_and_rate() -> None:
    blinks = sample_blinks(25 * 60, seed=0)
    assert blinks.shape == (1500, 2)
    onsets = np.flatnonzero((blinks[1:, 0] > 0.5) & (blinks[:-1, 0] <= 0.5))
    assert 8 <= len(onsets) <= 30  # a few blinks per minute to one every 2 s


def test_lip_subset_deformer_matches_full_deform(ict_head) -> None:
    torch.manual_seed(0)
    params = ict_head.neutral_params(4)
    params.expression = torch.rand(4, ict_head.n_expression)
    params.jaw = torch.rand(4, 3) * 0.2
    params.eye_blink = torch.rand(4, 2)
    params.identity = torch.randn(1, ict_head.n_identity)
    deformer = VertexSubsetDeformer(ict_head, ict_head.lip_vertices)
    assert deformer.fast
    expected = ict_head.deform(params)[:, ict_head.lip_vertices]
    torch.testing.assert_close(deformer(params), expected, atol=1e-6, rtol=1e-5)


def test_checkpoint_round_trip_and_weights_only(tmp_path: Path, tiny_model: MotionModel, ict_head) -> None:
    path = save_checkpoint(tmp_path / "m.pt", tiny_model)
    payload = torch.load(path, weights_only=True)  # no arbitrary pickles inside
    assert payload["head"]["name"] == ict_head.name
    loaded = load_motion_model(path, ict_head)
    wave = tone(180, 2.0)
    np.testing.assert_allclose(loaded.predict(wave), tiny_model.predict(wave), atol=1e-6)


def test_ensemble_checkpoint_round_trip(tmp_path: Path, tiny_model: MotionModel, ict_head) -> None:
    from portraittalker.motion.model import MotionEnsemble

    other = copy.deepcopy(tiny_model)
    with torch.no_grad():
        other.out.weight.add_(0.05)
    ensemble = MotionEnsemble.from_members([tiny_model, other])
    loaded = load_motion_model(save_checkpoint(tmp_path / "e.pt", ensemble), ict_head)
    assert isinstance(loaded, MotionEnsemble) and loaded.n_members == 2
    wave = tone(180, 2.0)
    mean = (tiny_model.predict(wave) + other.predict(wave)) / 2
    np.testing.assert_allclose(loaded.predict(wave), mean, atol=1e-5)


def test_packaged_checkpoint_stores_int8_weights_and_predicts_alike(tmp_path: Path, tiny_model: MotionModel,
                                                                    ict_head) -> None:
    from portraittalker.motion.checkpoint import write_packaged_checkpoint

    full = save_checkpoint(tmp_path / "full.pt", tiny_model)
    packed = write_packaged_checkpoint(full, tmp_path / "packed.pt")
    payload = torch.load(packed, weights_only=True)
    assert payload["int8_scales"] and all(payload["state_dict"][k].dtype == torch.int8 for k in payload["int8_scales"])
    assert packed.stat().st_size < full.stat().st_size
    wave = tone(180, 2.0)
    expected, got = tiny_model.predict(wave), load_motion_model(packed, ict_head).predict(wave)
    assert not np.array_equal(expected, got)  # really quantised ...
    np.testing.assert_allclose(got, expected, atol=0.02 * float(np.ptp(expected)))  # ... and still the same model


def test_checkpoint_for_another_head_is_refused(tmp_path: Path, tiny_model: MotionModel, ict_head) -> None:
    other = MotionModel(TINY, {**tiny_model.head_identity, "fingerprint": "0" * 64})
    path = save_checkpoint(tmp_path / "other.pt", other)
    with pytest.raises(HeadMismatchError, match="different version"):
        load_motion_model(path, ict_head)
    renamed = MotionModel(TINY, {**tiny_model.head_identity, "name": "flame"})
    with pytest.raises(HeadMismatchError, match="flame"):
        load_motion_model(save_checkpoint(tmp_path / "flame.pt", renamed), ict_head)


def test_bad_checkpoint_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        load_motion_model(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.pt"):
        load_motion_model(tmp_path / "junk.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="something-else"):
        load_motion_model(tmp_path / "other.pt")
