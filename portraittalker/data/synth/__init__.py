"""Synthetic multilingual talking-head corpus with exact audio-motion alignment.

Per clip: a sentence in the clip's language is spoken by espeak-ng through its C library, whose
synthesis callback reports every phoneme with its sample position in the audio it returns (so
timings are exact, not estimated; each synthesis runs in a fresh worker process because the library
is not reproducible across calls within one process — see ``_espeak_worker.py``); phonemes become
visemes and coarticulated ICT mouth tracks (:mod:`portraittalker.speech.visemes`); seeded blinks, head
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

Modules, in the order a clip is made (the speech itself comes from :mod:`portraittalker.speech.phonemes`):

- :mod:`.sentences`: what a clip says (built-in sentences per language) and its frame-padded speech.
- :mod:`.plan`: seeded speakers, clip plans and speaker splits.
- :mod:`.motion`: the ground-truth motion table of one clip.
- :mod:`.render`: the avatar renderer and the clip's camera.
- :mod:`.writer`: per-clip parts and the corpus tables.
- :mod:`.corpus`: :func:`~.corpus.make_synthetic_corpus`, the loop over clips (no Prefect).
"""
