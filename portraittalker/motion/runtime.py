"""A trained motion model's inference in numpy: what ``generate`` runs, so its process never imports torch.

:class:`NumpyMotionModel` reads a checkpoint with :func:`~.checkpoint_file.read_checkpoint_arrays` and evaluates
the same network as :class:`~portraittalker.motion.model.MotionModel` — Whisper features (:mod:`.whisper`, numpy
on CPU) -> layer norm + two convolutions -> pre-norm transformer blocks with ALiBi attention -> standardised
outputs, averaged over ensemble members and de-standardised — with the same chunking and cross-fade for long audio.
Tests hold it to the torch model's output on the packaged checkpoint. Only Whisper-feature front ends are covered:
log-mel and wav2vec2/HuBERT models (trained from scratch or with a torch encoder) run through the torch model.

Shapes: features (B, T, D) at 25 fps -> (B, T, n_out).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from portraittalker.motion import numpy_ops as ops
from portraittalker.motion.checkpoint_file import check_head, dequantised, read_checkpoint_arrays
from portraittalker.motion.config import MotionModelConfig, WhisperEncoderConfig
from portraittalker.motion.frames import (
    EYE_BLINK_COLUMNS,
    MotionFrames,
    sample_blinks,
    target_columns,
    value_columns,
)
from portraittalker.motion.speech_input import as_waveform, n_video_frames

if TYPE_CHECKING:
    from portraittalker.head.params import HeadLike

# Columns the expression gain scales: every expression weight and the jaw (not head pose, blinks or gaze).
ARTICULATION_PREFIXES = ("exp_", "jaw_")


def runs_without_torch(config: MotionModelConfig) -> bool:
    """Whether :class:`NumpyMotionModel` evaluates a model of this config (a Whisper-feature front end)."""
    return config.front_end.kind == "whisper"


def chunk_starts(n_frames: int, chunk: int, overlap: int) -> list[int]:
    """First frames of the overlapping chunks long audio is predicted in (one chunk when it fits)."""
    return [0] if n_frames <= chunk else list(range(0, n_frames - overlap, chunk - overlap))


def cross_fade(predictions: dict[int, np.ndarray], n_frames: int, overlap: int) -> np.ndarray:
    """Chunk predictions (start -> (length, C)) joined with a linear cross-fade over the overlaps; the utterance's
    outer edges keep full weight."""
    starts = sorted(predictions)
    width = next(iter(predictions.values())).shape[1]
    total = np.zeros((n_frames, width), np.float32)
    weight = np.zeros((n_frames, 1), np.float32)
    fade = np.linspace(0.0, 1.0, overlap + 2, dtype=np.float32)[1:-1, None]
    for i, start in enumerate(starts):
        pred = predictions[start]
        ramp = np.ones((len(pred), 1), np.float32)
        if i > 0 and overlap:
            ramp[:overlap] = fade
        if i < len(starts) - 1 and overlap:
            ramp[-overlap:] = np.minimum(ramp[-overlap:], fade[::-1])
        total[start:start + len(pred)] += pred * ramp
        weight[start:start + len(pred)] += ramp
    return total / weight


def style_index(style: int | str, n_styles: int, style_names: list[str]) -> int:
    """A style name or index as the index into a model's style embedding (0 for a model without styles)."""
    if not n_styles:
        return 0
    if isinstance(style, str):
        if style not in style_names:
            raise ValueError(f"unknown style {style!r}; this model knows {style_names}")
        return style_names.index(style)
    if not 0 <= style < n_styles:
        raise ValueError(f"style index {style} out of range 0..{n_styles - 1}")
    return int(style)


def alibi_bias(n_heads: int, length: int) -> np.ndarray:
    """(1, H, T, T) additive bias -slope·|i-j|, slopes 2^(-8/H), 2^(-16/H), … (as :func:`.model.alibi_bias`)."""
    slopes = np.array([2.0 ** (-8.0 * (h + 1) / n_heads) for h in range(n_heads)], np.float32)
    positions = np.arange(length)
    distance = np.abs(positions[None, :] - positions[:, None]).astype(np.float32)
    return (-slopes[:, None, None] * distance)[None]


