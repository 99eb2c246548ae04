"""Speech: espeak-ng synthesis, phoneme timings and visemes.

- :mod:`~portraittalker.speech.tts`: :func:`~portraittalker.speech.tts.synthesize_speech`, the ``espeak-ng`` command
  (WAV out): demo speech and evaluation inputs.
- :mod:`~portraittalker.speech.phonemes`: libespeak-ng through a fresh worker process per synthesis
  (``_espeak_worker.py``): audio plus every phoneme's exact sample position, for the synthetic corpus.
- :mod:`~portraittalker.speech.visemes`: timed phonemes -> visemes -> coarticulated ICT mouth tracks.
- :mod:`~portraittalker.speech.config`: the coarticulation settings (pydantic only).

The two synthesis paths are not interchangeable: the command appends trailing samples the library's callback
never delivers (about 0.34 s at 22.05 kHz), so each keeps its own output (the corpus and the demo speech are
reproducible artefacts).
"""
