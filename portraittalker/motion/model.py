"""The learned audio-to-motion model: a speech front end and a transformer over the whole utterance.

Per 25 fps frame it predicts, in the motion-table column order of :func:`target_columns`: the head
model's free expression coefficients, jaw (3), head rotation (3) and translation (3), eye blink (2)
and, optionally, gaze (2). Targets are standardised with the training set's mean/std, which the
model carries as buffers. Self-attention uses a symmetric ALiBi bias (-slope·|i-j| per head), so
it has no learned positions and runs on utterances longer than any seen in training; very long
audio is still split into overlapping chunks that are cross-faded, to bound memory (attention is
quadratic in length).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from portraittalker.head.base import HeadModel, HeadParams
from portraittalker.motion.config import MotionModelConfig
from portraittalker.motion.features import (
    SAMPLES_PER_FRAME,
    build_front_end,
    n_video_frames,
    uses_encoder_features,
)
from portraittalker.motion.frames import sample_blinks, target_columns
from portraittalker.motion.runtime import chunk_starts, cross_fade, style_index
from portraittalker.motion.schema import (
    EYE_BLINK_COLUMNS,
    EYE_GAZE_COLUMNS,
    HEAD_ROT_COLUMNS,
    HEAD_TRANS_COLUMNS,
    JAW_COLUMNS,
    MotionSchemaError,
    MotionTable,
    expression_columns,
)
from portraittalker.motion.speech_input import AudioInputError, as_waveform  # noqa: F401  (re-exported)
from portraittalker.motion.whisper import WhisperEncoder, WhisperEncoderConfig, encoder_for_model

CHUNK_BATCH = 8  # long-audio chunks evaluated together


def alibi_slopes(n_heads: int) -> Tensor:
    """Per-head slopes 2^(-8/n), 2^(-16/n), … (Press et al., 2022): some heads local, some near-global."""
    return torch.tensor([2.0 ** (-8.0 * (h + 1) / n_heads) for h in range(n_heads)])


def alibi_bias(slopes: Tensor, length: int, key_padding: Tensor | None = None) -> Tensor:
    """(1|B, H, T, T) additive attention bias -slope·|i-j|; padded keys (True in (B, T)) get -inf."""
    positions = torch.arange(length, device=slopes.device)
    distance = (positions[None, :] - positions[:, None]).abs().to(slopes.dtype)
    bias = (-slopes[:, None, None] * distance).unsqueeze(0)
    if key_padding is not None:
        bias = bias.masked_fill(key_padding[:, None, None, :], float("-inf"))
    return bias


class AlibiSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        batch, length, width = x.shape
        q, k, v = self.qkv(x).reshape(batch, length, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias.to(q.dtype), dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(attended.transpose(1, 2).reshape(batch, length, width))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block (stable without warm-up tricks at small scale)."""

    def __init__(self, d_model: int, n_heads: int, ff_mult: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attention = AlibiSelfAttention(d_model, n_heads, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, ff_mult * d_model), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_mult * d_model, d_model)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        x = x + self.drop(self.attention(self.norm1(x), bias))
        return x + self.drop(self.ff(self.norm2(x)))


