"""Phonemes -> visemes -> ICT-FaceKit mouth tracks, with coarticulation.

Input is a list of timed phonemes as espeak-ng reports them with IPA names (one event may carry
several segments, e.g. Mandarin ``"onɡ"`` or the diphthong ``"ɑu"``; tone digits, stress marks and
diacritics are ignored). Each segment maps to one of :data:`VISEMES` (an Oculus/MPEG-4-style set):

=====  ==========================  =====  ==========================
sil    pause                       RR     ɹ r ɻ ʀ (lip rounding)
PP     p b m (lips closed)         aa     a ɑ ɐ æ ʌ
FF     f v (lip to teeth)          E      e ɛ ə ɜ œ
TH     θ ð                         I      i ɪ ɨ ɯ j
DD     t d ɾ                       O      o ɔ ɒ ɤ
kk     k g ŋ x χ h ʔ …             U      u ʊ y ʉ ø w ɥ
CH     tʃ dʒ ʃ ʒ tɕ ɕ ʂ …          nn     n l ɲ ɳ ʎ
SS     s z ts dz
=====  ==========================  =====  ==========================

Every viseme has an articulatory target (:class:`VisemeTarget`: jaw opening in radians plus ARKit
lip shapes). Coarticulation follows Cohen & Massaro (1993): each segment exerts a dominance
``α · exp(-(Δ/τ)^c)`` that decays with the distance Δ from the segment (τ longer before it than
after it, i.e. anticipatory coarticulation) and the track is the dominance-weighted mean of the
targets, separately for the jaw and the lips so that consonants with little lip involvement take
their lip shape from neighbouring vowels. Lip *constrictions* (bilabial closure, labiodental
contact) are not averaged but taken as the maximum of per-segment ramps, so a /p/ between two
open vowels still closes the lips completely. ICT's ``mouthClose`` is a corrective shape relative
to ``jawOpen`` (ARKit semantics), so closure sets ``mouthClose`` in proportion to the current jaw.
Tracks are computed at 1 kHz, smoothed a little (articulator inertia) and sampled at the centre of
each video frame's interval ``[k/fps, (k+1)/fps)``.
"""

from __future__ import annotations

import logging
import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d

from portraittalker.errors import PortraitTalkerError
from portraittalker.head.ict import JAW_OPEN_RAD_PER_WEIGHT
from portraittalker.speech.config import CoarticulationConfig

logger = logging.getLogger(__name__)

VISEMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U")
VOWEL_VISEMES = frozenset({"aa", "E", "I", "O", "U"})
TRACK_RATE_HZ = 1000

# ---------------------------------------------------------------------------------------------
# Phoneme symbols
# ---------------------------------------------------------------------------------------------
IPA_VOWELS = frozenset("iyɨʉɯuɪʏʊeøɘɵɤoəɛœɜɞʌɔæɐaɶɑɒɚɝ")
# Multi-letter units that are one articulation (affricates, labial-velars).
_MULTI_LETTER_UNITS = ("tʃ", "dʒ", "tɕ", "dʑ", "ts", "dz", "tʂ", "dʐ", "pf", "kp", "gb", "ɡb")
_DROPPED = frozenset("ˈˌ.‿|_-'ːˑ:0123456789˥˦˧˨˩ ")
# Modifier letters that decorate the previous segment (aspiration, palatalisation, …).
_MODIFIERS = frozenset("ʰʲʷˠˤᵝⁿˡʼ˞")
_MODIFIER_SEGMENTS = {"ʲ": "j", "ʷ": "w", "ʰ": "h"}

