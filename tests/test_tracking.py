from __future__ import annotations

import subprocess

import numpy as np
import pytest

from portraittalker.face.tracking import MEDIAPIPE_TO_68, TrackingError, track_video


@pytest.fixture(scope="module")
def katie_track(real_clips):
    return track_video(real_clips[-1], max_frames=50)


def test_real_clip_has_one_tracked_face(katie_track):
    track = katie_track
    assert track.n_frames == 50 and track.width == 512 and track.fps == pytest.approx(25)
    assert (track.n_faces == 1).all()
    assert np.isfinite(track.landmarks).all()
    boxes = track.face_boxes
    assert ((boxes[:, 2] - boxes[:, 0]) > 100).all()  # a portrait crop: the face is large
    assert track.landmarks68().shape == (50, 68, 2) and len(set(MEDIAPIPE_TO_68.tolist())) == 68


def test_mouth_opening_varies_with_speech(katie_track):
    opening = katie_track.mouth_opening()
    assert opening.min() >= 0 and opening.max() < 0.3
    assert opening.std() > 0.005  # a talking mouth is not static


def test_no_face_and_bad_files(tmp_path):
    blank = tmp_path / "blank.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=128x128:d=0.4", "-r", "25",
                    str(blank)], check=True)
    track = track_video(blank)
    assert track.n_frames == 10 and (track.n_faces == 0).all() and np.isnan(track.landmarks).all()
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 10)
    with pytest.raises(TrackingError, match=r"garbage\.mp4"):
        track_video(garbage)
    with pytest.raises(TrackingError, match="not found"):
        track_video(tmp_path / "missing.mp4")
