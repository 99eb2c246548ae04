"""What a clip says: built-in sentences per language, and the clip's speech padded to whole video frames."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from portraittalker.data.config import SynthCorpusConfig
from portraittalker.errors import PortraitTalkerError
from portraittalker.media.audio import Audio
from portraittalker.motion.schema import FPS
from portraittalker.speech.espeak import UnknownLanguageError, espeak_languages
from portraittalker.speech.phonemes import SpeechParams, synthesize_with_phonemes
from portraittalker.speech.visemes import PhonemeTiming


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



def speak_clip(sentences: Sequence[Sentence], voice: str, params: SpeechParams, config: SynthCorpusConfig
               ) -> tuple[Audio, list[PhonemeTiming], str, str]:
    """Speech for a clip's sentences (joined), padded with lead/tail silence to whole video frames."""
    text = " ".join(s.text for s in sentences)
    spoken = " ".join(s.speech for s in sentences)
    speech = synthesize_with_phonemes(spoken, voice, params)
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
