"""Planning: speakers and clips; all randomness derives from (seed, names), never from the order of work."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from portraittalker.data.config import SynthCorpusConfig
from portraittalker.data.synth.sentences import LanguageSpec
from portraittalker.speech.phonemes import SpeechParams

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


def seeded_rng(seed: int, *names: object) -> np.random.Generator:
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
    rng = seeded_rng(seed, "speaker", speaker_index)
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
            rng = seeded_rng(seed, "sentences", spec.code, index)
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
    order = [unique[i] for i in seeded_rng(seed, "splits").permutation(len(unique))]
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