_CONSONANT_VISEMES: dict[str, str] = {}
for _viseme, _symbols in {
    "PP": ["p", "b", "m", "ɓ", "ɸ", "β", "ʙ", "pf", "kp", "gb", "ɡb"],
    "FF": ["f", "v", "ʋ", "ɱ"],
    "TH": ["θ", "ð"],
    "DD": ["t", "d", "ɾ", "ʈ", "ɖ", "ɗ", "ɽ"],
    "kk": ["k", "g", "ɡ", "ŋ", "q", "ɢ", "x", "ɣ", "χ", "ʁ", "h", "ɦ", "ʔ", "ħ", "ʕ", "ɰ", "c", "ɟ", "ç",
           "ʝ", "ɧ", "ʜ", "ʢ"],
    "CH": ["tʃ", "dʒ", "ʃ", "ʒ", "tɕ", "dʑ", "ɕ", "ʑ", "ʂ", "ʐ", "tʂ", "dʐ"],
    "SS": ["s", "z", "ts", "dz", "ɬ", "ɮ"],
    "nn": ["n", "l", "ɫ", "ɲ", "ɳ", "ɭ", "ʎ", "ʟ", "ɺ", "ɴ"],
    "RR": ["r", "ɹ", "ɻ", "ʀ"],
    "I": ["j"],
    "U": ["w", "ɥ", "ʍ"],
}.items():
    for _symbol in _symbols:
        _CONSONANT_VISEMES[_symbol] = _viseme

_VOWEL_VISEMES: dict[str, str] = {}
for _viseme, _letters in {
    "aa": "aɑɐæʌɶä",
    "E": "eɛəɜɘɞœɚɝ",
    "I": "iɪɨɯ",
    "O": "oɔɒɤɵ",
    "U": "uʊyʏʉø",
}.items():
    for _letter in _letters:
        _VOWEL_VISEMES[_letter] = _viseme

# Symbols that have a conventional but ASCII spelling in espeak output.
_ALIASES = {"ɡ": "g", "ä": "a", "ʧ": "tʃ", "ʤ": "dʒ", "ʦ": "ts", "ʣ": "dz", "ʨ": "tɕ", "ʥ": "dʑ", "ɚ": "ə"}
_fallback_notes: set[str] = set()


def split_phoneme(name: str) -> list[str]:
    """Split one espeak IPA phoneme name into articulatory segments.

    Drops stress, length, tone digits/letters and combining diacritics; attaches modifier letters
    (ʰ ʲ …) and aspiration ``h`` after a stop to the previous segment; keeps affricates whole.
    ``"tɕh"`` -> ``["tɕ"]``, ``"onɡ"`` -> ``["o", "n", "g"]``, ``"ɑu"`` -> ``["ɑ", "u"]``, ``""`` -> ``[]``.
    """
    text = unicodedata.normalize("NFD", name)
    letters = []
    for ch in text:
        if unicodedata.combining(ch) or ch in _DROPPED:
            continue
        if ch in _MODIFIERS:
            # A modifier on its own (espeak's Japanese "ʲ" in kʲo) is a segment: the glide it marks.
            if not letters and ch in _MODIFIER_SEGMENTS:
                letters.append(_MODIFIER_SEGMENTS[ch])
            continue
        letters.append(ch)
    letters = [_ALIASES.get(ch, ch) for ch in letters]
    segments: list[str] = []
    i = 0
    while i < len(letters):
        pair = "".join(letters[i : i + 2])
        if pair in _MULTI_LETTER_UNITS:
            segments.append(pair)
            i += 2
            continue
        letter = letters[i]
        # "th", "kh", "tɕh": espeak's aspiration spelling, not a separate /h/.
        if letter == "h" and segments and segments[-1] not in IPA_VOWELS and _is_stop_or_affricate(segments[-1]):
            i += 1
            continue
        segments.append(letter)
        i += 1
    return segments


def _is_stop_or_affricate(segment: str) -> bool:
    return segment in {"p", "b", "t", "d", "k", "g", "q", "c", "ʈ", "ɖ"} or segment in _MULTI_LETTER_UNITS


def is_vowel(segment: str) -> bool:
    return bool(segment) and segment[0] in IPA_VOWELS | {"ä"}


