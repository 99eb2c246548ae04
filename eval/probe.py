"""A linear probe on the motion model's own input features: the bar a learned model must clear.

Ridge regression from frozen encoder features with ±``context`` frames stacked (the issue's baseline:
a ridge on Whisper-tiny features already follows real mouths far better than a log-mel model trained from
scratch) to every standardised motion column. The ridge strength is chosen on the validation clips by
mouth-opening correlation; the probe then animates like any generator (``animate(audio, seed)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from portraittalker.head.base import HeadModel
from portraittalker.motion.dataset import MotionClip
from portraittalker.motion.model import as_waveform, sample_blinks
from portraittalker.motion.readout import ALPHAS as READOUT_ALPHAS
from portraittalker.motion.readout import design_matrix, fit_ridge
from portraittalker.motion.schema import EYE_BLINK_COLUMNS, MotionTable
from portraittalker.motion.whisper import WhisperEncoder

# The readout's grid widened downwards: the probe must not lose for want of a weak enough ridge.
ALPHAS = (1.0, 10.0, *READOUT_ALPHAS)


class RidgeProbe:
    def __init__(self, encoder: WhisperEncoder, columns: list[str], head: HeadModel, context: int = 2) -> None:
        self.encoder, self.columns, self.head, self.context = encoder, list(columns), head, context
        self.weights: np.ndarray | None = None
        self.alpha: float | None = None

    def _design(self, features: np.ndarray) -> np.ndarray:
        return design_matrix(features, self.context).astype(np.float32)

    def fit(self, train: list[MotionClip], val: list[MotionClip], mouth_gap: Any) -> RidgeProbe:
        """``mouth_gap(values (T, C)) -> (T,)`` scores a prediction; clips need ``variants`` (clean first)."""
        designs = [design_matrix(c.variants[0].features, self.context) for c in train]
        Y = np.concatenate([c.targets for c in train]).astype(np.float64)
        self.mean, self.std = Y.mean(0), Y.std(0) + 1e-6
        val_designs = [design_matrix(c.variants[0].features, self.context) for c in val]

        def score(weights: np.ndarray) -> float:
            scores = []
            for x, clip in zip(val_designs, val, strict=True):
                a, b = mouth_gap(x @ weights * self.std + self.mean), mouth_gap(clip.targets)
                scores.append(np.corrcoef(a, b)[0, 1] if a.std() > 1e-9 and b.std() > 1e-9 else 0.0)
            return float(np.mean(scores)) if scores else 0.0

        # Without validation clips every score ties and the first, strongest ridge is kept.
        alphas = ALPHAS if val else ALPHAS[::-1]
        self.weights, self.alpha, _ = fit_ridge(designs, [(c.targets - self.mean) / self.std for c in train],
                                                [1.0] * len(train), score, alphas)
        return self

    def predict(self, wave: np.ndarray) -> np.ndarray:
        assert self.weights is not None, "fit the probe first"
        features = self.encoder.encode(wave)
        return (self._design(features) @ self.weights * self.std + self.mean).astype(np.float32)

    def animate(self, audio: Any, seed: int = 0) -> MotionTable:
        values = self.predict(as_waveform(audio))
        table = MotionTable.zeros(len(values), self.head)
        table.frame_data[self.columns] = values
        table.frame_data[EYE_BLINK_COLUMNS] = sample_blinks(len(values), seed)
        table.validate()
        return table


def mouth_gap_function(head: HeadModel, columns: list[str]) -> Any:
    """(T, C) motion values in ``columns`` order -> (T,) inner-lip gap in mm (68-point landmarks 62-66)."""
    import torch

    from portraittalker.motion.model import VertexSubsetDeformer, params_from_values

    deformer = VertexSubsetDeformer(head, head.landmarks68[[62, 66]])

    def gap(values: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            params = params_from_values(torch.from_numpy(np.asarray(values, np.float32)), columns, head)
            points = deformer(params).numpy() * 1000.0
        return np.linalg.norm(points[:, 0] - points[:, 1], axis=1)

    return gap


def fit_probe(data_dirs: list, config: Any, head: HeadModel) -> RidgeProbe:
    """The probe on the train/val clips of a training run (``config``: its TrainConfig), features from its cache."""
    from portraittalker.motion.dataset import load_motion_clips
    from portraittalker.motion.model import target_columns
    from portraittalker.motion.train import attach_features, split_clips
    from portraittalker.motion.whisper import shared_encoder

    columns = target_columns(list(head.expression_names), config.model.predict_gaze)
    clips = load_motion_clips(data_dirs, head.name, list(head.expression_names), columns,
                              prefer_truth=config.prefer_truth, splits=("train", "val"))
    train, val = split_clips(clips, config.val_fraction)
    attach_features(train + val, config, copies=0)
    probe = RidgeProbe(shared_encoder(config.model.front_end.encoder), columns, head)
    return probe.fit(train, val, mouth_gap_function(head, columns))
