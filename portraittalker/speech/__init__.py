"""Speech: espeak-ng synthesis, phoneme timings and visemes.

- :mod:`~portraittalker.speech.espeak`: the one espeak-ng front end, libespeak-ng in a fresh worker process per
  request (``_espeak_worker.py``): languages, variants, samples and phoneme events.
- :mod:`~portraittalker.speech.tts`: :func:`~portraittalker.speech.tts.synthesize_speech`, plain speech (the
  samples the ``espeak-ng`` command would write) for demos and evaluation inputs.
- :mod:`~portraittalker.speech.phonemes`: speech with every phoneme's exact timing, for the synthetic corpus.
- :mod:`~portraittalker.speech.visemes`: timed phonemes -> visemes -> coarticulated ICT mouth tracks.
- :mod:`~portraittalker.speech.config`: the coarticulation settings (pydantic only).
"""