def phoneme_to_viseme(segment: str) -> str:
    """Viseme of one articulatory segment (see :func:`split_phoneme`); ``""`` is a pause (``sil``).

    Unknown symbols fall back by their Unicode letter name (``ʮ`` "TURNED H WITH FISHHOOK AND TAIL"
    -> ``kk`` like ``h``; a letter named after a vowel -> that vowel's class), else to ``kk`` (a consonant
    with little visible lip shape); each fallback is logged once.
    """
    parts = split_phoneme(segment)
    if not parts:
        return "sil"
    base = parts[0]  # a multi-segment name is classed by its first segment
    if base in _CONSONANT_VISEMES:
        return _CONSONANT_VISEMES[base]
    if base[0] in _VOWEL_VISEMES:
        return _VOWEL_VISEMES[base[0]]
    if base[0] in _CONSONANT_VISEMES:
        return _CONSONANT_VISEMES[base[0]]
    fallback = _viseme_by_letter_name(base[0])
    if segment not in _fallback_notes:
        _fallback_notes.add(segment)
        logger.info("visemes: unknown phoneme symbol %r mapped to %s by its letter class", segment, fallback)
    return fallback


_NAMED_VOWELS = {"SCHWA": "E", "ALPHA": "aa", "EPSILON": "E", "IOTA": "I", "OMEGA": "O", "UPSILON": "U",
                 "OMICRON": "O", "AE": "aa", "OE": "E"}


def _viseme_by_letter_name(char: str) -> str:
    words = unicodedata.name(char, "").split()
    if "LETTER" in words:
        for word in words[words.index("LETTER") + 1 :]:
            if word in _NAMED_VOWELS:
                return _NAMED_VOWELS[word]
            if len(word) == 1:
                letter = word.lower()
                if letter in _VOWEL_VISEMES:
                    return _VOWEL_VISEMES[letter]
                return _CONSONANT_VISEMES.get(letter, "kk")
    return "kk"


# ---------------------------------------------------------------------------------------------
# Timed segments
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PhonemeTiming:
    """One phoneme event: IPA ``phoneme`` ("" for a pause) from ``start_s`` to ``end_s`` of the audio."""

    phoneme: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class VisemeSegment:
    viseme: str
    start_s: float
    end_s: float
    phoneme: str = ""  # the articulatory segment it came from

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class PhonemeTimingError(PortraitTalkerError, ValueError):
    """Phoneme timings are not usable (negative durations, unsorted, non-finite)."""


def phonemes_to_visemes(phonemes: Sequence[PhonemeTiming]) -> list[VisemeSegment]:
    """Map timed phonemes to timed visemes; a multi-segment event's duration is shared out
    (vowels count double, a high vowel before another vowel is a glide and counts single)."""
    segments: list[VisemeSegment] = []
    previous_end = -math.inf
    for index, event in enumerate(phonemes):
        if not (math.isfinite(event.start_s) and math.isfinite(event.end_s)) or event.end_s < event.start_s:
            raise PhonemeTimingError(f"phoneme #{index} {event.phoneme!r}: bad interval {event.start_s}..{event.end_s}")
        if event.start_s < previous_end - 1e-6:
            raise PhonemeTimingError(f"phoneme #{index} {event.phoneme!r} starts before the previous one ends")
        previous_end = event.end_s
        if event.end_s == event.start_s:
            continue
        parts = split_phoneme(event.phoneme)
        if not parts:
            segments.append(VisemeSegment("sil", event.start_s, event.end_s, ""))
            continue
        weights = []
        for k, part in enumerate(parts):
            glide = part[0] in "iuyɪʊ" and k + 1 < len(parts) and is_vowel(parts[k + 1])
            weights.append(2.0 if is_vowel(part) and not glide else 1.0)
        bounds = event.start_s + (event.end_s - event.start_s) * np.concatenate([[0.0], np.cumsum(weights)]) / sum(
            weights
        )
        for k, part in enumerate(parts):
            segments.append(VisemeSegment(phoneme_to_viseme(part), float(bounds[k]), float(bounds[k + 1]), part))
    return segments


