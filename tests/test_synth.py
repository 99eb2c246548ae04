"""espeak-ng phoneme timings, corpus planning and ground-truth motion of the synthetic corpus."""

from __future__ import annotations

import numpy as np
import pytest

from portraittalker.data.config import SynthCorpusConfig
from portraittalker.data.synth.motion import synthesize_motion
from portraittalker.data.synth.plan import assign_speaker_splits, plan_corpus, speaker_profile
from portraittalker.data.synth.sentences import BUILTIN_LANGUAGES, UnknownSentencesError, resolve_languages
from portraittalker.motion.schema import motion_columns
from portraittalker.speech.espeak import UnknownLanguageError, espeak_languages
from portraittalker.speech.phonemes import SpeechParams, synthesize_with_phonemes
from portraittalker.speech.visemes import phonemes_to_visemes


def _check_timings(result) -> None:
    phonemes = result.phonemes
    assert phonemes, "no phoneme events"
    starts = np.array([p.start_s for p in phonemes])
    ends = np.array([p.end_s for p in phonemes])
    assert starts[0] == 0.0
    assert np.all(ends > starts)
    assert np.allclose(starts[1:], ends[:-1])  # contiguous, monotonic
    # The events cover the whole audio (the 22.05 -> 16 kHz resampling keeps the duration).
    assert ends[-1] == pytest.approx(result.audio.duration_s, abs=2e-3)
    assert result.audio.sample_rate == 16000


@pytest.mark.parametrize(
    ("voice", "text", "expected"),
    [("en-us", "Hello, papa.", {"p", "l"}), ("ko", "안녕하세요", {"n", "s"}),
     ("cmn-latn-pinyin", "ni3 hao3", {"n", "i"}), ("ja", "こんにちは", {"k", "n"})],
)
def test_phoneme_events_are_monotonic_and_cover_the_audio(voice: str, text: str, expected: set[str]) -> None:
    result = synthesize_with_phonemes(text, voice, SpeechParams(rate_wpm=170))
    _check_timings(result)
    names = {p.phoneme for p in result.phonemes}
    assert expected <= names, names


def test_phoneme_times_align_with_the_audio() -> None:
    """The /a/ of "papa" is loud and the /p/ closures are quiet: the event times must say so."""
    result = synthesize_with_phonemes("papa papa", "en-us")
    samples, rate = result.audio.samples, result.audio.sample_rate

    def rms(start: float, end: float) -> float:
        chunk = samples[int(start * rate) : int(end * rate)]
        return float(np.sqrt(np.mean(chunk**2))) if len(chunk) else 0.0

    vowels = [p for p in result.phonemes if p.phoneme in ("ɑː", "ɐ", "a", "æ")]
    stops = [p for p in result.phonemes if p.phoneme == "p"]
    assert len(vowels) >= 2 and len(stops) >= 2
    vowel_level = np.mean([rms(p.start_s, p.end_s) for p in vowels])
    stop_level = np.mean([rms(p.start_s, p.start_s + 0.6 * (p.end_s - p.start_s)) for p in stops])
    assert vowel_level > 3 * stop_level


def test_voice_variant_changes_audio_not_determinism() -> None:
    a = synthesize_with_phonemes("Good morning.", "en-us", SpeechParams(variant="f2"))
    b = synthesize_with_phonemes("Good morning.", "en-us", SpeechParams(variant="f2"))
    c = synthesize_with_phonemes("Good morning.", "en-us", SpeechParams(variant="m3"))
    assert np.array_equal(a.audio.samples, b.audio.samples)
    assert a.voice == "en-us+f2"
    assert a.audio.n_samples != c.audio.n_samples or not np.allclose(a.audio.samples, c.audio.samples)


def test_unknown_language_lists_installed_ones() -> None:
    assert {"en", "ko", "cmn", "ja", "de", "fr", "es"} <= set(espeak_languages())
    with pytest.raises(UnknownLanguageError, match=r"'xx'.*installed languages:.*cmn"):
        resolve_languages(["en", "xx"], SynthCorpusConfig())
    with pytest.raises(UnknownSentencesError, match=r"SynthCorpusConfig\.sentences"):
        resolve_languages(["it"], SynthCorpusConfig())
    specs = resolve_languages(["it"], SynthCorpusConfig(sentences={"it": ["Buongiorno a tutti."]}))
    assert specs[0].voice == "it" and specs[0].sentences[0].speech == "Buongiorno a tutti."


def test_every_builtin_sentence_speaks() -> None:
    for code, spec in BUILTIN_LANGUAGES.items():
        assert len(spec.sentences) >= (10 if code in ("en", "ko", "cmn", "ja") else 4)
        result = synthesize_with_phonemes(spec.sentences[0].speech, spec.voice, SpeechParams(rate_wpm=300))
        visemes = {s.viseme for s in phonemes_to_visemes(result.phonemes)}
        assert len(visemes) >= 5, (code, visemes)


def test_plan_is_deterministic_and_interleaves_languages() -> None:
    config = SynthCorpusConfig(clips_per_speaker=2)
    specs = resolve_languages(["en", "ko"], config)
    plan = plan_corpus(specs, 3, seed=7, config=config)
    assert plan == plan_corpus(specs, 3, seed=7, config=config)
    assert [p.clip_id for p in plan[:2]] == ["synth_en_0000", "synth_ko_0000"]
    assert plan[0].speaker_index == plan[1].speaker_index  # one speaker, two languages
    assert speaker_profile(7, 0, config) == speaker_profile(7, 0, config)
    assert speaker_profile(7, 0, config) != speaker_profile(8, 0, config)


def test_speaker_splits_never_share_a_speaker() -> None:
    speakers = [f"s{i}" for i in range(10)] * 3
    splits = assign_speaker_splits(speakers, seed=0, val_fraction=0.1, test_fraction=0.1)
    assert set(splits) == set(speakers)
    assert sorted(splits.values()).count("val") == 1 and sorted(splits.values()).count("test") == 1
    assert set(assign_speaker_splits(["a"], 0, 0.1, 0.1).values()) == {"train"}
    assert assign_speaker_splits(["a", "b", "c"], 0, 0.1, 0.1) == assign_speaker_splits(["c", "b", "a"], 0, 0.1, 0.1)


def test_motion_has_schema_columns_blinks_and_visemes(ict_head) -> None:
    config = SynthCorpusConfig()
    speaker = speaker_profile(0, 0, config)
    result = synthesize_with_phonemes("Bob ate a pie.", "en-us")
    n_frames = result.audio.n_video_frames(25)
    segments = phonemes_to_visemes(result.phonemes)
    motion = synthesize_motion(segments, 250, ict_head, speaker, np.random.default_rng(0), config)
    data = motion.frame_data
    assert list(data.columns) == motion_columns(ict_head.expression_names)
    assert len(motion) == 250
    assert data["eye_blink_l"].max() == pytest.approx(1.0)  # 10 s: blinks happen, fully closed on a frame
    assert data["jaw_rot_x"][:n_frames].max() > 0.1
    assert data["jaw_rot_x"][n_frames + 10 :].max() < 0.02  # silent after the speech ends
    assert data["exp_mouthClose"][:n_frames].max() > 0.1  # /b/, /p/ close the lips
    assert np.abs(np.degrees(data[["head_rot_x", "head_rot_y", "head_rot_z"]].to_numpy())).max() < 20
    again = synthesize_motion(segments, 250, ict_head, speaker, np.random.default_rng(0), config)
    assert again.frame_data.equals(data)
