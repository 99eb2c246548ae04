"""Faces in video: MediaPipe landmark tracking and head-model fitting to those landmarks.

- :mod:`~portraittalker.face.tracking`: MediaPipe Face Landmarker over a video (478 points + the 68-point subset).
- :mod:`~portraittalker.face.fitting`: identity, pose and expression of a head model fitted to tracked landmarks.
- :mod:`~portraittalker.face.config`: the fitting settings (pydantic only).
"""
