"""Audio front ends of the motion model: speech (16 kHz mono) -> features at the video frame rate.

Two kinds, chosen by :class:`FrontEndConfig.kind`:

- ``logmel`` (default, needs nothing but torch): an 80-bin log-mel spectrogram with a hop that is an
  integer fraction of a video frame (hop 160 = 100 Hz = 4 per 25 fps frame), followed by a strided
  convolution stack that subsamples exactly to 25 fps. Trained from scratch.
- ``whisper`` (the packaged default): frozen Whisper encoder features at 25 fps
  (:mod:`portraittalker.motion.whisper`), computed outside the graph (and cached for training), followed
  by a small trainable convolutional adapter (±2 frames of context) to the model width.
- ``wav2vec2`` / ``hubert``: a pretrained speech encoder loaded with ``transformers`` from a **local**
  checkpoint directory (no downloads), the convolutional feature extractor frozen, optionally the top
  N transformer layers fine-tuned; its ~50 Hz features are linearly interpolated to 25 fps.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from portraittalker.errors import PortraitTalkerError
from portraittalker.motion.config import PRETRAINED_KINDS, SAMPLE_RATE, SAMPLES_PER_FRAME, WEIGHTS_HINT, FrontEndConfig
from portraittalker.motion.speech_input import n_video_frames, resample_to_model_rate  # noqa: F401  (re-exported)


class SpeechEncoderMissingError(PortraitTalkerError, FileNotFoundError):
    """The local pretrained speech-encoder directory is absent or incomplete."""


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float, f_max: float) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular HTK-mel filters, each normalised to unit area (Slaney-style)."""
    bins_hz = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bins_hz[None] - lower) / (centre - lower)
    falling = (upper - bins_hz[None]) / (upper - centre)
    filters = np.clip(np.minimum(rising, falling), 0.0, None)
    filters *= (2.0 / (upper - lower))  # equal energy per filter regardless of its width
    return filters.astype(np.float32)


