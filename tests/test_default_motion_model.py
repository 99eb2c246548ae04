"""The packaged default motion model: Whisper front end, silence keeps the mouth shut, speech opens it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eval.heldout import language_mouth_stats
from portraittalker.motion.checkpoint import load_motion_model
from portraittalker.motion.whisper import PACKAGED_SHA256

DEFAULT = Path(__file__).resolve().parents[1] / "portraittalker" / "motion" / "default.pt"
SPEECH = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech"


@pytest.fixture(scope="module")
def default_model(ict_head):
    return load_motion_model(DEFAULT, ict_head)


def test_default_model_runs_on_the_packaged_whisper_encoder(default_model) -> None:
    front = default_model.config.front_end
    assert front.kind == "whisper"
    assert front.encoder_id == f"whisper-tiny.en@{PACKAGED_SHA256[:16]}"
    assert front.encoder.layers == (2, 3) and front.encoder_dim == 768  # the middle blocks, see motion/config.py


@pytest.mark.slow
def test_silence_closed_speech_open_in_every_language(default_model, ict_head) -> None:
    if not SPEECH.is_dir():
        pytest.skip("../shared speech not available")
    stats = language_mouth_stats({"model": default_model.for_head(ict_head).animate}, ict_head, SPEECH)
    by_language = stats.set_index("language")
    assert by_language.loc["silence", "gap_p95_mm"] < 2.0
    for language in ("en", "ja", "cmn", "ko (espeak-ng)"):
        row = by_language.loc[language]
        assert row["open_frac"] > 0.2, (language, row.to_dict())
        # A plausible range of opening. Not a loudness correlation: real mouths' correlation with the RMS envelope
        # is -0.2..0.55 on the real corpus (median ~0.16), so it cannot judge lip sync; eval/heldout.py does.
        assert 3.0 < row["gap_p95_mm"] < 30.0, (language, row.to_dict())
        assert np.isfinite(row["gap_mean_mm"])
