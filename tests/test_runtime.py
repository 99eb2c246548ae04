"""Torch-free generation: the numpy rig, checkpoint reader, network ops, Whisper blocks and motion model agree with
their torch counterparts, and a `generate` process imports neither torch nor pandas."""

from __future__ import annotations

import pickle
import subprocess
import sys
import zipfile
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from portraittalker.head.ict import ICTFaceKit
from portraittalker.head.ict_rig import ICTRig
from portraittalker.head.params import HeadParams
from portraittalker.media.audio import load_audio
from portraittalker.motion import numpy_ops as ops
from portraittalker.motion.checkpoint import (
    DEFAULT_CHECKPOINT,
    head_fingerprint,
    head_identity,
    load_motion_model,
    model_from_payload,
    read_checkpoint,
    save_checkpoint,
    write_packaged_checkpoint,
)
from portraittalker.motion.checkpoint_file import CheckpointError, read_checkpoint_arrays
from portraittalker.motion.config import FrontEndConfig, MotionModelConfig
from portraittalker.motion.model import MotionEnsemble, MotionModel
from portraittalker.motion.runtime import NumpyMotionModel, load_numpy_lip_sync

REPO = Path(__file__).resolve().parents[1]
WHISPER_TINY = MotionModelConfig(
    front_end=FrontEndConfig(kind="whisper", conv_channels=8, encoder_dim=12, feature_dropout=0.0),
    d_model=16, n_layers=2, n_heads=4, ff_mult=2, dropout=0.0, chunk_frames=50, chunk_overlap=10,
)


@pytest.fixture(scope="module")
def rig() -> ICTRig:
    return ICTRig()


def random_params(rig: ICTRig, batch: int, seed: int = 0) -> HeadParams:
    rng = np.random.default_rng(seed)

    def normal(scale: float, *shape: int) -> np.ndarray:
        return rng.normal(0.0, scale, shape).astype(np.float32)

    return HeadParams(identity=normal(1.0, 1, rig.n_identity), expression=rng.uniform(0, 1, (batch, rig.n_expression))
                      .astype(np.float32), jaw=normal(0.1, batch, 3), head_rotation=normal(0.2, batch, 3),
                      head_translation=normal(0.01, batch, 3), eye_blink=rng.uniform(0, 1, (batch, 2))
                      .astype(np.float32), eye_gaze=normal(0.2, batch, 2))


def as_tensors(params: HeadParams) -> HeadParams:
    return HeadParams(**{f.name: torch.from_numpy(getattr(params, f.name).copy()) for f in fields(params)})


def test_the_numpy_rig_poses_the_head_as_the_torch_model_does(rig: ICTRig) -> None:
    head = ICTFaceKit(rig)
    params = random_params(rig, 4)
    vertices = rig(params)
    assert vertices.shape == (4, rig.n_vertices, 3) and vertices.dtype == np.float32
    np.testing.assert_allclose(vertices, head(as_tensors(params)).numpy(), atol=1e-6)
    # gaze rotates the eyeballs: without it they stay where the blendshapes put them
    still = random_params(rig, 4)
    still.eye_gaze[:] = 0
    eye = rig.eyeball_slices[0]
    assert np.abs(rig.deform(params)[:, eye] - rig.deform(still)[:, eye]).max() > 1e-4
    for name in ("faces", "uvs", "face_uvs", "lip_vertices", "render_faces", "pivot", "expression_basis"):
        assert np.array_equal(getattr(rig, name), getattr(head, name).numpy()), name
    assert head_fingerprint(rig) == head_fingerprint(head)


def test_numpy_ops_match_torch() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 3, (2, 5, 7)).astype(np.float32)
    np.testing.assert_allclose(ops.gelu(x), F.gelu(torch.from_numpy(x)).numpy(), atol=2e-6)
    weight, bias = rng.normal(size=7).astype(np.float32), rng.normal(size=7).astype(np.float32)
    np.testing.assert_allclose(ops.layer_norm(x, weight, bias),
                               F.layer_norm(torch.from_numpy(x), (7,), torch.from_numpy(weight),
                                            torch.from_numpy(bias)).numpy(), atol=1e-5)
    for stride, padding, kernel in ((1, 2, 5), (2, 1, 3), (1, 0, 1)):
        w = rng.normal(size=(4, 5, kernel)).astype(np.float32)
        b = rng.normal(size=4).astype(np.float32)
        expected = F.conv1d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=stride,
                            padding=padding).numpy()
        np.testing.assert_allclose(ops.conv1d(x, w, b, stride=stride, padding=padding), expected, atol=1e-4)
    q, k, v = (rng.normal(size=(2, 3, 6, 4)).astype(np.float32) for _ in range(3))
    bias = rng.normal(size=(1, 3, 6, 6)).astype(np.float32)
    expected = F.scaled_dot_product_attention(*(torch.from_numpy(t) for t in (q, k, v)),
                                              attn_mask=torch.from_numpy(bias)).numpy()
    np.testing.assert_allclose(ops.attention(q, k, v, bias), expected, atol=1e-5)


