"""Motion metrics: LVE, FDD, mouth-opening correlation, AV offset, per-clip/summary tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eval.motion_metrics import (
    LOWER_LIP_INNER,
    UPPER_LIP_INNER,
    MotionEvalError,
    av_offset_frames,
    evaluate_generators,
    evaluate_motion,
    summarise_motion_table,
)
from portraittalker.motion.dataset import make_toy_corpus
from portraittalker.motion.schema import MotionTable


def talking(head, n: int = 120, shift: int = 0, seed: int = 0) -> MotionTable:
    rng = np.random.default_rng(seed)
    table = MotionTable.zeros(n, head)
    syllables = np.clip(np.convolve(rng.random(n + 40) > 0.8, np.hanning(7), mode="same"), 0, 1)
    table.frame_data["jaw_rot_x"] = 0.25 * syllables[20 - shift: 20 - shift + n]
    table.frame_data["exp_mouthFunnel"] = 0.5 * syllables[20 - shift: 20 - shift + n] ** 2
    table.frame_data["exp_browInnerUp_L"] = 0.4 * np.sin(np.arange(n) / 7) ** 2
    table.frame_data["head_rot_y"] = 0.05 * np.sin(np.arange(n) / 20)
    return table


def test_perfect_prediction(ict_head) -> None:
    truth = talking(ict_head)
    metrics = evaluate_motion(truth, truth, ict_head)
    assert metrics["lve_mm"] == 0 and metrics["lve_sq_mm2"] == 0 and metrics["fdd_mm2"] == 0
    assert metrics["mouth_open_corr"] == pytest.approx(1.0)
    assert metrics["av_offset_frames"] == 0 and metrics["head_rot_rmse_deg"] == 0


def test_lve_follows_the_faceformer_convention(ict_head) -> None:
    truth, pred = talking(ict_head, seed=0), talking(ict_head, seed=1)
    metrics = evaluate_motion(pred, truth, ict_head)
    # Independent computation on the full mesh: max over lip vertices of the squared L2 error, mean over frames.
    with torch.no_grad():
        full_pred = ict_head.deform(pred.to_head_params(ict_head))[:, ict_head.lip_vertices].double() * 1000
        full_true = ict_head.deform(truth.to_head_params(ict_head))[:, ict_head.lip_vertices].double() * 1000
    squared = ((full_pred - full_true) ** 2).sum(-1)
    assert metrics["lve_sq_mm2"] == pytest.approx(float(squared.amax(1).mean()), rel=1e-4)
    assert metrics["lve_mm"] == pytest.approx(float(squared.amax(1).sqrt().mean()), rel=1e-4)
    assert metrics["lve_mm"] > 1.0  # different syllables: millimetres of lip error


def test_av_offset_recovers_a_known_delay(ict_head) -> None:
    truth = talking(ict_head)
    late = talking(ict_head, shift=3)  # the same motion 3 frames later
    assert evaluate_motion(late, truth, ict_head)["av_offset_frames"] == 3
    early = talking(ict_head, shift=-2)
    assert evaluate_motion(early, truth, ict_head)["av_offset_frames"] == -2
    assert av_offset_frames(np.ones(10), np.ones(10)) == 0  # flat curves: no evidence of an offset


def test_fdd_sign_and_mouth_correlation(ict_head) -> None:
    truth = talking(ict_head)
    frozen_face = truth.frame_data.copy()
    frozen_face["exp_browInnerUp_L"] = 0.0
    pred = MotionTable(frozen_face, truth.head_model, truth.expression_names)
    metrics = evaluate_motion(pred, truth, ict_head)
    assert metrics["fdd_mm2"] > 0  # the prediction moves the upper face less than the truth
    assert metrics["mouth_open_corr"] == pytest.approx(1.0)
    assert metrics["lve_mm"] < 0.1  # brows barely touch the lips (ICT blendshapes leak ~0.02 mm)
    opening_ids = ict_head.landmarks68[[UPPER_LIP_INNER, LOWER_LIP_INNER]]
    assert not set(opening_ids.tolist()) & set(ict_head.upper_face_vertices.tolist())


def test_mismatched_inputs_are_rejected(ict_head) -> None:
    with pytest.raises(MotionEvalError, match="frames"):
        evaluate_motion(talking(ict_head, n=50), talking(ict_head, n=120), ict_head)
    with pytest.raises(MotionEvalError, match="empty"):
        evaluate_motion(MotionTable.zeros(0, ict_head), MotionTable.zeros(0, ict_head), ict_head)


def test_generator_table_groups_by_kind_language_method(tmp_path, ict_head) -> None:
    data = make_toy_corpus(tmp_path, ict_head, n_speakers=4, clips_per_speaker=2, seconds=2.0,
                           languages=("en", "zh"))

    def silent(wave: np.ndarray) -> MotionTable:
        return MotionTable.zeros(-(-len(wave) // 640), ict_head)

    def loudness(wave: np.ndarray) -> MotionTable:
        table = silent(wave)
        frames = np.pad(wave, (0, len(table) * 640 - len(wave))).reshape(len(table), -1)
        rms = np.sqrt((frames ** 2).mean(1))
        table.frame_data["jaw_rot_x"] = 0.2 * rms / (rms.max() + 1e-9)
        return table

    per_clip = evaluate_generators([data], {"silent": silent, "loudness": loudness}, ict_head, split="test")
    assert set(per_clip["method"]) == {"silent", "loudness"} and set(per_clip["kind"]) == {"synthetic"}
    assert len(per_clip) == 2 * 2  # 2 test clips x 2 methods
    summary = summarise_motion_table(per_clip)
    assert set(summary["language"]) == {"zh", "all"}  # speaker 3 (test) speaks the second language
    means = summary[summary["language"] == "all"].set_index("method")
    assert means.loc["loudness", "mouth_open_corr"] > 0.5
    assert means.loc["loudness", "lve_mm"] < means.loc["silent", "lve_mm"]