class NumpyMotionModel:
    """A :class:`~.model.MotionModel` (or ensemble) checkpoint evaluated in numpy."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.config = MotionModelConfig.model_validate(payload["model_config"])
        if not runs_without_torch(self.config):
            raise ValueError(f"front end {self.config.front_end.kind!r} runs only in the torch model")
        self.head_identity = dict(payload["head"])
        self.expression_names = list(self.head_identity["expression_names"])
        self.columns = target_columns(self.expression_names, self.config.predict_gaze)
        self.style_names = list(payload.get("style_names") or [])
        state = {k: np.ascontiguousarray(v, np.float32) if v.dtype.kind == "f" else v
                 for k, v in dequantised(payload).items()}
        self.target_mean, self.target_std = state["target_mean"], state["target_std"]
        n_members = int(payload.get("ensemble_members", 1))
        prefixes = [""] + [f"others.{i}." for i in range(n_members - 1)]
        self.members = [{k[len(p):]: v for k, v in state.items() if k.startswith(p) and
                         (p or not k.startswith("others."))} for p in prefixes]

    @property
    def n_members(self) -> int:
        return len(self.members)

    def style_index(self, style: int | str) -> int:
        return style_index(style, self.config.n_styles, self.style_names)

    def _member(self, w: dict[str, np.ndarray], features: np.ndarray, n_frames: int, style: int) -> np.ndarray:
        if features.shape[1] >= n_frames:
            features = features[:, :n_frames]
        else:  # repeat the last frame, as the torch front end pads
            tail = np.repeat(features[:, -1:], n_frames - features.shape[1], axis=1)
            features = np.concatenate([features, tail], axis=1)
        x = ops.layer_norm(features, w["front_end.norm.weight"], w["front_end.norm.bias"]).transpose(0, 2, 1)
        x = ops.gelu(ops.conv1d(x, w["front_end.convs.0.weight"], w["front_end.convs.0.bias"],
                                padding=w["front_end.convs.0.weight"].shape[2] // 2))
        x = ops.conv1d(x, w["front_end.convs.2.weight"], w["front_end.convs.2.bias"],
                       padding=w["front_end.convs.2.weight"].shape[2] // 2).transpose(0, 2, 1)
        x = ops.layer_norm(x, w["input_norm.weight"], w["input_norm.bias"])
        if self.config.n_styles:
            x = x + w["style.weight"][style]
        bias = alibi_bias(self.config.n_heads, n_frames)
        batch, heads = x.shape[0], self.config.n_heads
        for i in range(self.config.n_layers):
            b = f"blocks.{i}."
            h = ops.layer_norm(x, w[b + "norm1.weight"], w[b + "norm1.bias"])
            qkv = ops.linear(h, w[b + "attention.qkv.weight"], w[b + "attention.qkv.bias"])
            q, k, v = qkv.reshape(batch, n_frames, 3, heads, -1).transpose(2, 0, 3, 1, 4)
            attended = ops.attention(q, k, v, bias).transpose(0, 2, 1, 3).reshape(batch, n_frames, -1)
            x = x + ops.linear(attended, w[b + "attention.out.weight"], w[b + "attention.out.bias"])
            h = ops.layer_norm(x, w[b + "norm2.weight"], w[b + "norm2.bias"])
            h = ops.gelu(ops.linear(h, w[b + "ff.0.weight"], w[b + "ff.0.bias"]))
            x = x + ops.linear(h, w[b + "ff.3.weight"], w[b + "ff.3.bias"])
        return ops.linear(ops.layer_norm(x, w["out_norm.weight"], w["out_norm.bias"]), w["out.weight"],
                          w["out.bias"])

    def forward(self, features: np.ndarray, n_frames: int, style: int = 0) -> np.ndarray:
        """(B, T, D) features -> (B, n_frames, n_out) standardised predictions, the members' mean."""
        outputs = [self._member(w, features, n_frames, style) for w in self.members]
        return np.mean(outputs, axis=0, dtype=np.float32) if len(outputs) > 1 else outputs[0]

    def predict_features(self, features: np.ndarray, n_frames: int, style: int | str = 0) -> np.ndarray:
        """(T, D) 25 fps features -> (n_frames, n_out) motion values in table units, chunked for long audio."""
        index = self.style_index(style)
        chunk, overlap = self.config.chunk_frames, self.config.chunk_overlap

        def run(start: int, stop: int) -> np.ndarray:
            standardised = self.forward(features[None, start:stop], stop - start, index)[0]
            return standardised * self.target_std + self.target_mean

        if n_frames <= chunk:
            return run(0, n_frames)
        starts = chunk_starts(n_frames, chunk, overlap)
        return cross_fade({s: run(s, min(s + chunk, n_frames)) for s in starts}, n_frames, overlap)


