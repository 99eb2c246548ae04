"""Phoneme -> viseme mapping, ICT mouth shapes (measured on the mesh) and coarticulation."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from portraittalker.speech.visemes import (
    MOUTH_EXPRESSIONS,
    VISEME_TARGETS,
    VISEMES,
    PhonemeTiming,
    PhonemeTimingError,
    VisemeSegment,
    phoneme_to_viseme,
    phonemes_to_visemes,
    split_phoneme,
    viseme_pose,
    viseme_tracks,
)


@pytest.mark.parametrize(
    ("phoneme", "viseme"),
    [("p", "PP"), ("b", "PP"), ("m", "PP"), ("f", "FF"), ("v", "FF"), ("θ", "TH"), ("t", "DD"), ("th", "DD"),
     ("k", "kk"), ("ɡ", "kk"), ("tʃ", "CH"), ("ʃ", "CH"), ("tɕh", "CH"), ("ɕ", "CH"), ("s", "SS"), ("s-", "SS"),
     ("n", "nn"), ("ɫ", "nn"), ("ɹ", "RR"), ("a", "aa"), ("ä", "aa"), ("ɑː", "aa"), ("ɐ", "aa"), ("e̞", "E"),
     ("ə", "E"), ("i", "I"), ("ɯᵝ", "I"), ("o̞", "O"), ("ɔ̃", "O"), ("u", "U"), ("y", "U"), ("w", "U"),
     ("", "sil"), ("ʲ", "I")],
)
def test_known_phonemes_map_to_their_viseme(phoneme: str, viseme: str) -> None:
    assert phoneme_to_viseme(phoneme) == viseme


def test_split_phoneme_handles_espeak_names() -> None:
    assert split_phoneme("onɡ") == ["o", "n", "g"]  # Mandarin final as one event
    assert split_phoneme("ɑu") == ["ɑ", "u"]
    assert split_phoneme("tɕh") == ["tɕ"]  # aspiration is not a separate /h/
    assert split_phoneme("kʲ") == ["k"]
    assert split_phoneme("ˈa5") == ["a"]  # stress and tone digit dropped
    assert split_phoneme("") == []


def test_unknown_symbol_falls_back_by_class_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="portraittalker.speech.visemes"):
        assert phoneme_to_viseme("ʮ") == "kk"  # a consonant letter nobody maps
        assert phoneme_to_viseme("ᴀ") == "aa"  # LATIN LETTER SMALL CAPITAL A: a vowel by name
    assert "ʮ" in caplog.text


def test_multi_segment_event_shares_its_duration() -> None:
    segments = phonemes_to_visemes([PhonemeTiming("onɡ", 0.0, 0.4)])
    assert [s.viseme for s in segments] == ["O", "nn", "kk"]
    assert segments[0].duration_s == pytest.approx(0.2)  # the vowel counts double
    assert segments[-1].end_s == pytest.approx(0.4)


def test_bad_timings_are_rejected() -> None:
    with pytest.raises(PhonemeTimingError, match="bad interval"):
        phonemes_to_visemes([PhonemeTiming("a", 0.3, 0.1)])
    with pytest.raises(PhonemeTimingError, match="before the previous"):
        phonemes_to_visemes([PhonemeTiming("a", 0.0, 0.3), PhonemeTiming("p", 0.2, 0.4)])


def _inner_lip_gap_mm(head, controls: dict[str, float]) -> float:
    params = head.neutral_params(1)
    for name, value in controls.items():
        if name.startswith("exp_"):
            params.expression[0, head.expression_names.index(name[4:])] = value
    params.jaw[0, 0] = controls["jaw_rot_x"]
    with torch.no_grad():
        landmarks = head.landmarks(head(params))[0] * 1000
    return float(landmarks[62, 1] - landmarks[66, 1])  # inner upper lip minus inner lower lip (+Y up)


def test_viseme_shapes_on_the_ict_mesh(ict_head) -> None:
    gaps = {v: _inner_lip_gap_mm(ict_head, viseme_pose(v)) for v in VISEMES}
    for closed in ("PP",):
        assert gaps[closed] < 0.5, gaps
    assert gaps["FF"] < 3.0
    assert gaps["aa"] > 15.0 and gaps["aa"] == max(gaps.values())
    for vowel in ("E", "O"):
        assert gaps[vowel] > 8.0
    pp, aa = viseme_pose("PP"), viseme_pose("aa")
    assert pp["jaw_rot_x"] < 0.05 < aa["jaw_rot_x"]
    assert pp["exp_mouthClose"] > 0 and aa["exp_mouthClose"] == 0
    assert viseme_pose("U")["exp_mouthPucker"] > 0.5 > viseme_pose("I")["exp_mouthPucker"]
    assert viseme_pose("I")["exp_mouthStretch_L"] > viseme_pose("U")["exp_mouthStretch_L"]


def test_every_control_is_an_ict_expression(ict_head) -> None:
    assert set(MOUTH_EXPRESSIONS) <= set(ict_head.expression_names)
    assert set(VISEME_TARGETS) == set(VISEMES)


def _vcv(consonant: str, vowel: str = "aa", c_duration: float = 0.08) -> list[VisemeSegment]:
    return [VisemeSegment("sil", 0.0, 0.2), VisemeSegment(vowel, 0.2, 0.45),
            VisemeSegment(consonant, 0.45, 0.45 + c_duration), VisemeSegment(vowel, 0.45 + c_duration, 0.75),
            VisemeSegment("sil", 0.75, 1.2)]


def test_bilabial_closes_the_lips_between_open_vowels(ict_head) -> None:
    tracks = viseme_tracks(_vcv("PP"), n_frames=30)
    frames = [{name: float(values[k]) for name, values in tracks.items()} for k in range(30)]
    gaps = np.array([_inner_lip_gap_mm(ict_head, f) for f in frames])
    assert gaps[7:10].max() > 12.0  # first /a/ (0.28-0.40 s) open
    assert gaps[11:14].min() < 1.0  # /p/ at 0.45-0.53 s: lips meet even though the jaw stays part open
    assert tracks["jaw_rot_x"][11:14].min() > 0.03  # ... because the jaw does not close for a bilabial
    assert gaps[-3:].max() < 1.5  # rest after speech


def test_coarticulation_is_smooth_and_anticipatory() -> None:
    fps = 100.0  # fine sampling to look at the shape of the track
    segments = [VisemeSegment("sil", 0.0, 0.3), VisemeSegment("DD", 0.3, 0.38), VisemeSegment("U", 0.38, 0.6),
                VisemeSegment("sil", 0.6, 1.0)]
    tracks = viseme_tracks(segments, n_frames=100, fps=fps)
    pucker = tracks["exp_mouthPucker"]
    # Lip rounding of /u/ starts during the preceding /t/ (anticipatory coarticulation).
    assert pucker[34] > 0.2
    # No jumps: per-10 ms change stays small for every control.
    for name, values in tracks.items():
        assert np.abs(np.diff(values)).max() < 0.12, name
    assert np.isfinite(np.stack(list(tracks.values()))).all()


def test_short_syllable_gaps_do_not_close_the_jaw() -> None:
    # Mandarin pinyin synthesis inserts ~40 ms pauses between syllables.
    segments = [VisemeSegment("sil", 0.0, 0.2), VisemeSegment("aa", 0.2, 0.4), VisemeSegment("sil", 0.4, 0.44),
                VisemeSegment("aa", 0.44, 0.64), VisemeSegment("sil", 0.64, 1.2)]
    jaw = viseme_tracks(segments, n_frames=120, fps=100.0)["jaw_rot_x"]
    assert jaw[42] > 0.6 * jaw[30]


def test_tracks_have_requested_length_and_reject_bad_arguments() -> None:
    tracks = viseme_tracks(_vcv("SS"), n_frames=17, fps=25)
    assert {len(v) for v in tracks.values()} == {17}
    assert set(tracks) == {"jaw_rot_x", *("exp_" + n for n in MOUTH_EXPRESSIONS)}
    assert viseme_tracks([], n_frames=0)["jaw_rot_x"].shape == (0,)
    with pytest.raises(ValueError, match="fps"):
        viseme_tracks([], n_frames=3, fps=0)
    with pytest.raises(KeyError, match="unknown viseme"):
        viseme_pose("XX")