class LogMel(nn.Module):
    """(B, S) waveform -> (B, S // hop, n_mels) log-mel; frame i covers samples [i*hop, (i+1)*hop) centred."""

    def __init__(self, config: FrontEndConfig) -> None:
        super().__init__()
        self.config = config
        fb = mel_filterbank(config.n_mels, config.n_fft, SAMPLE_RATE, config.f_min, config.f_max)
        self.register_buffer("filters", torch.from_numpy(fb), persistent=False)
        self.register_buffer("window", torch.hann_window(config.win_length), persistent=False)

    def forward(self, wave: Tensor) -> Tensor:
        cfg = self.config
        n_hops = wave.shape[-1] // cfg.hop_length
        # Shift by half a hop so STFT frame i is centred on the middle of hop i, not its start.
        padded = F.pad(wave, (cfg.hop_length // 2, 0))
        spec = torch.stft(
            padded.float(), cfg.n_fft, cfg.hop_length, cfg.win_length, self.window, center=True,
            pad_mode="constant", return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()  # (B, F, frames)
        mel = torch.matmul(self.filters, power)[..., :n_hops]
        return torch.log(mel + 1e-6).transpose(1, 2)


class MelFrontEnd(nn.Module):
    """Log-mel + per-utterance normalisation + strided 1-D convolutions down to 25 fps -> (B, T, out_dim)."""

    def __init__(self, config: FrontEndConfig, out_dim: int) -> None:
        super().__init__()
        self.logmel = LogMel(config)
        self.norm_dims = (1, 2) if config.normalise == "utterance" else (1,)
        self.hops_per_frame = SAMPLES_PER_FRAME // config.hop_length
        layers: list[nn.Module] = []
        channels = config.n_mels
        for _ in range(int(math.log2(self.hops_per_frame))):
            layers += [nn.Conv1d(channels, config.conv_channels, 5, stride=2, padding=2), nn.GELU()]
            channels = config.conv_channels
        layers.append(nn.Conv1d(channels, out_dim, 3, padding=1))
        self.convs = nn.Sequential(*layers)

    def forward(self, wave: Tensor, n_frames: int) -> Tensor:
        wave = _pad_to(wave, n_frames * SAMPLES_PER_FRAME)
        mel = self.logmel(wave)  # (B, 4T, n_mels)
        # Per-utterance mean/variance normalisation makes the model insensitive to gain (and, per bin, channel).
        mel = (mel - mel.mean(dim=self.norm_dims, keepdim=True)) / (mel.std(dim=self.norm_dims, keepdim=True) + 1e-5)
        return self.convs(mel.transpose(1, 2)).transpose(1, 2)[:, :n_frames]


def load_speech_encoder(path: str | Path, kind: str) -> nn.Module:
    """A ``transformers`` wav2vec2/HuBERT model from a local ``save_pretrained`` directory, never downloaded."""
    directory = Path(path).expanduser()
    if not (directory / "config.json").is_file():
        raise SpeechEncoderMissingError(
            f"{kind} speech encoder not found: {directory} has no config.json; {WEIGHTS_HINT}"
        )
    from transformers import AutoConfig, AutoModel

    encoder_config = AutoConfig.from_pretrained(directory, local_files_only=True)
    if encoder_config.model_type not in PRETRAINED_KINDS:
        raise SpeechEncoderMissingError(
            f"{directory} holds a {encoder_config.model_type!r} model, not wav2vec2/hubert; {WEIGHTS_HINT}"
        )
    try:
        return AutoModel.from_pretrained(directory, local_files_only=True)
    except OSError as error:
        raise SpeechEncoderMissingError(
            f"cannot load {kind} weights from {directory}: {error}; {WEIGHTS_HINT}"
        ) from error


class PretrainedFrontEnd(nn.Module):
    """Frozen wav2vec2/HuBERT (top layers optionally trainable), interpolated to 25 fps, projected to out_dim."""

    def __init__(self, config: FrontEndConfig, out_dim: int) -> None:
        super().__init__()
        assert config.pretrained_path is not None  # guaranteed by FrontEndConfig validation
        self.encoder = load_speech_encoder(config.pretrained_path, config.kind)
        self.encoder.requires_grad_(False)
        layers = self.encoder.encoder.layers
        self.tuned_layers = list(layers[len(layers) - min(config.finetune_top_layers, len(layers)):])
        for layer in self.tuned_layers:
            layer.requires_grad_(True)
        self.proj = nn.Linear(self.encoder.config.hidden_size, out_dim)

    def train(self, mode: bool = True) -> PretrainedFrontEnd:
        super().train(mode)
        # The encoder stays in eval mode (no SpecAugment masking, no dropout in frozen layers);
        # only the fine-tuned top layers follow the training mode.
        self.encoder.eval()
        for layer in self.tuned_layers:
            layer.train(mode)
        return self

    def forward(self, wave: Tensor, n_frames: int) -> Tensor:
        wave = _pad_to(wave, n_frames * SAMPLES_PER_FRAME)
        # These encoders expect zero-mean unit-variance input (Wav2Vec2FeatureExtractor's do_normalize).
        wave = (wave - wave.mean(-1, keepdim=True)) / (wave.std(-1, keepdim=True) + 1e-7)
        hidden = self.encoder(wave).last_hidden_state  # (B, ~50 Hz, H)
        hidden = F.interpolate(hidden.transpose(1, 2), size=n_frames, mode="linear", align_corners=False)
        return self.proj(hidden.transpose(1, 2))


class FeatureFrontEnd(nn.Module):
    """(B, T, encoder_dim) precomputed 25 fps encoder features -> (B, T, out_dim): norm, two convolutions."""

    def __init__(self, config: FrontEndConfig, out_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(config.encoder_dim)
        self.dropout = nn.Dropout(config.feature_dropout)
        self.convs = nn.Sequential(
            nn.Conv1d(config.encoder_dim, config.conv_channels, 5, padding=2), nn.GELU(),
            nn.Conv1d(config.conv_channels, out_dim, 3, padding=1),
        )

    def forward(self, features: Tensor, n_frames: int) -> Tensor:
        features = _pad_frames(features, n_frames)
        x = self.dropout(self.norm(features))
        return self.convs(x.transpose(1, 2)).transpose(1, 2)


def uses_encoder_features(config: FrontEndConfig) -> bool:
    """True when the model's input is precomputed (B, T, D) encoder features rather than a (B, S) waveform."""
    return config.kind == "whisper"


def build_front_end(config: FrontEndConfig, out_dim: int) -> nn.Module:
    """Module mapping (B, S) waveform — or (B, T, D) encoder features — and a frame count T to (B, T, out_dim)."""
    if config.kind == "logmel":
        return MelFrontEnd(config, out_dim)
    if config.kind == "whisper":
        return FeatureFrontEnd(config, out_dim)
    return PretrainedFrontEnd(config, out_dim)


def _pad_frames(features: Tensor, n_frames: int) -> Tensor:
    if features.shape[1] >= n_frames:
        return features[:, :n_frames]
    return torch.cat([features, features[:, -1:].expand(-1, n_frames - features.shape[1], -1)], dim=1)


def _pad_to(wave: Tensor, n_samples: int) -> Tensor:
    if wave.shape[-1] >= n_samples:
        return wave[..., :n_samples]
    return F.pad(wave, (0, n_samples - wave.shape[-1]))