class NumpyLipSync:
    """:class:`NumpyMotionModel` bound to a head and its speech encoder: ``animate(audio, seed) -> MotionFrames``,
    what :class:`~.model.LearnedLipSync` gives as a motion table (same expression gain and sampled blinks)."""

    def __init__(self, model: NumpyMotionModel, head: HeadLike, encode: Callable[[np.ndarray, int], np.ndarray],
                 style: int | str = 0, expression_gain: float = 1.0) -> None:
        if not expression_gain > 0:
            raise ValueError(f"expression_gain must be > 0, got {expression_gain}")
        if head.name != model.head_identity["name"] or list(head.expression_names) != model.expression_names:
            raise ValueError(f"motion model for {model.head_identity['name']!r} bound to head {head.name!r}")
        self.model, self.head, self.encode = model, head, encode
        self.style, self.expression_gain = style, float(expression_gain)

    def animate(self, audio: Any, seed: int = 0) -> MotionFrames:
        wave = as_waveform(audio)
        n_frames = n_video_frames(len(wave))
        predicted = self.model.predict_features(self.encode(wave, n_frames), n_frames, self.style)
        columns = value_columns(self.head.expression_names)
        values = np.zeros((n_frames, len(columns)), np.float32)
        values[:, [columns.index(c) for c in self.model.columns]] = predicted
        blink = [columns.index(c) for c in EYE_BLINK_COLUMNS]
        if self.model.config.blink_source == "sample":
            values[:, blink] = sample_blinks(n_frames, seed)
        values[:, blink] = np.clip(values[:, blink], 0.0, 1.0)
        if self.expression_gain != 1.0:
            scaled = [i for i, c in enumerate(columns) if c.startswith(ARTICULATION_PREFIXES)]
            values[:, scaled] *= np.float32(self.expression_gain)
        if not np.isfinite(values).all():
            raise FloatingPointError("the motion model predicted non-finite values")
        return MotionFrames(values, self.head.name, list(self.head.expression_names))


def load_numpy_lip_sync(path: str | Path, head: HeadLike, *, encoder_path: str | None = None,
                        expression_gain: float = 1.0) -> NumpyLipSync | None:
    """The checkpoint at ``path`` as a torch-free animator for ``head``, or None where only torch can run it.

    The head is checked (as the torch loader does) and the speech encoder loaded now, so a missing or mismatched
    encoder is reported before any rendering.
    """
    from portraittalker.motion.whisper import encoder_for_model

    payload = read_checkpoint_arrays(path)
    check_head(payload["head"], head, source=f"checkpoint {path}")
    model_config = MotionModelConfig.model_validate(payload["model_config"])
    if not runs_without_torch(model_config):
        return None
    model = NumpyMotionModel(payload)
    front = model.config.front_end
    encoder: WhisperEncoderConfig = front.encoder
    if encoder_path is not None:
        encoder = encoder.model_copy(update={"path": encoder_path})
    speech_encoder = encoder_for_model(front, encoder)
    return NumpyLipSync(model, head, speech_encoder.encode, expression_gain=expression_gain)