# ---------------------------------------------------------------------------------------------
# Viseme targets -> ICT controls
# ---------------------------------------------------------------------------------------------
# Lip shapes averaged across segments; each maps onto symmetric ICT expression(s).
LIP_SHAPES: dict[str, tuple[str, ...]] = {
    "pucker": ("mouthPucker",),
    "funnel": ("mouthFunnel",),
    "stretch": ("mouthStretch_L", "mouthStretch_R"),
    "smile": ("mouthSmile_L", "mouthSmile_R"),
    "lower_down": ("mouthLowerDown_L", "mouthLowerDown_R"),
    "upper_up": ("mouthUpperUp_L", "mouthUpperUp_R"),
    "press": ("mouthPress_L", "mouthPress_R"),
    "roll_lower": ("mouthRollLower",),
    "roll_upper": ("mouthRollUpper",),
}
# ICT expression columns this module writes (besides jaw_rot_x).
MOUTH_EXPRESSIONS = tuple(sorted({name for names in LIP_SHAPES.values() for name in names} | {"mouthClose"}))
# A mouthClose weight of this fraction of the jawOpen weight brings the lips together on ICT
# (measured on the mesh: jaw 0.2 rad + mouthClose 0.56 -> inner-lip gap ~0 mm).
CLOSE_PER_JAW_WEIGHT = 0.9
# Lower lip tucked under the upper teeth (f, v).
LABIODENTAL_SHAPE = {"roll_lower": 0.55, "upper_up": 0.2}


@dataclass(frozen=True)
class VisemeTarget:
    """Articulatory target: jaw opening (rad), lip shapes (weights), constrictions in [0, 1], and
    dominance strengths of the segment over the jaw and lip channels."""

    jaw: float
    lips: dict[str, float] = field(default_factory=dict)
    closure: float = 0.0  # bilabial closure
    labiodental: float = 0.0  # lower lip against the upper teeth
    jaw_dominance: float = 0.5
    lip_dominance: float = 0.3


VISEME_TARGETS: dict[str, VisemeTarget] = {
    "sil": VisemeTarget(0.0, {}, jaw_dominance=0.35, lip_dominance=0.35),
    "PP": VisemeTarget(0.02, {"press": 0.35}, closure=1.0, jaw_dominance=0.45, lip_dominance=0.9),
    "FF": VisemeTarget(0.035, {}, labiodental=1.0, jaw_dominance=0.5, lip_dominance=0.8),
    "TH": VisemeTarget(0.06, {"lower_down": 0.15}, jaw_dominance=0.55, lip_dominance=0.4),
    "DD": VisemeTarget(0.05, {"lower_down": 0.1, "stretch": 0.1}, jaw_dominance=0.45, lip_dominance=0.15),
    "kk": VisemeTarget(0.07, {"stretch": 0.08}, jaw_dominance=0.35, lip_dominance=0.08),
    "CH": VisemeTarget(0.035, {"funnel": 0.3, "pucker": 0.35, "upper_up": 0.15, "lower_down": 0.1},
                       jaw_dominance=0.5, lip_dominance=0.75),
    "SS": VisemeTarget(0.025, {"stretch": 0.3, "smile": 0.12, "lower_down": 0.15, "upper_up": 0.1},
                       jaw_dominance=0.6, lip_dominance=0.5),
    "nn": VisemeTarget(0.05, {"stretch": 0.08}, jaw_dominance=0.4, lip_dominance=0.12),
    "RR": VisemeTarget(0.045, {"funnel": 0.15, "pucker": 0.35}, jaw_dominance=0.45, lip_dominance=0.55),
    "aa": VisemeTarget(0.18, {"lower_down": 0.2, "stretch": 0.1}, jaw_dominance=0.9, lip_dominance=0.6),
    "E": VisemeTarget(0.1, {"stretch": 0.35, "smile": 0.1, "lower_down": 0.2, "upper_up": 0.1},
                      jaw_dominance=0.8, lip_dominance=0.6),
    "I": VisemeTarget(0.05, {"stretch": 0.45, "smile": 0.3, "lower_down": 0.1, "upper_up": 0.1},
                      jaw_dominance=0.75, lip_dominance=0.7),
    "O": VisemeTarget(0.09, {"funnel": 0.45, "pucker": 0.25}, jaw_dominance=0.85, lip_dominance=0.8),
    "U": VisemeTarget(0.04, {"pucker": 0.75, "funnel": 0.15}, jaw_dominance=0.75, lip_dominance=0.85),
}