def test_the_checkpoint_reader_gives_what_torch_load_gives(tmp_path: Path) -> None:
    arrays = read_checkpoint_arrays(DEFAULT_CHECKPOINT)
    tensors = torch.load(DEFAULT_CHECKPOINT, weights_only=True)
    assert set(arrays) == set(tensors) and arrays["model_config"] == tensors["model_config"]
    for key, value in tensors["state_dict"].items():
        assert arrays["state_dict"][key].dtype == value.numpy().dtype
        assert np.array_equal(arrays["state_dict"][key], value.numpy()), key
    # a non-contiguous tensor (a transposed view) and a 0-d tensor survive too
    path = tmp_path / "views.pt"
    torch.save({"format": tensors["format"], "t": torch.arange(12.0).reshape(3, 4).T, "s": torch.tensor(3)}, path)
    views = read_checkpoint_arrays(path)
    assert np.array_equal(views["t"], np.arange(12.0, dtype=np.float32).reshape(3, 4).T) and views["s"] == 3


def test_the_checkpoint_reader_refuses_other_content(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        read_checkpoint_arrays(tmp_path / "none.pt")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a zip at all")
    with pytest.raises(CheckpointError, match=r"broken\.pt"):
        read_checkpoint_arrays(broken)
    hostile = tmp_path / "hostile.pt"  # a pickle that would run a command on load
    with zipfile.ZipFile(hostile, "w") as archive:
        archive.writestr("hostile/data.pkl", pickle.dumps(subprocess.Popen))
    with pytest.raises(CheckpointError, match=r"unsupported object subprocess\.Popen"):
        read_checkpoint_arrays(hostile)
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(CheckpointError, match="not a motion-model checkpoint"):
        read_checkpoint_arrays(other)


def test_the_numpy_model_predicts_what_the_torch_model_predicts(tmp_path: Path, ict_head) -> None:
    torch.manual_seed(0)
    members = [MotionModel(WHISPER_TINY, head_identity(ict_head)).eval() for _ in range(2)]
    for member in members:  # non-trivial norms and targets, so every parameter matters
        for parameter in member.parameters():
            parameter.data.normal_(0.0, 0.3)
        member.target_mean.normal_()
        member.target_std.uniform_(0.5, 2.0)
        member.target_mean.copy_(members[0].target_mean)
        member.target_std.copy_(members[0].target_std)
    ensemble = MotionEnsemble.from_members(members)
    features = np.random.default_rng(2).normal(size=(100, 12)).astype(np.float32)  # > chunk: cross-faded chunks
    ensemble.speech_features = lambda wave, n_frames, encoder=None: torch.from_numpy(features[:n_frames])
    expected = ensemble.predict(np.zeros(100 * 640, np.float32))
    float_path = save_checkpoint(tmp_path / "float.pt", ensemble)
    int8_path = write_packaged_checkpoint(float_path, tmp_path / "int8.pt")
    int8_torch = model_from_payload(read_checkpoint(int8_path))  # int8 weights: the torch model of the same file
    int8_torch.speech_features = ensemble.speech_features
    for path, reference in ((float_path, expected), (int8_path, int8_torch.predict(np.zeros(100 * 640, np.float32)))):
        model = NumpyMotionModel(read_checkpoint_arrays(path))
        assert model.n_members == 2 and model.columns == ensemble.columns
        np.testing.assert_allclose(model.predict_features(features, 100), reference, atol=1e-5)


def test_the_packaged_model_animates_real_speech_in_numpy_as_in_torch(rig: ICTRig, speech_wav: Path) -> None:
    head = ICTFaceKit(rig)
    wave = load_audio(speech_wav, sample_rate=16_000, max_duration_s=60).samples[: 16_000 * 6]
    numpy_sync = load_numpy_lip_sync(DEFAULT_CHECKPOINT, rig, expression_gain=1.3)
    frames = numpy_sync.animate(wave, seed=4)
    table = load_motion_model(DEFAULT_CHECKPOINT, head).for_head(head, expression_gain=1.3).animate(wave, seed=4)
    assert frames.columns == list(table.frame_data.columns[2:])
    np.testing.assert_allclose(frames.values, table.frame_data[frames.columns].to_numpy(np.float32), atol=1e-5)
    assert frames.column("jaw_rot_x").std() > 0.01  # speech moves the jaw


def test_the_numpy_whisper_blocks_match_the_torch_ones(speech_wav: Path) -> None:
    from portraittalker.motion.whisper import locate_encoder, whisper_log_mel
    from portraittalker.motion.whisper_layers import NumpyWhisperEncoder, TorchWhisperEncoder, read_ct2_encoder

    weights = read_ct2_encoder(locate_encoder(None).weights)
    wave = load_audio(speech_wav, sample_rate=16_000, max_duration_s=60).samples[: 16_000 * 3]
    mel = whisper_log_mel(wave, 80, 16_000 * 3)[None]
    expected = TorchWhisperEncoder(weights, (2, 3))(mel)
    states = NumpyWhisperEncoder(weights, (2, 3))(mel)
    assert states.shape == expected.shape == (1, 150, 768)
    np.testing.assert_allclose(states, expected, atol=1e-4 * np.abs(expected).max())


@pytest.mark.slow
def test_a_generate_process_imports_neither_torch_nor_pandas(one_second: Path, tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from portraittalker.config import load_params\n"
        "from portraittalker.pipeline import generate_video\n"
        "params = load_params(overrides={'render': {'image_size': 64}, 'designer': {'texture_size': 256}})\n"
        f"result = generate_video('a young woman with red hair', {str(one_second)!r}, {str(tmp_path / 'v.mp4')!r},"
        " params)\n"
        "print(result.n_frames, [m for m in ('torch', 'pandas') if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "25" and done.stdout.strip().endswith("[]"), done.stdout
