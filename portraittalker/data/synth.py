"""Synthetic multilingual talking-head corpus with exact audio-motion alignment.

Per clip: a sentence in the clip's language is spoken by espeak-ng through its C library, whose
synthesis callback reports every phoneme with its sample position in the audio it returns (so
timings are exact, not estimated; each synthesis runs in a fresh worker process because the library
is not reproducible across calls within one process — see ``_espeak_worker.py``); phonemes become
visemes and coarticulated ICT mouth tracks (:mod:`portraittalker.visemes`); seeded blinks, head
motion and gaze are added; a random avatar (:class:`~portraittalker.avatar.designer.AttributeDesigner`
from a random attribute prompt) is rendered with :class:`~portraittalker.render.gl.GLRenderer`; the
frames and the speech are written as a 25 fps MP4.

Corpus layout (``out_dir``), readable by ``prepare`` as a ``folder`` source (``clips/``) and as a
``synthetic`` source (the tables):

- ``clips/<clip_id>.mp4``: H.264 + AAC, ``image_size``², 25 fps, audio = the WAV below.
- ``audio/<clip_id>.wav``: 16 kHz mono float32, exactly ``n_frames * 640`` samples.
- ``clips.parquet``: the prepare contract's clip table (:data:`~portraittalker.data.tables.CLIP_COLUMNS`),
  ``source="synthetic"``, ``status="ok"``, ``speaker_id`` = avatar id, split by speaker.
- ``truth.parquet``: ``clip_id, frame, time_s`` + ground-truth motion-schema columns
  (:mod:`portraittalker.motion.schema`), frame ``k`` showing the interval ``[k/25, (k+1)/25)``.
- ``phonemes.parquet``: ``clip_id, index, phoneme, viseme, start_s, end_s`` (espeak's events).
- ``corpus.parquet``: manifest — language, voice, text, avatar prompt/seed, identity, camera, …
- ``parts/<clip_id>.json|.truth.parquet|.phonemes.parquet``: per-clip results; a finished clip is
  skipped on re-run when its recorded config hash matches.

All parquet files carry :data:`~portraittalker.data.tables.DATASET_METADATA_KEY` metadata.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import math
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from pydantic import BaseModel, Field
from scipy.ndimage import gaussian_filter1d
from scipy.signal import resample_poly
from tqdm.auto import tqdm

from portraittalker.audio import DEFAULT_SAMPLE_RATE, Audio, write_wav
from portraittalker.data.config import SynthCorpusConfig
from portraittalker.data.tables import (
    CAMERA_COLUMN,
    CLIP_COLUMNS,
    CLIPS_FILE,
    DATASET_METADATA_KEY,
    IDENTITY_COLUMN,
    TRUTH_FILE,
    DatasetMeta,
    check_clips_table,
    write_table,
)
from portraittalker.errors import PortraitTalkerError
from portraittalker.head.base import HeadModel, HeadParams
from portraittalker.head.ict import ICTFaceKit
from portraittalker.io_utils import atomic_path, write_text_atomic
from portraittalker.motion.baseline import BaselineLipSyncConfig, blink_track, smooth_noise
from portraittalker.motion.schema import (
    EYE_GAZE_COLUMNS,
    FPS,
    HEAD_ROT_COLUMNS,
    HEAD_TRANS_COLUMNS,
    MotionTable,
    motion_columns,
)
from portraittalker.render.gl import GLRenderer, GLRendererConfig
from portraittalker.render.scene import Camera
from portraittalker.video import VideoWriter
from portraittalker.visemes import (
    MOUTH_EXPRESSIONS,
    VOWEL_VISEMES,
    PhonemeTiming,
    VisemeSegment,
    phoneme_to_viseme,
    phonemes_to_visemes,
    viseme_tracks,
)

logger = logging.getLogger(__name__)


# =============================================================================================
# espeak-ng through its C library: audio + phoneme events
# =============================================================================================
class EspeakError(PortraitTalkerError, RuntimeError):
    """libespeak-ng is missing or rejected a request."""


class UnknownLanguageError(EspeakError, ValueError):
    """espeak-ng has no voice for a requested language; the message lists the available ones."""


_WORKER = Path(__file__).with_name("_espeak_worker.py")
_WORKER_TIMEOUT_S = 120.0


def _run_worker(request: dict) -> tuple[dict, bytes]:
    """Run one espeak-ng request in a fresh process (see ``_espeak_worker.py`` for why)."""
    try:
        # -I: isolated mode, so user site-packages or PYTHON* variables cannot change the worker.
        result = subprocess.run(
            [sys.executable, "-I", str(_WORKER)], input=json.dumps(request).encode("utf-8"),
            capture_output=True, timeout=_WORKER_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise EspeakError(f"espeak-ng worker timed out after {_WORKER_TIMEOUT_S:g} s for {request}") from error
    header_line, _, payload = result.stdout.partition(b"\n")
    try:
        header = json.loads(header_line or b"{}")
    except ValueError:
        header = {}
    if "error" in header:
        message = header["error"]
        if "has no voice" in message:
            raise UnknownLanguageError(message)
        raise EspeakError(message)
    if result.returncode != 0 or not header:
        tail = result.stderr.decode("utf-8", "replace")[-2000:]
        raise EspeakError(f"espeak-ng worker failed (exit {result.returncode}): {tail}")
    return header, payload


@functools.cache
def espeak_languages() -> dict[str, str]:
    """Installed espeak-ng languages: code (``en``, ``ko``, ``cmn``, ``ja``, ``de``, …) -> voice identifier."""
    header, _ = _run_worker({"op": "voices"})
    return dict(header["languages"])


@dataclass
class SpeechWithPhonemes:
    """Synthesised speech and its phonemes (``""`` = pause); times in seconds of ``audio``."""

    text: str
    voice: str
    audio: Audio
    phonemes: list[PhonemeTiming]


class SpeechParams(BaseModel):
    """espeak-ng prosody for one speaker."""

    rate_wpm: int = Field(150, ge=80, le=450, description="words per minute")
    pitch: int = Field(50, ge=0, le=99, description="base pitch, espeak scale 0-99")
    pitch_range: int = Field(50, ge=0, le=99, description="intonation range, espeak scale 0-99")
    variant: str | None = Field(None, description="espeak voice variant, e.g. f2, m3 (None = default)")


def synthesize_with_phonemes(
    text: str,
    voice: str,
    params: SpeechParams | None = None,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
) -> SpeechWithPhonemes:
    """Speak ``text`` with espeak-ng voice ``voice`` (e.g. ``en``, ``ko``, ``cmn-latn-pinyin``).

    Returns audio resampled to ``sample_rate`` (espeak produces 22.05 kHz) and one
    :class:`PhonemeTiming` per espeak phoneme event (IPA names), contiguous from the first event to
    the end of the audio; the time before the first event is a pause.
    """
    if not text or not text.strip():
        raise EspeakError("synthesize_with_phonemes: text is empty")
    params = params or SpeechParams()
    voice_name = f"{voice}+{params.variant}" if params.variant else voice
    header, payload = _run_worker({"op": "synth", "text": text, "voice": voice_name, "rate": params.rate_wpm,
                                   "pitch": params.pitch, "range": params.pitch_range})
    native_rate = int(header["sample_rate"])
    raw = np.frombuffer(payload[: 2 * int(header["n_samples"])], dtype="<i2")
    if raw.size == 0:
        raise EspeakError(f"espeak-ng produced no audio for {text!r} with voice {voice_name!r}")
    native_duration = raw.size / native_rate
    samples = raw.astype(np.float32) / 32768.0
    divisor = math.gcd(sample_rate, native_rate)
    samples = resample_poly(samples, sample_rate // divisor, native_rate // divisor).astype(np.float32)
    audio = Audio(np.clip(samples, -1.0, 1.0), sample_rate)

    starts: list[tuple[float, str]] = []
    for kind, sample, name in header["events"]:
        if kind == "phoneme":
            starts.append((min(sample / native_rate, native_duration), name))
    if not starts or starts[0][0] > 0:
        starts.insert(0, (0.0, ""))
    phonemes = []
    for k, (start, name) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else native_duration
        if end > start:
            phonemes.append(PhonemeTiming(name, float(start), float(end)))
    return SpeechWithPhonemes(text=text, voice=voice_name, audio=audio, phonemes=phonemes)


# =============================================================================================
# Built-in sentences (written for this corpus)
# =============================================================================================
@dataclass(frozen=True)
class Sentence:
    """``text`` is what the clip says (stored in the manifest); ``speech`` is what espeak-ng reads
    (pinyin for Mandarin, kana for Japanese: this espeak-ng build reads neither hanzi nor kanji)."""

    text: str
    speech: str


@dataclass(frozen=True)
class LanguageSpec:
    code: str
    voice: str  # espeak-ng voice that reads ``Sentence.speech``
    sentences: tuple[Sentence, ...]


def _plain(*texts: str) -> tuple[Sentence, ...]:
    return tuple(Sentence(t, t) for t in texts)


BUILTIN_LANGUAGES: dict[str, LanguageSpec] = {
    "en": LanguageSpec("en", "en-us", _plain(
        "The morning light came slowly through the kitchen window.",
        "Could you please pass me the blue cup on the table?",
        "We walked along the river and talked about our plans for the summer.",
        "My brother bought a small boat last year, and now he fishes every weekend.",
        "Thank you very much for coming to see us today.",
        "The museum opens at nine, so we should leave before eight.",
        "She reads a chapter of her favourite book every night before bed.",
        "Fresh bread and warm soup are perfect on a cold and rainy day.",
        "I think the meeting went well, but we still have a lot of work to do.",
        "Please remember to water the plants while I am away.",
    )),
    "ko": LanguageSpec("ko", "ko", _plain(
        "오늘 아침에는 날씨가 정말 맑고 따뜻했어요.",
        "저는 주말마다 친구들과 공원에서 산책을 해요.",
        "이 버스가 시청까지 가는지 알려 주시겠어요?",
        "어제 본 영화는 생각보다 훨씬 재미있었어요.",
        "우리 가족은 매년 여름에 바다로 여행을 가요.",
        "도서관은 오후 여섯 시에 문을 닫습니다.",
        "따뜻한 차 한 잔 마시면서 잠깐 쉬어 갈까요?",
        "내일 회의는 열 시에 시작하니까 늦지 마세요.",
        "할머니께서 만들어 주신 김치찌개가 제일 맛있어요.",
        "새로운 언어를 배우는 것은 어렵지만 즐거운 일이에요.",
    )),
    "cmn": LanguageSpec("cmn", "cmn-latn-pinyin", (
        Sentence(
            "今天天气很好，我们去公园散步吧。",
            "jin1 tian1 tian1 qi4 hen3 hao3, wo3 men5 qu4 gong1 yuan2 san4 bu4 ba5.",
        ),
        Sentence("请问，去火车站怎么走？", "qing3 wen4, qu4 huo3 che1 zhan4 zen3 me5 zou3?"),
        Sentence("我每天早上喝一杯热茶。", "wo3 mei3 tian1 zao3 shang5 he1 yi4 bei1 re4 cha2."),
        Sentence(
            "这本书非常有意思，你应该看看。",
            "zhe4 ben3 shu1 fei1 chang2 you3 yi4 si5, ni3 ying1 gai1 kan4 kan5.",
        ),
        Sentence("周末我们一起去看电影吧。", "zhou1 mo4 wo3 men5 yi4 qi3 qu4 kan4 dian4 ying3 ba5."),
        Sentence("他的中文说得越来越好了。", "ta1 de5 zhong1 wen2 shuo1 de5 yue4 lai2 yue4 hao3 le5."),
        Sentence(
            "明天早上八点开会，请不要迟到。",
            "ming2 tian1 zao3 shang5 ba1 dian3 kai1 hui4, qing3 bu2 yao4 chi2 dao4.",
        ),
        Sentence(
            "妈妈做的饺子是世界上最好吃的。",
            "ma1 ma5 zuo4 de5 jiao3 zi5 shi4 shi4 jie4 shang4 zui4 hao3 chi1 de5.",
        ),
        Sentence("外面下雨了，别忘了带伞。", "wai4 mian4 xia4 yu3 le5, bie2 wang4 le5 dai4 san3."),
        Sentence(
            "学习一门新的语言需要很多耐心。",
            "xue2 xi2 yi4 men2 xin1 de5 yu3 yan2 xu1 yao4 hen3 duo1 nai4 xin1.",
        ),
    )),
    # Topic particles は/へ are written わ/え in the spoken form: espeak-ng reads kana literally.
    "ja": LanguageSpec("ja", "ja", (
        Sentence("今日はとても良い天気ですね。", "きょうわ とても いい てんき ですね。"),
        Sentence("駅までの道を教えていただけますか。", "えきまでの みちを おしえて いただけますか。"),
        Sentence("毎朝、コーヒーを一杯飲みます。", "まいあさ、 こーひーを いっぱい のみます。"),
        Sentence("週末は友達と映画を見に行きました。", "しゅうまつわ ともだちと えいがを みに いきました。"),
        Sentence("この料理はとてもおいしいです。", "この りょうりわ とても おいしいです。"),
        Sentence("明日の会議は十時から始まります。", "あしたの かいぎわ じゅうじから はじまります。"),
        Sentence(
            "雨が降っているので、傘を持って行ってください。",
            "あめが ふっているので、 かさを もって いってください。",
        ),
        Sentence("日本語を勉強するのは楽しいです。", "にほんごを べんきょうするのわ たのしいです。"),
        Sentence("図書館は午後六時に閉まります。", "としょかんわ ごご ろくじに しまります。"),
        Sentence("夏休みに家族と海へ行く予定です。", "なつやすみに かぞくと うみえ いく よていです。"),
    )),
    "de": LanguageSpec("de", "de", _plain(
        "Guten Morgen, wie geht es dir heute?",
        "Wir fahren am Wochenende mit dem Zug an die Ostsee.",
        "Das Buch, das du mir empfohlen hast, war wirklich spannend.",
        "Kannst du mir bitte sagen, wie spät es ist?",
    )),
    "fr": LanguageSpec("fr", "fr", _plain(
        "Bonjour, je voudrais un café et un croissant, s'il vous plaît.",
        "Nous allons au marché tous les samedis matin.",
        "Il fait beau aujourd'hui, allons nous promener au bord de la mer.",
        "Mon frère habite à Lyon depuis trois ans.",
    )),
    "es": LanguageSpec("es", "es", _plain(
        "Buenos días, ¿cómo estás hoy?",
        "Mañana vamos a visitar a mis abuelos en el pueblo.",
        "Me gusta mucho leer un libro junto a la ventana.",
        "¿Puedes ayudarme a llevar estas cajas a la cocina?",
    )),
}


class UnknownSentencesError(PortraitTalkerError, ValueError):
    """A requested language has no sentence list (built-in or in ``SynthCorpusConfig.sentences``)."""


def resolve_languages(languages: Sequence[str], config: SynthCorpusConfig) -> list[LanguageSpec]:
    """Language specs for ``languages``; clear errors for unknown espeak-ng languages or missing sentences."""
    if not languages:
        raise ValueError("synth-corpus: no languages requested")
    installed = espeak_languages()
    specs: list[LanguageSpec] = []
    for code in languages:
        builtin = BUILTIN_LANGUAGES.get(code)
        voice = config.voices.get(code) or (builtin.voice if builtin else code)
        if voice not in installed and voice.split("+")[0] not in installed:
            raise UnknownLanguageError(
                f"espeak-ng has no voice for language {code!r} (voice {voice!r}); installed languages: "
                f"{', '.join(sorted(installed))}"
            )
        if code in config.sentences:
            entries = config.sentences[code]
            sentences = tuple(Sentence(e, e) if isinstance(e, str) else Sentence(*e) for e in entries)
        elif builtin is not None:
            sentences = builtin.sentences
        else:
            sentences = ()
        if not sentences:
            raise UnknownSentencesError(
                f"no sentences for language {code!r}: built-in lists exist for {', '.join(BUILTIN_LANGUAGES)}; "
                f"add some with SynthCorpusConfig.sentences[{code!r}]"
            )
        specs.append(LanguageSpec(code, voice, sentences))
    return specs


# =============================================================================================
# Planning: speakers and clips (all randomness derives from (seed, names), never from order of work)
# =============================================================================================
# Prompt words the avatar designer understands (portraittalker.avatar.vocabulary); adults only,
# natural hair colours weighted up so most speakers look like ordinary people.
_AGES = ("young", "adult", "middle-aged", "old", "elderly")
_SKIN = ("pale", "fair", "light", "olive", "tan", "brown", "dark")
_HAIR_COLOURS = ("black", "black", "dark brown", "dark brown", "brown", "light brown", "blonde", "auburn", "red",
                 "grey", "white", "salt-and-pepper")
_HAIR_STYLES = ("short", "long", "bald")
_FACIAL_HAIR = ("", "", "stubble", "a moustache", "a goatee", "a beard")
_EYES = ("blue", "green", "hazel", "amber", "brown", "brown", "dark brown", "grey")
_SCENES = ("plain", "studio", "city", "beach", "forest", "office", "sky", "library")
_LIGHTING = ("soft", "studio", "natural", "natural", "dramatic")
_FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5")
_MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")


def _rng(seed: int, *names: object) -> np.random.Generator:
    """Independent stream per (seed, names): stable across runs, platforms and plan changes."""
    digest = hashlib.sha256(json.dumps([seed, *map(str, names)]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@dataclass(frozen=True)
class SpeakerProfile:
    speaker_index: int
    speaker_id: str
    prompt: str
    avatar_seed: int
    gender: str
    speech: SpeechParams
    articulation: float
    head_motion_scale: float
    smile: float


def speaker_profile(seed: int, speaker_index: int, config: SynthCorpusConfig) -> SpeakerProfile:
    """Random attributes (appearance prompt, voice, style) of one synthetic speaker."""
    rng = _rng(seed, "speaker", speaker_index)
    gender = str(rng.choice(("woman", "man")))
    age = str(rng.choice(_AGES))
    style = str(rng.choice(_HAIR_STYLES))
    hair = "bald" if style == "bald" else f"{style} {rng.choice(_HAIR_COLOURS)} hair"
    if gender == "woman" and style == "bald":
        hair = f"long {rng.choice(_HAIR_COLOURS)} hair"
    article = "an" if age[0] in "aeiou" else "a"
    prompt = f"{article} {age} {gender} with {rng.choice(_SKIN)} skin, {hair}, {rng.choice(_EYES)} eyes"
    facial_hair = str(rng.choice(_FACIAL_HAIR)) if gender == "man" else ""
    if facial_hair:
        prompt += f", {facial_hair}"
    prompt += f", {rng.choice(_SCENES)} background, {rng.choice(_LIGHTING)} lighting"
    variants = _FEMALE_VARIANTS if gender == "woman" else _MALE_VARIANTS
    pitch_low, pitch_high = config.pitch
    if gender == "woman":  # upper part of the pitch range
        pitch_low = (pitch_low + pitch_high) // 2
    else:
        pitch_high = (pitch_low + pitch_high) // 2
    speech = SpeechParams(
        rate_wpm=int(rng.integers(config.rate_wpm[0], config.rate_wpm[1] + 1)),
        pitch=int(rng.integers(pitch_low, pitch_high + 1)),
        pitch_range=int(rng.integers(config.pitch_range[0], config.pitch_range[1] + 1)),
        variant=str(rng.choice(variants)),
    )
    return SpeakerProfile(
        speaker_index=speaker_index,
        speaker_id=f"synth-s{seed}-{speaker_index:04d}",
        prompt=prompt,
        avatar_seed=int(rng.integers(0, 2**31 - 1)),
        gender=gender,
        speech=speech,
        articulation=float(rng.uniform(*config.articulation)),
        head_motion_scale=float(rng.uniform(*config.head_motion_scale)),
        smile=float(rng.uniform(0.0, config.smile_max)),
    )


@dataclass(frozen=True)
class ClipPlan:
    clip_id: str
    language: str
    index: int  # within the language
    speaker_index: int
    sentence_indices: tuple[int, ...]


def plan_corpus(
    languages: Sequence[LanguageSpec], clips_per_language: int, seed: int, config: SynthCorpusConfig
) -> list[ClipPlan]:
    """Clip order interleaves languages so one speaker (``clips_per_speaker`` consecutive clips)
    speaks several of them, as multilingual speakers do."""
    if clips_per_language < 1:
        raise ValueError(f"synth-corpus: clips_per_language must be >= 1, got {clips_per_language}")
    plans: list[ClipPlan] = []
    for index in range(clips_per_language):
        for spec in languages:
            rng = _rng(seed, "sentences", spec.code, index)
            count = min(config.sentences_per_clip, len(spec.sentences))
            chosen = tuple(int(i) for i in rng.choice(len(spec.sentences), size=count, replace=False))
            plans.append(ClipPlan(
                clip_id=f"synth_{spec.code}_{index:04d}",
                language=spec.code,
                index=index,
                speaker_index=len(plans) // config.clips_per_speaker,
                sentence_indices=chosen,
            ))
    return plans


def assign_speaker_splits(speaker_ids: Sequence[str], seed: int, val_fraction: float, test_fraction: float
                          ) -> dict[str, str]:
    """train/val/test per speaker (never a speaker in two splits); val and test get at least one
    speaker each when there are three or more speakers and the fraction is positive."""
    unique = sorted(set(speaker_ids))
    order = [unique[i] for i in _rng(seed, "splits").permutation(len(unique))]
    n = len(order)
    n_val = round(n * val_fraction)
    n_test = round(n * test_fraction)
    if n >= 3:
        n_val = max(n_val, 1 if val_fraction > 0 else 0)
        n_test = max(n_test, 1 if test_fraction > 0 else 0)
    n_val, n_test = min(n_val, max(n - 1, 0)), min(n_test, max(n - 1 - n_val, 0))
    splits = {}
    for k, speaker in enumerate(order):
        splits[speaker] = "val" if k < n_val else "test" if k < n_val + n_test else "train"
    return splits


# =============================================================================================
# Motion: visemes + blinks + head motion + gaze + brows/smile -> motion table
# =============================================================================================
def _speaking_activity(segments: Sequence[VisemeSegment], n_frames: int, fps: float) -> np.ndarray:
    """0..1 per frame: speech (not a pause) around the frame, smoothed over ~0.3 s."""
    active = np.zeros(n_frames)
    for segment in segments:
        if segment.viseme != "sil":
            first, last = int(segment.start_s * fps), math.ceil(segment.end_s * fps)
            active[max(first, 0) : max(last, 0)] = 1.0
    return np.clip(gaussian_filter1d(active, sigma=0.15 * fps, mode="nearest") * 1.5, 0.0, 1.0)


def _gaze_track(n_frames: int, fps: float, rng: np.random.Generator, config: SynthCorpusConfig) -> np.ndarray:
    """(n_frames, 2) yaw/pitch: fixations joined by quick saccades."""
    gaze = np.zeros((n_frames, 2))
    t, target = 0.0, np.zeros(2)
    times = np.arange(n_frames) / fps
    previous = np.zeros(2)
    while t < n_frames / fps:
        target = np.clip(rng.normal(0.0, config.gaze_std_rad, 2) * [1.0, 0.6], -0.3, 0.3)
        ramp = np.clip((times - t) / config.saccade_s, 0.0, 1.0)[:, None]
        later = times >= t
        gaze[later] = (previous + (target - previous) * ramp)[later]
        previous = target
        t += rng.uniform(*config.fixation_s)
    return gaze


def _brow_track(segments: Sequence[VisemeSegment], n_frames: int, fps: float, rng: np.random.Generator,
                config: SynthCorpusConfig) -> np.ndarray:
    """Eyebrow raises (raised-cosine bumps) at random moments of speech."""
    brows = np.zeros(n_frames)
    times = np.arange(n_frames) / fps
    speech_time = sum(s.duration_s for s in segments if s.viseme != "sil")
    n_raises = rng.poisson(config.brow_raise_per_s * speech_time)
    spoken = [s for s in segments if s.viseme in VOWEL_VISEMES]
    for _ in range(n_raises if spoken else 0):
        anchor = spoken[int(rng.integers(len(spoken)))]
        centre, width = 0.5 * (anchor.start_s + anchor.end_s), rng.uniform(0.4, 0.9)
        bump = 0.5 * (1 + np.cos(np.pi * np.clip(np.abs(times - centre) / (width / 2), 0, 1)))
        brows = np.maximum(brows, rng.uniform(0.2, 1.0) * config.brow_raise_max * bump)
    return brows


def synthesize_motion(
    segments: Sequence[VisemeSegment],
    n_frames: int,
    head: HeadModel,
    speaker: SpeakerProfile,
    rng: np.random.Generator,
    config: SynthCorpusConfig | None = None,
    fps: float = FPS,
) -> MotionTable:
    """Ground-truth motion for one clip: coarticulated visemes (speaker's articulation), blinks,
    head rotation/translation (more while speaking), gaze fixations with head compensation, a
    resting smile and eyebrow raises. ``head`` must have ICT's ARKit mouth expressions."""
    config = config or SynthCorpusConfig()
    missing = [n for n in MOUTH_EXPRESSIONS if n not in head.expression_names]
    if missing:
        raise ValueError(
            f"synth-corpus needs a head model with ARKit mouth expressions (ICT-FaceKit); {head.name!r} lacks "
            f"{missing[:5]}"
        )
    table = MotionTable.zeros(n_frames, head, fps)
    data = table.frame_data
    mouth = viseme_tracks(segments, n_frames, fps, config.coarticulation, articulation=speaker.articulation)
    for column, values in mouth.items():
        data[column] = values

    # Resting smile (slowly varying) and cheek raise that goes with it.
    smile_noise = smooth_noise(rng, n_frames, 1, sigma_frames=1.5 * fps)[:, 0] if n_frames else np.zeros(0)
    smile = np.clip(speaker.smile * (1.0 + 0.3 * smile_noise), 0.0, 1.0)
    for side in ("L", "R"):
        data[f"exp_mouthSmile_{side}"] = np.clip(data[f"exp_mouthSmile_{side}"] + smile, 0.0, 1.0)
        data[f"exp_cheekSquint_{side}"] = 0.4 * smile
    brows = _brow_track(segments, n_frames, fps, rng, config)
    for side in ("L", "R"):
        data[f"exp_browInnerUp_{side}"] = brows
        data[f"exp_browOuterUp_{side}"] = 0.7 * brows

    blink_config = BaselineLipSyncConfig(
        fps=int(fps), blink_interval_mean_s=config.blink_interval_mean_s,
        blink_interval_min_s=config.blink_interval_min_s, blink_duration_s=config.blink_duration_s,
    )
    blink = blink_track(n_frames, blink_config, rng)
    data["eye_blink_l"] = blink
    data["eye_blink_r"] = blink

    if n_frames:
        activity = _speaking_activity(segments, n_frames, fps)
        envelope = (config.head_idle_scale + (1.0 - config.head_idle_scale) * activity)[:, None]
        sigma = config.head_motion_timescale_s * fps
        rotation = smooth_noise(rng, n_frames, 3, sigma) * np.radians(config.head_rotation_std_deg)
        rotation *= envelope * speaker.head_motion_scale
        translation = smooth_noise(rng, n_frames, 3, sigma) * np.asarray(config.head_translation_std_m)
        translation *= envelope * speaker.head_motion_scale
        data[HEAD_ROT_COLUMNS] = rotation
        data[HEAD_TRANS_COLUMNS] = translation
        gaze = _gaze_track(n_frames, fps, rng, config)
        # Eyes partly counter-rotate the head (pitch + = face down, so the eyes look up).
        gaze[:, 0] -= config.gaze_head_compensation * rotation[:, 1]
        gaze[:, 1] -= config.gaze_head_compensation * rotation[:, 0]
        data[EYE_GAZE_COLUMNS] = gaze
    columns = motion_columns(head.expression_names)[2:]
    data[columns] = data[columns].astype(np.float32)
    table.validate()
    return table


# =============================================================================================
# Corpus
# =============================================================================================
CORPUS_FILE = "corpus.parquet"
PHONEMES_FILE = "phonemes.parquet"
PARTS_DIR = "parts"
SOURCE = "synthetic"


@dataclass
class SynthCorpusResult:
    out_dir: Path
    n_clips: int
    n_rendered: int
    n_skipped: int  # finished in an earlier run
    n_failed: int
    seconds: float
    clips: pd.DataFrame


def _clip_hash(plan: ClipPlan, speaker: SpeakerProfile, spec: LanguageSpec, seed: int, image_size: int,
               config: SynthCorpusConfig, head: HeadModel) -> str:
    payload = {
        "plan": asdict(plan), "speaker": asdict(speaker) | {"speech": speaker.speech.model_dump()},
        "sentences": [asdict(spec.sentences[i]) for i in plan.sentence_indices], "voice": spec.voice,
        "seed": seed, "image_size": image_size, "config": config.model_dump(mode="json"), "head": head.name,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _dataset_meta(head: HeadModel, image_size: int) -> DatasetMeta:
    return DatasetMeta(head.name, list(head.expression_names), float(FPS), image_size, extra={"source": SOURCE})


def _part_paths(out_dir: Path, clip_id: str) -> dict[str, Path]:
    parts = out_dir / PARTS_DIR
    return {
        "record": parts / f"{clip_id}.json",
        "truth": parts / f"{clip_id}.truth.parquet",
        "phonemes": parts / f"{clip_id}.phonemes.parquet",
        "video": out_dir / "clips" / f"{clip_id}.mp4",
        "audio": out_dir / "audio" / f"{clip_id}.wav",
    }


def _finished_record(paths: dict[str, Path], clip_hash: str) -> dict | None:
    if not all(p.is_file() for p in paths.values()):
        return None
    with contextlib.suppress(ValueError, OSError):
        record = json.loads(paths["record"].read_text(encoding="utf-8"))
        if record.get("input_hash") == clip_hash and record.get("status") == "ok":
            return record
    return None


class _ClipRenderer:
    """Owns the GL context and avatar designer for a corpus run (created once, reused per clip)."""

    def __init__(self, head: HeadModel, image_size: int, config: GLRendererConfig) -> None:
        from portraittalker.avatar.designer import AttributeDesigner  # heavy imports only when rendering

        self.head = head
        self.image_size = image_size
        self.designer = AttributeDesigner(head)
        self.renderer = GLRenderer(head, image_size, config)
        self._avatars: dict[int, object] = {}

    def avatar(self, speaker: SpeakerProfile):  # -> Avatar
        if speaker.speaker_index not in self._avatars:
            self._avatars.clear()  # consecutive clips share a speaker; keep one avatar in memory
            self._avatars[speaker.speaker_index] = self.designer.design(speaker.prompt, seed=speaker.avatar_seed)
        return self._avatars[speaker.speaker_index]

    def render(self, motion: MotionTable, avatar, camera: Camera, audio: Audio, path: Path, crf: int,
               batch_frames: int) -> None:
        self.renderer.set_appearance(avatar.material, avatar.lighting, avatar.background)
        identity = torch.as_tensor(avatar.identity, dtype=torch.float32).reshape(1, -1)
        params = motion.to_head_params(self.head, identity)
        with VideoWriter(path, self.image_size, self.image_size, fps=FPS, audio=audio, crf=crf) as writer:
            for start in range(0, len(motion), batch_frames):
                chunk = slice(start, start + batch_frames)
                batch = HeadParams(
                    identity=params.identity, expression=params.expression[chunk], jaw=params.jaw[chunk],
                    head_rotation=params.head_rotation[chunk], head_translation=params.head_translation[chunk],
                    eye_blink=params.eye_blink[chunk], eye_gaze=params.eye_gaze[chunk],
                )
                with torch.no_grad():
                    vertices = self.head(batch).cpu().numpy().astype(np.float32)
                for frame in self.renderer.render_sequence(vertices, camera):
                    writer.write(frame)

    def release(self) -> None:
        self.renderer.release()


def _clip_camera(plan: ClipPlan, seed: int, image_size: int, config: SynthCorpusConfig) -> Camera:
    rng = _rng(seed, "camera", plan.clip_id)
    return Camera(
        image_size=image_size,
        yaw_deg=float(rng.uniform(-1, 1) * config.camera_yaw_jitter_deg) + 0.0,  # + 0.0: no "-0.0"
        pitch_deg=float(rng.uniform(-1, 1) * config.camera_pitch_jitter_deg) + 0.0,
        distance_m=config.camera_distance_m,
        fov_deg=config.camera_fov_deg,
    )


def _speak_clip(plan: ClipPlan, spec: LanguageSpec, speaker: SpeakerProfile, config: SynthCorpusConfig
                ) -> tuple[Audio, list[PhonemeTiming], str, str]:
    """Speech for the clip (sentences joined), padded with lead/tail silence to whole video frames."""
    sentences = [spec.sentences[i] for i in plan.sentence_indices]
    text = " ".join(s.text for s in sentences)
    spoken = " ".join(s.speech for s in sentences)
    speech = synthesize_with_phonemes(spoken, spec.voice, speaker.speech)
    rate = speech.audio.sample_rate
    lead = round(config.lead_silence_s * rate)
    total = lead + speech.audio.n_samples + round(config.tail_silence_s * rate)
    samples_per_frame = rate // FPS
    total = int(math.ceil(total / samples_per_frame) * samples_per_frame)
    samples = np.zeros(total, np.float32)
    samples[lead : lead + speech.audio.n_samples] = speech.audio.samples
    offset = lead / rate
    phonemes = [PhonemeTiming("", 0.0, offset)] if offset > 0 else []
    phonemes += [PhonemeTiming(p.phoneme, p.start_s + offset, p.end_s + offset) for p in speech.phonemes]
    end = phonemes[-1].end_s
    if total / rate > end:
        phonemes.append(PhonemeTiming("", end, total / rate))
    return Audio(samples, rate), phonemes, text, speech.voice


def make_synthetic_corpus(
    out_dir: str | Path,
    languages: Sequence[str],
    clips_per_language: int,
    seed: int,
    image_size: int = 512,
    config: SynthCorpusConfig | None = None,
    progress: bool = True,
    head: HeadModel | None = None,
) -> SynthCorpusResult:
    """Build (or resume) a synthetic corpus in ``out_dir``; see the module docstring for the layout.

    Deterministic per ``seed``; clips whose outputs exist with the same inputs are skipped; a clip
    that fails is recorded with ``status="failed"`` and a reason, and the others still complete.
    ``head`` defaults to ICT-FaceKit (the mouth tracks use its ARKit expressions).
    """
    started = time.perf_counter()
    config = config or SynthCorpusConfig()
    if image_size < 16 or image_size % 2:
        raise ValueError(f"synth-corpus: image_size must be an even number >= 16, got {image_size}")
    specs = resolve_languages(list(languages), config)
    by_code = {spec.code: spec for spec in specs}
    head = head if head is not None else ICTFaceKit()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plans = plan_corpus(specs, clips_per_language, seed, config)
    speakers = {p.speaker_index: speaker_profile(seed, p.speaker_index, config) for p in plans}
    meta = _dataset_meta(head, image_size)

    renderer: _ClipRenderer | None = None
    records: list[dict] = []
    n_rendered = n_skipped = n_failed = 0
    try:
        for plan in tqdm(plans, desc="synth-corpus", unit="clip", disable=not progress):
            spec, speaker = by_code[plan.language], speakers[plan.speaker_index]
            clip_hash = _clip_hash(plan, speaker, spec, seed, image_size, config, head)
            paths = _part_paths(out_dir, plan.clip_id)
            record = _finished_record(paths, clip_hash)
            if record is not None:
                n_skipped += 1
                records.append(record)
                continue
            clip_started = time.perf_counter()
            try:
                audio, phonemes, text, voice = _speak_clip(plan, spec, speaker, config)
                n_frames = audio.n_video_frames(FPS)
                segments = phonemes_to_visemes(phonemes)
                motion = synthesize_motion(segments, n_frames, head, speaker, _rng(seed, "motion", plan.clip_id),
                                           config)
                camera = _clip_camera(plan, seed, image_size, config)
                if renderer is None:
                    renderer = _ClipRenderer(head, image_size, config.renderer)
                avatar = renderer.avatar(speaker)
                write_wav(paths["audio"], audio)
                renderer.render(motion, avatar, camera, audio, paths["video"], config.crf, config.render_batch_frames)
                truth = motion.frame_data.copy()
                truth.insert(0, "clip_id", plan.clip_id)
                write_table(truth, paths["truth"], meta)
                write_table(_phoneme_frame(plan.clip_id, phonemes), paths["phonemes"], meta)
                identity = np.asarray(avatar.identity, dtype=np.float32).reshape(-1).tolist()
                record = _clip_record(plan, speaker, spec, clip_hash, n_frames, "ok", "")
                record |= {"text": text, "voice": voice, IDENTITY_COLUMN: identity, CAMERA_COLUMN: asdict(camera),
                           "render_seconds": round(time.perf_counter() - clip_started, 3)}
                n_rendered += 1
            except Exception as error:  # one bad clip must not stop the batch; the reason is recorded
                logger.exception("synth-corpus: clip %s failed", plan.clip_id)
                record = _clip_record(plan, speaker, spec, clip_hash, 0, "failed", f"{type(error).__name__}: {error}")
                n_failed += 1
            write_text_atomic(paths["record"], json.dumps(record, ensure_ascii=False))
            records.append(record)
    finally:
        if renderer is not None:
            renderer.release()

    clips = _write_tables(out_dir, records, seed, config, meta)
    return SynthCorpusResult(out_dir, len(plans), n_rendered, n_skipped, n_failed,
                             time.perf_counter() - started, clips)


def _phoneme_frame(clip_id: str, phonemes: Sequence[PhonemeTiming]) -> pd.DataFrame:
    return pd.DataFrame({
        "clip_id": clip_id,
        "index": np.arange(len(phonemes), dtype=np.int32),
        "phoneme": [p.phoneme for p in phonemes],
        "viseme": [phoneme_to_viseme(p.phoneme) for p in phonemes],
        "start_s": np.array([p.start_s for p in phonemes], dtype=np.float64),
        "end_s": np.array([p.end_s for p in phonemes], dtype=np.float64),
    })


def _clip_record(plan: ClipPlan, speaker: SpeakerProfile, spec: LanguageSpec, clip_hash: str, n_frames: int,
                 status: str, reason: str) -> dict:
    return {
        "clip_id": plan.clip_id, "language": plan.language, "speaker_id": speaker.speaker_id,
        "speaker_index": speaker.speaker_index, "sentence_indices": list(plan.sentence_indices),
        "n_frames": n_frames, "status": status, "reason": reason, "input_hash": clip_hash,
        "prompt": speaker.prompt, "avatar_seed": speaker.avatar_seed, "gender": speaker.gender,
        "espeak_voice": spec.voice, "rate_wpm": speaker.speech.rate_wpm, "pitch": speaker.speech.pitch,
        "articulation": speaker.articulation, "head_motion_scale": speaker.head_motion_scale,
        "smile": speaker.smile,
    }


def _write_tables(out_dir: Path, records: list[dict], seed: int, config: SynthCorpusConfig, meta: DatasetMeta
                  ) -> pd.DataFrame:
    """clips.parquet (prepare contract), corpus.parquet (manifest), truth.parquet, phonemes.parquet."""
    splits = assign_speaker_splits([r["speaker_id"] for r in records], seed, config.val_fraction,
                                   config.test_fraction)
    rows = []
    for record in records:
        ok = record["status"] == "ok"
        rows.append({
            "clip_id": record["clip_id"], "source": SOURCE, "speaker_id": record["speaker_id"],
            "language": record["language"], "split": splits[record["speaker_id"]],
            "n_frames": int(record["n_frames"]), "fps": float(FPS), "duration_s": record["n_frames"] / FPS,
            "audio_path": f"audio/{record['clip_id']}.wav" if ok else "",
            "video_path": f"clips/{record['clip_id']}.mp4" if ok else "",
            "status": record["status"], "reason": record["reason"], "fit_error_px": float("nan"),
            "input_hash": record["input_hash"],
        })
    clips = pd.DataFrame(rows, columns=CLIP_COLUMNS)
    clips["n_frames"] = clips["n_frames"].astype(np.int64)
    check_clips_table(clips)

    manifest = pd.DataFrame(records)
    manifest["split"] = [splits[s] for s in manifest["speaker_id"]]
    if CAMERA_COLUMN in manifest:  # JSON of the Camera fields, as prepare writes its fitted camera
        manifest[CAMERA_COLUMN] = [json.dumps(v) if isinstance(v, dict) else None for v in manifest[CAMERA_COLUMN]]
    write_table(manifest, out_dir / CORPUS_FILE, meta)

    ok_ids = [r["clip_id"] for r in records if r["status"] == "ok"]
    for name, file_name in (("truth", TRUTH_FILE), ("phonemes", PHONEMES_FILE)):
        parts = [pq.read_table(_part_paths(out_dir, clip_id)[name]) for clip_id in ok_ids]
        if parts:
            table = pa.concat_tables([p.replace_schema_metadata(None) for p in parts])
            table = table.replace_schema_metadata({DATASET_METADATA_KEY: meta.to_json()})
            with atomic_path(out_dir / file_name) as tmp:
                pq.write_table(table, tmp)
    # Last, so a reader never sees ok clips whose truth is not written yet.
    write_table(clips, out_dir / CLIPS_FILE, meta)
    return clips
