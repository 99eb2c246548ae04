from __future__ import annotations

import numpy as np
import pytest

from portraittalker.data.recovery import clip_recovery, summarise_recovery
from portraittalker.motion.schema import MotionTable


def _truth(head, n=40):
    table = MotionTable.zeros(n, head)
    t = np.arange(n)
    table.frame_data["jaw_rot_x"] = 0.12 + 0.1 * np.sin(t / 3)
    table.frame_data["head_rot_y"] = 0.05 * np.sin(t / 7)
    table.frame_data["exp_mouthFunnel"] = 0.3 * (np.cos(t / 5) > 0)
    return table.frame_data


def test_identical_motion_has_zero_error(ict_head):
    truth = _truth(ict_head)
    errors = clip_recovery(truth.copy(), truth, ict_head)
    assert errors["lip_gap_mae_mm"] == pytest.approx(0, abs=1e-4)
    assert errors["lip_gap_corr"] == pytest.approx(1.0)
    assert errors["jaw_open_mae_rad"] == 0 and errors["head_rot_mae_deg"] == 0


def test_errors_measure_the_perturbation(ict_head):
    truth = _truth(ict_head)
    fitted = truth.copy()
    fitted["jaw_rot_x"] += 0.02
    fitted["head_rot_y"] += np.radians(3.0)  # a constant pose bias
    errors = clip_recovery(fitted, truth, ict_head)
    assert errors["jaw_open_mae_rad"] == pytest.approx(0.02, abs=1e-6)
    assert errors["jaw_open_corr"] == pytest.approx(1.0)
    assert errors["head_rot_mae_deg"] == pytest.approx(1.0, abs=1e-3)  # 3° on one of three axes
    assert errors["head_rot_dyn_mae_deg"] == pytest.approx(0.0, abs=1e-4)  # bias removed
    assert errors["lip_gap_mae_mm"] > 1.0  # 0.02 rad of jaw is > 1 mm at the lips


def test_summary_is_per_language():
    import pandas as pd

    table = pd.DataFrame({"clip_id": ["a", "b", "c"], "language": ["en", "en", "ko"], "n_frames": [10, 10, 10],
                          "lip_gap_mae_mm": [1.0, 3.0, 5.0]})
    summary = summarise_recovery(table)
    assert summary["recovery.lip_gap_mae_mm"] == 3.0
    assert summary["recovery.en.lip_gap_mae_mm"] == 2.0 and summary["recovery.ko.lip_gap_mae_mm"] == 5.0