def controls_from_articulation(
    jaw: np.ndarray, lips: dict[str, np.ndarray], closure: np.ndarray, labiodental: np.ndarray
) -> dict[str, np.ndarray]:
    """Articulatory tracks -> ICT motion columns ``jaw_rot_x`` and ``exp_mouth*`` (all same shape)."""
    jaw = np.maximum(jaw, 0.0)
    jaw_weight = jaw / JAW_OPEN_RAD_PER_WEIGHT
    zeros = np.zeros_like(jaw)
    shape = {name: lips.get(name, zeros).copy() for name in LIP_SHAPES}
    for name, amount in LABIODENTAL_SHAPE.items():
        shape[name] = shape[name] + amount * labiodental
    # Lip-opening shapes would fight a closure.
    open_scale = 1.0 - np.clip(np.maximum(closure, 0.6 * labiodental), 0.0, 1.0)
    shape["lower_down"] *= open_scale
    shape["upper_up"] = shape["upper_up"] * np.maximum(open_scale, labiodental > 0)
    mouth_close = CLOSE_PER_JAW_WEIGHT * jaw_weight * np.clip(closure + 0.5 * labiodental, 0.0, 1.0)
    columns = {"jaw_rot_x": jaw.astype(np.float32), "exp_mouthClose": np.clip(mouth_close, 0, 1).astype(np.float32)}
    for name, ict_names in LIP_SHAPES.items():
        for ict_name in ict_names:
            columns["exp_" + ict_name] = np.clip(shape[name], 0.0, 1.0).astype(np.float32)
    return columns


def viseme_pose(viseme: str, articulation: float = 1.0) -> dict[str, float]:
    """ICT controls of ``viseme`` held on its own (no coarticulation): ``jaw_rot_x`` and ``exp_*``."""
    if viseme not in VISEME_TARGETS:
        raise KeyError(f"unknown viseme {viseme!r}; known: {', '.join(VISEMES)}")
    target = VISEME_TARGETS[viseme]
    one = np.ones(1)
    columns = controls_from_articulation(
        target.jaw * articulation * one,
        {name: target.lips.get(name, 0.0) * articulation * one for name in LIP_SHAPES},
        target.closure * one,
        target.labiodental * one,
    )
    return {name: float(values[0]) for name, values in columns.items()}


def _dominance(times: np.ndarray, start: float, end: float, config: CoarticulationConfig) -> np.ndarray:
    before = np.clip(start - times, 0.0, None) / config.anticipation_s
    after = np.clip(times - end, 0.0, None) / config.carryover_s
    return np.exp(-((before + after) ** config.shape_exponent))


def _constriction(times: np.ndarray, start: float, end: float, config: CoarticulationConfig) -> np.ndarray:
    """1 while held, cosine ramps of ``constriction_ramp_s`` either side."""
    if end - start < config.min_constriction_s:
        middle = 0.5 * (start + end)
        start, end = middle - config.min_constriction_s / 2, middle + config.min_constriction_s / 2
    distance = np.clip(start - times, 0.0, None) + np.clip(times - end, 0.0, None)
    ramp = np.clip(distance / config.constriction_ramp_s, 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * ramp))


