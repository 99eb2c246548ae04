"""Synthesise the demo manifest's speech with espeak-ng (license-clean, works offline).

    python examples/make_demo_speech.py --out data/demo_speech
"""

from __future__ import annotations

import argparse
from pathlib import Path

from portraittalker.speech.tts import synthesize_speech

SENTENCES = {
    "en": "Hello! I am a talking head, made from one sentence of text and this voice.",
    "ko": "안녕하세요. 저는 텍스트와 목소리로 만들어진 말하는 얼굴입니다.",
    "ja": "こんにちは。私は文章と声から作られた話す顔です。",
    "cmn": "你好。我是由一句文字和这个声音生成的会说话的头像。",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data/demo_speech"))
    args = parser.parse_args(argv)
    for language, text in SENTENCES.items():
        path = args.out / f"{language}.wav"
        audio = synthesize_speech(text, language, out_path=path)
        print(f"{path}  {audio.duration_s:.2f} s")


if __name__ == "__main__":
    main()
