"""Layout of a prepared dataset directory — the contract between ``prepare``, ``train`` and ``evaluate``.

A dataset directory holds:

- ``clips.parquet``: one row per input clip (accepted or not), columns :data:`CLIP_COLUMNS`.
  ``status`` is ``"ok"``, ``"rejected"`` (a quality check failed) or ``"failed"`` (an error);
  ``reason`` says why. ``split`` is ``train``/``val``/``test``, assigned by speaker (no speaker in
  two splits). ``audio_path`` is a 16 kHz mono WAV relative to the dataset directory.
- ``frames.parquet``: one row per frame of every ``ok`` clip: ``clip_id, frame, time_s``,
  ``landmarks`` (478*3 float32, flattened, pixel x/y in the 512² clip and MediaPipe z),
  ``face_box`` (4 float32: x_min, y_min, x_max, y_max) and the motion-schema columns of
  :mod:`portraittalker.motion.schema` for the dataset's head model (fitted values).
- ``truth.parquet`` (synthetic corpora only): ``clip_id, frame, time_s`` and the ground-truth motion
  columns the clip was rendered from.
- ``audio/<clip_id>.wav``, ``clips/<clip_id>.mp4`` (normalised clips), ``previews/<clip_id>.png|html``.

The parquet key-value metadata ``portraittalker.dataset`` holds JSON with ``head_model``,
``expression_names``, ``fps`` and ``image_size``.
"""

from __future__ import annotations

CLIPS_FILE = "clips.parquet"
FRAMES_FILE = "frames.parquet"
TRUTH_FILE = "truth.parquet"
DATASET_METADATA_KEY = b"portraittalker.dataset"

CLIP_COLUMNS = [
    "clip_id", "source", "speaker_id", "language", "split", "n_frames", "fps", "duration_s", "audio_path",
    "video_path", "status", "reason", "fit_error_px", "input_hash",
]
CLIP_STATUSES = ("ok", "rejected", "failed")
SPLITS = ("train", "val", "test")
FRAME_KEY_COLUMNS = ["clip_id", "frame", "time_s"]
LANDMARKS_COLUMN, FACE_BOX_COLUMN = "landmarks", "face_box"