def articulation_tracks(
    segments: Sequence[VisemeSegment],
    times: np.ndarray,
    config: CoarticulationConfig | None = None,
    articulation: float = 1.0,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Coarticulated (jaw, lip shapes, closure, labiodental) sampled at ``times`` (seconds).

    Outside all segments (and between them) the dominance of ``sil`` at rest fills in, so the
    mouth relaxes in pauses and before/after speech.
    """
    config = config or CoarticulationConfig()
    times = np.asarray(times, dtype=np.float64)
    rest = VISEME_TARGETS["sil"]
    # A weak everywhere-present rest target keeps the weighted mean defined far from speech.
    jaw_num = np.full_like(times, 1e-3 * rest.jaw)
    jaw_den = np.full_like(times, 1e-3)
    lip_num = {name: np.zeros_like(times) for name in LIP_SHAPES}
    lip_den = np.full_like(times, 1e-3)
    closure = np.zeros_like(times)
    labiodental = np.zeros_like(times)
    segments = _merge_pauses(segments)
    spoken = [k for k, s in enumerate(segments) if s.viseme != "sil"]
    for k, segment in enumerate(segments):
        if segment.viseme not in VISEME_TARGETS:
            raise KeyError(f"unknown viseme {segment.viseme!r} in segment {segment}")
        target = VISEME_TARGETS[segment.viseme]
        shape = _dominance(times, segment.start_s, segment.end_s, config)
        if segment.viseme == "sil" and spoken and spoken[0] < k < spoken[-1]:
            # espeak puts tiny pauses between syllables (Mandarin pinyin); they must not snap the mouth shut.
            shape = shape * min(1.0, segment.duration_s / config.short_pause_s)
        jaw_weight = target.jaw_dominance * shape
        jaw_num += jaw_weight * target.jaw * articulation
        jaw_den += jaw_weight
        lip_weight = target.lip_dominance * shape
        lip_den += lip_weight
        for name, value in target.lips.items():
            lip_num[name] += lip_weight * value * articulation
        if target.closure > 0:
            closure = np.maximum(closure, target.closure * _constriction(times, segment.start_s, segment.end_s, config))
        if target.labiodental > 0:
            labiodental = np.maximum(
                labiodental, target.labiodental * _constriction(times, segment.start_s, segment.end_s, config)
            )
    jaw = jaw_num / jaw_den
    lips = {name: lip_num[name] / lip_den for name in LIP_SHAPES}
    return jaw, lips, closure, labiodental


def _merge_pauses(segments: Sequence[VisemeSegment]) -> list[VisemeSegment]:
    """Join back-to-back pauses (espeak emits several in a row) so a pause's length is its real length."""
    merged: list[VisemeSegment] = []
    for segment in segments:
        if merged and segment.viseme == "sil" == merged[-1].viseme and segment.start_s <= merged[-1].end_s + 1e-9:
            merged[-1] = VisemeSegment("sil", merged[-1].start_s, max(segment.end_s, merged[-1].end_s))
        else:
            merged.append(segment)
    return merged


def viseme_tracks(
    segments: Sequence[VisemeSegment],
    n_frames: int,
    fps: float = 25.0,
    config: CoarticulationConfig | None = None,
    articulation: float = 1.0,
) -> dict[str, np.ndarray]:
    """Per-frame ICT mouth controls (``jaw_rot_x``, ``exp_mouth*``; arrays of length ``n_frames``).

    ``articulation`` scales jaw and lip-shape amplitudes (a speaker's articulation style;
    constrictions always close fully).
    """
    if n_frames < 0:
        raise ValueError(f"viseme_tracks: n_frames must be >= 0, got {n_frames}")
    if fps <= 0:
        raise ValueError(f"viseme_tracks: fps must be positive, got {fps}")
    config = config or CoarticulationConfig()
    if n_frames == 0:
        return {name: np.zeros(0, np.float32) for name in ("jaw_rot_x", *("exp_" + n for n in MOUTH_EXPRESSIONS))}
    duration = n_frames / fps
    fine_times = np.arange(0.0, duration, 1.0 / TRACK_RATE_HZ)
    jaw, lips, closure, labiodental = articulation_tracks(segments, fine_times, config, articulation)
    if config.smoothing_s > 0:
        sigma = config.smoothing_s * TRACK_RATE_HZ
        jaw = gaussian_filter1d(jaw, sigma, mode="nearest")
        lips = {name: gaussian_filter1d(values, sigma, mode="nearest") for name, values in lips.items()}
        closure = gaussian_filter1d(closure, sigma, mode="nearest")
        labiodental = gaussian_filter1d(labiodental, sigma, mode="nearest")
    frame_centres = (np.arange(n_frames) + 0.5) / fps
    index = np.clip(np.round(frame_centres * TRACK_RATE_HZ).astype(np.int64), 0, len(fine_times) - 1)
    return controls_from_articulation(
        jaw[index], {name: values[index] for name, values in lips.items()}, closure[index], labiodental[index]
    )


def phoneme_tracks(
    phonemes: Iterable[PhonemeTiming],
    n_frames: int,
    fps: float = 25.0,
    config: CoarticulationConfig | None = None,
    articulation: float = 1.0,
) -> dict[str, np.ndarray]:
    """Convenience: :func:`phonemes_to_visemes` then :func:`viseme_tracks`."""
    return viseme_tracks(phonemes_to_visemes(list(phonemes)), n_frames, fps, config, articulation)
