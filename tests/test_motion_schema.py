from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from portraittalker.motion.schema import MotionSchemaError, MotionTable


def test_round_trip_keeps_values_and_head_identity(ict_head, tmp_path):
    table = MotionTable.zeros(30, ict_head)
    table.frame_data["jaw_rot_x"] = np.linspace(0, 0.3, 30)
    table.frame_data["exp_mouthFunnel"] = 0.5
    path = table.save(tmp_path / "m.parquet")
    loaded = MotionTable.load(path)
    assert loaded.head_model == "ict-facekit" and loaded.fps == 25 and len(loaded) == 30
    assert np.allclose(loaded.frame_data["jaw_rot_x"], table.frame_data["jaw_rot_x"])
    params = loaded.to_head_params(ict_head)
    assert params.expression.shape == (30, ict_head.n_expression)
    assert float(params.jaw[-1, 0]) == pytest.approx(0.3)
    assert np.allclose(loaded.frame_data["time_s"].to_numpy(), np.arange(30) / 25)


def test_from_head_params_inverts_to_head_params(ict_head):
    params = ict_head.neutral_params(5)
    params.head_rotation = torch.randn(5, 3) * 0.1
    params.eye_blink = torch.rand(5, 2)
    again = MotionTable.from_head_params(params, ict_head).to_head_params(ict_head)
    assert torch.allclose(again.head_rotation, params.head_rotation)
    assert torch.allclose(again.eye_blink, params.eye_blink)


def test_rejects_bad_tables(ict_head, tmp_path):
    table = MotionTable.zeros(4, ict_head)
    broken = table.frame_data.drop(columns=["head_rot_y"])
    with pytest.raises(MotionSchemaError, match="head_rot_y"):
        MotionTable(broken, "ict-facekit", ict_head.expression_names)
    nan = table.frame_data.copy()
    nan.loc[2, "jaw_rot_x"] = np.nan
    with pytest.raises(MotionSchemaError, match=r"non-finite.*jaw_rot_x"):
        MotionTable(nan, "ict-facekit", ict_head.expression_names)
    other = MotionTable(table.frame_data.copy(), "flame", ict_head.expression_names)
    with pytest.raises(MotionSchemaError, match="made for head model 'flame'"):
        other.to_head_params(ict_head)
    plain = tmp_path / "plain.parquet"
    pq.write_table(pq.read_table(table.save(tmp_path / "ok.parquet")).replace_schema_metadata({}), plain)
    with pytest.raises(MotionSchemaError, match="not a PortraitTalker motion table"):
        MotionTable.load(plain)