class MotionModel(nn.Module):
    """Speech waveform -> standardised per-frame motion; :meth:`animate` gives a :class:`MotionTable`."""

    def __init__(
        self,
        config: MotionModelConfig,
        head_identity: dict[str, Any],
        target_mean: Tensor | None = None,
        target_std: Tensor | None = None,
        style_names: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.head_identity = dict(head_identity)
        self.expression_names: list[str] = list(head_identity["expression_names"])
        self.columns = target_columns(self.expression_names, config.predict_gaze)
        self.style_names = list(style_names or [])
        n_out = len(self.columns)
        self.front_end = build_front_end(config.front_end, config.d_model)
        self.input_norm = nn.LayerNorm(config.d_model)
        self.style = nn.Embedding(config.n_styles, config.d_model) if config.n_styles else None
        if self.style is not None:
            nn.init.zeros_(self.style.weight)  # start from "no style" so the embedding only adds what helps
        self.blocks = nn.ModuleList(
            TransformerBlock(config.d_model, config.n_heads, config.ff_mult, config.dropout)
            for _ in range(config.n_layers)
        )
        self.register_buffer("slopes", alibi_slopes(config.n_heads), persistent=False)
        self.out_norm = nn.LayerNorm(config.d_model)
        self.out = nn.Linear(config.d_model, n_out)
        self.register_buffer("target_mean", torch.zeros(n_out) if target_mean is None else target_mean.float())
        self.register_buffer("target_std", torch.ones(n_out) if target_std is None else target_std.float())

    @property
    def head_name(self) -> str:
        return str(self.head_identity["name"])

    @property
    def uses_features(self) -> bool:
        """Input is (B, T, D) Whisper features (see :meth:`speech_features`), not a (B, S) waveform."""
        return uses_encoder_features(self.config.front_end)

    def speech_encoder(self, encoder: WhisperEncoderConfig | None = None) -> WhisperEncoder:
        """The frozen encoder this model was trained on; another encoder's weights are a clear error."""
        return encoder_for_model(self.config.front_end, encoder)

    def speech_features(self, wave: np.ndarray, n_frames: int, encoder: WhisperEncoderConfig | None = None) -> Tensor:
        """(S,) 16 kHz waveform -> the model's input for :meth:`forward` without the batch axis."""
        if not self.uses_features:
            return torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
        return torch.from_numpy(self.speech_encoder(encoder).encode(wave, n_frames))

    def forward(
        self, inputs: Tensor, n_frames: int, style: Tensor | None = None, frame_padding: Tensor | None = None
    ) -> Tensor:
        """(B, S) 16 kHz waveform or (B, T, D) encoder features -> (B, n_frames, n_out) standardised predictions."""
        x = self.input_norm(self.front_end(inputs, n_frames))
        if self.style is not None and style is not None:
            x = x + self.style(style)[:, None, :]
        bias = alibi_bias(self.slopes, n_frames, frame_padding)  # shared by all layers
        for block in self.blocks:
            x = block(x, bias)
        return self.out(self.out_norm(x))

    def denormalise(self, y: Tensor) -> Tensor:
        return y * self.target_std + self.target_mean

    def normalise(self, targets: Tensor) -> Tensor:
        return (targets - self.target_mean) / self.target_std

    def style_index(self, style: int | str) -> int:
        return style_index(style, self.config.n_styles if self.style is not None else 0, self.style_names)

    @torch.no_grad()
    def predict(
        self, wave: np.ndarray, style: int | str = 0, encoder: WhisperEncoderConfig | None = None
    ) -> np.ndarray:
        """16 kHz mono waveform -> (T, n_out) motion values in table units, chunked for long audio."""
        was_training = self.training
        self.eval()
        try:
            n_frames = n_video_frames(len(wave))
            device = self.target_mean.device
            inputs = self.speech_features(wave, n_frames, encoder).to(device)
            per_frame = 1 if self.uses_features else SAMPLES_PER_FRAME  # input rows per video frame

            def piece(start: int, stop: int | None) -> Tensor:
                return inputs[start * per_frame:None if stop is None else stop * per_frame]

            style_t = torch.tensor([self.style_index(style)], device=device) if self.style is not None else None
            chunk, overlap = self.config.chunk_frames, self.config.chunk_overlap
            if n_frames <= chunk:
                return self.denormalise(self(inputs[None], n_frames, style_t))[0].cpu().numpy()
            starts = chunk_starts(n_frames, chunk, overlap)
            predictions: dict[int, Tensor] = {}
            full = [s for s in starts if s + chunk <= n_frames]
            for group in range(0, len(full), CHUNK_BATCH):  # equal-length chunks run as one batch
                batch_starts = full[group:group + CHUNK_BATCH]
                pieces = torch.stack([piece(s, s + chunk) for s in batch_starts])
                styles = style_t.expand(len(batch_starts)) if style_t is not None else None
                predictions.update(zip(batch_starts, self.denormalise(self(pieces, chunk, styles)), strict=True))
            for start in starts[len(full):]:  # the shorter tail chunk
                predictions[start] = self.denormalise(self(piece(start, None)[None], n_frames - start, style_t))[0]
            return cross_fade({s: p.cpu().numpy() for s, p in predictions.items()}, n_frames, overlap)
        finally:
            self.train(was_training)

    def animate(self, audio: Any, head: HeadModel, seed: int = 0, *, style: int | str = 0,
                encoder: WhisperEncoderConfig | None = None) -> MotionTable:
        """Speech -> a motion table for ``head`` (same call as ``BaselineLipSync.animate``).

        ``audio`` is a 16 kHz mono float array or an audio object with samples and a sample rate
        (resampled/mixed down as needed). ``seed`` drives the sampled blinks, so results are reproducible.
        """
        if head.name != self.head_name or list(head.expression_names) != self.expression_names:
            raise MotionSchemaError(
                f"motion model was trained for head model {self.head_name!r} ({len(self.expression_names)} "
                f"expressions) but is asked to animate {head.name!r} ({head.n_expression} expressions)"
            )
        wave = as_waveform(audio)
        values = self.predict(wave, style, encoder)
        table = MotionTable.zeros(len(values), head)
        table.frame_data[self.columns] = values.astype(np.float32)
        blink = table.frame_data[EYE_BLINK_COLUMNS].to_numpy()
        if self.config.blink_source == "sample":
            blink = sample_blinks(len(values), seed)
        table.frame_data[EYE_BLINK_COLUMNS] = np.clip(blink, 0.0, 1.0).astype(np.float32)
        table.validate()
        return table

    def for_head(self, head: HeadModel, style: int | str = 0, expression_gain: float = 1.0) -> LearnedLipSync:
        """An animator with ``BaselineLipSync``'s call shape: ``.animate(audio, seed=0)``."""
        return LearnedLipSync(self, head, style, expression_gain)


class MotionEnsemble(MotionModel):
    """Members trained from different seeds on the same data; its prediction is their mean.

    On a few minutes of real speech one training run's held-out lip sync varies by seed as much as by design
    (0.55-0.62 motion-level correlation over three seeds); the mean of the members is better than the typical
    member. The first member is this module itself (so a one-member ensemble is a plain :class:`MotionModel`), the
    others live in ``others``; all share the config, targets' normalisation and style names, so their standardised
    outputs average directly and the speech features are computed once.
    """

    def __init__(self, config: MotionModelConfig, head_identity: dict[str, Any], target_mean: Tensor | None = None,
                 target_std: Tensor | None = None, style_names: list[str] | None = None, n_members: int = 2) -> None:
        super().__init__(config, head_identity, target_mean, target_std, style_names)
        self.others = nn.ModuleList(
            MotionModel(config, head_identity, target_mean, target_std, style_names) for _ in range(n_members - 1)
        )

    @property
    def n_members(self) -> int:
        return 1 + len(self.others)

    def forward(self, inputs: Tensor, n_frames: int, style: Tensor | None = None,
                frame_padding: Tensor | None = None) -> Tensor:
        outputs = [super().forward(inputs, n_frames, style, frame_padding)]
        outputs += [member(inputs, n_frames, style, frame_padding) for member in self.others]
        return torch.stack(outputs).mean(0)

    @classmethod
    def from_members(cls, members: list[MotionModel]) -> MotionEnsemble:
        first = members[0]
        for member in members[1:]:
            if (member.config != first.config or member.style_names != first.style_names
                    or not torch.equal(member.target_mean, first.target_mean)
                    or not torch.equal(member.target_std, first.target_std)):
                raise ValueError("ensemble members must share config, style names and target normalisation")
        ensemble = cls(first.config, first.head_identity, first.target_mean, first.target_std, first.style_names,
                       n_members=len(members))
        ensemble.load_state_dict({**first.state_dict(), **{
            f"others.{i}.{key}": value for i, member in enumerate(members[1:]) for key, value in
            member.state_dict().items()}})
        return ensemble.eval()


# Columns the expression gain scales: every expression weight and the jaw (not head pose, blinks or gaze).
ARTICULATION_PREFIXES = ("exp_", "jaw_")


class LearnedLipSync:
    """A :class:`MotionModel` bound to a head model, interchangeable with ``BaselineLipSync(head)``.

    ``expression_gain`` scales the expression and jaw columns about the neutral (closed) face, so silence stays
    closed: a model trained with a regression loss under-articulates (the mean of plausible faces is a flattened
    one), as most talking-head systems' "expression scale" knobs acknowledge. All expression columns, not the mouth's
    alone: the cheeks, nose and brows move with speech too, FLAME's expression basis does not separate the mouth,
    and on the validation speakers the whole face scaled tracked better than the mouth alone (0.606 vs 0.599).
    """

    def __init__(self, model: MotionModel, head: HeadModel, style: int | str = 0, expression_gain: float = 1.0) -> None:
        if not expression_gain > 0:
            raise ValueError(f"expression_gain must be > 0, got {expression_gain}")
        self.model, self.head, self.style, self.expression_gain = model, head, style, float(expression_gain)

    def animate(self, audio: Any, seed: int = 0) -> MotionTable:
        table = self.model.animate(audio, self.head, seed, style=self.style)
        if self.expression_gain != 1.0:
            face = [c for c in table.frame_data.columns if c.startswith(ARTICULATION_PREFIXES)]
            table.frame_data[face] = table.frame_data[face] * np.float32(self.expression_gain)
        return table


class VertexSubsetDeformer(nn.Module):
    """``head.deform(params)[:, vertex_ids]`` without building the full mesh where the head allows it.

    For linear blendshape heads with ICT's buffers (``neutral``, ``expression_basis``, ``driven_basis``,
    ``identity_basis``, ``driven_weights``) the bases are sliced to the subset once, which makes the
    lip-vertex loss ~20x cheaper; other heads fall back to the full :meth:`HeadModel.deform`.
    Eyeball rotation is ignored on the fast path, so use it for face-surface vertices only.
    """

    def __init__(self, head: HeadModel, vertex_ids: Tensor) -> None:
        super().__init__()
        self.head = head
        self.register_buffer("vertex_ids", vertex_ids.long().cpu(), persistent=False)
        names = ("neutral", "expression_basis", "driven_basis", "identity_basis")
        self.fast = all(hasattr(head, n) for n in names) and hasattr(head, "driven_weights")
        if self.fast:
            ids = self.vertex_ids
            cols = torch.stack([ids * 3, ids * 3 + 1, ids * 3 + 2], -1).reshape(-1)
            self.register_buffer("neutral", head.neutral[ids].float().clone(), persistent=False)
            for name in names[1:]:
                self.register_buffer(name, getattr(head, name)[:, cols].float().clone(), persistent=False)

    def forward(self, params: HeadParams) -> Tensor:
        if not self.fast:
            return self.head.deform(params)[:, self.vertex_ids]
        offsets = params.expression @ self.expression_basis
        offsets = offsets + self.head.driven_weights(params) @ self.driven_basis
        offsets = offsets + params.identity @ self.identity_basis
        return self.neutral + offsets.reshape(params.batch_size, -1, 3)


def params_from_values(values: Tensor, columns: list[str], head: HeadModel) -> HeadParams:
    """(N, len(columns)) motion values in ``columns`` order -> :class:`HeadParams` (missing fields zero)."""
    index = {c: i for i, c in enumerate(columns)}
    params = head.neutral_params(values.shape[0], values.device)

    def block(cols: list[str], default: Tensor) -> Tensor:
        if all(c in index for c in cols):
            return values[:, [index[c] for c in cols]]
        return default

    return HeadParams(
        identity=params.identity,
        expression=block(expression_columns(head.expression_names), params.expression),
        jaw=block(JAW_COLUMNS, params.jaw),
        head_rotation=block(HEAD_ROT_COLUMNS, params.head_rotation),
        head_translation=block(HEAD_TRANS_COLUMNS, params.head_translation),
        eye_blink=block(EYE_BLINK_COLUMNS, params.eye_blink),
        eye_gaze=block(EYE_GAZE_COLUMNS, params.eye_gaze),
    )
