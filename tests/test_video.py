"""VideoWriter / probe_video / read_frames: format, A/V alignment, atomicity, errors, memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from portraittalker.assets import REPO_ROOT
from portraittalker.media.audio import Audio, MissingToolError, load_audio
from portraittalker.media.video import (
    VideoDecodeError,
    VideoEncodeError,
    VideoFileNotFound,
    VideoWriter,
    probe_video,
    read_frames,
)

SHARED = REPO_ROOT.parent / "shared" / "data"
SR = 16000


def tone_burst_audio(duration_s: float, burst_at_s: float) -> Audio:
    samples = np.zeros(round(duration_s * SR), np.float32)
    start = round(burst_at_s * SR)
    samples[start : start + 1600] = 0.5 * np.sin(2 * np.pi * 440 * np.arange(1600) / SR)
    return Audio(samples, SR)


def grey_frame(value: int, width: int = 64, height: int = 48) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


def test_round_trip_with_audio(tmp_path) -> None:
    audio = tone_burst_audio(1.93, burst_at_s=1.0)  # not a whole number of frames
    n_frames = audio.n_video_frames()
    assert n_frames == 49
    path = tmp_path / "out.mp4"
    with VideoWriter(path, 64, 48, audio=audio) as writer:
        for i in range(n_frames):
            writer.write(grey_frame(i * 5))

    info = probe_video(path)
    assert (info.width, info.height, info.fps, info.n_frames) == (64, 48, 25.0, n_frames)
    assert (info.codec, info.pix_fmt, info.audio_codec, info.audio_sample_rate) == ("h264", "yuv420p", "aac", SR)
    assert info.has_audio and info.audio_duration_s is not None
    # Both tracks are the audio rounded up to a whole frame: equal to each other, within a frame of the input.
    assert info.duration_s == pytest.approx(n_frames / 25, abs=1e-3)
    assert abs(info.audio_duration_s - info.duration_s) < 1 / 25
    assert abs(info.duration_s - audio.duration_s) < 1 / 25

    # Sync: the tone burst is heard where it was placed (AAC priming must not shift it).
    decoded = load_audio(path)
    onset_s = np.argmax(np.abs(decoded.samples) > 0.1) / SR
    assert onset_s == pytest.approx(1.0, abs=0.01)
    assert abs(decoded.duration_s - info.duration_s) < 1 / 25

    frames = list(read_frames(path))
    assert len(frames) == n_frames and frames[0].shape == (48, 64, 3) and frames[0].dtype == np.uint8
    means = np.array([f.mean() for f in frames])
    np.testing.assert_allclose(means, np.arange(n_frames) * 5, atol=3)  # yuv420p round trip is near-lossless
    small = next(read_frames(path, size=32))
    assert small.shape == (32, 32, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]  # no temp files left


def test_audio_as_array_and_no_audio(tmp_path) -> None:
    samples = np.zeros(SR, np.float32)
    with VideoWriter(tmp_path / "a.mp4", 32, 32, audio=samples, sample_rate=SR) as writer:
        for _ in range(25):
            writer.write(grey_frame(100, 32, 32))
    assert probe_video(tmp_path / "a.mp4").has_audio
    with VideoWriter(tmp_path / "b.mp4", 32, 32) as writer:
        for _ in range(7):
            writer.write(grey_frame(100, 32, 32))
    info = probe_video(tmp_path / "b.mp4")
    assert not info.has_audio and info.audio_duration_s is None and info.n_frames == 7


def test_exception_in_block_leaves_nothing(tmp_path) -> None:
    path = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(path, 64, 48, audio=tone_burst_audio(1.0, 0.2)) as w:
        w.write(grey_frame(0))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_a_process_exiting_mid_video_stops_ffmpeg_and_leaves_nothing(tmp_path) -> None:
    """A daemon job thread still writing when the process exits (a SIGTERM'd batch flow): no ffmpeg, no temp file."""
    script = textwrap.dedent(f"""
        import threading, time, numpy as np
        from portraittalker.media.video import VideoWriter
        def job():
            with VideoWriter({str(tmp_path / "out.mp4")!r}, 64, 48) as writer:
                while True:
                    writer.write(np.zeros((48, 64, 3), np.uint8))
                    time.sleep(0.01)
        threading.Thread(target=job, daemon=True).start()
        time.sleep(1.0)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    assert process.wait(timeout=60) == 0
    survivors = subprocess.run(["ps", "-o", "pid,args", "-s", str(process.pid)], capture_output=True,
                               text=True).stdout.strip().splitlines()[1:]
    assert not survivors, f"ffmpeg outlived the process: {survivors}"
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_previous_output(tmp_path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"previous render")
    with pytest.raises(RuntimeError), VideoWriter(path, 64, 48) as writer:
        writer.write(grey_frame(0))
        raise RuntimeError("renderer crashed")
    assert path.read_bytes() == b"previous render"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_too_few_frames_for_audio_is_an_error(tmp_path) -> None:
    audio = tone_burst_audio(2.0, 0.5)  # needs 50 frames
    with pytest.raises(VideoEncodeError, match=r"10 frames written.*exactly 50 frames"):  # noqa: SIM117
        with VideoWriter(tmp_path / "out.mp4", 64, 48, audio=audio) as writer:
            for _ in range(10):
                writer.write(grey_frame(0))
    assert list(tmp_path.iterdir()) == []


def test_too_many_frames_for_audio_is_an_error(tmp_path) -> None:
    audio = tone_burst_audio(0.2, 0.0)  # 5 frames
    with (
        pytest.raises(VideoEncodeError, match="exactly 5 frames"),
        VideoWriter(tmp_path / "o.mp4", 64, 48, audio=audio) as w,
    ):
        for _ in range(6):
            w.write(grey_frame(0))
    assert list(tmp_path.iterdir()) == []


def test_ffmpeg_failure_reports_its_stderr(tmp_path) -> None:
    with pytest.raises(VideoEncodeError, match=r"ffmpeg.*no-such-preset") as info:  # noqa: SIM117
        with VideoWriter(tmp_path / "out.mp4", 64, 48, preset="no-such-preset") as writer:
            for _ in range(3):
                writer.write(grey_frame(0))
    assert "x264" in str(info.value)  # the encoder's own message is passed on
    assert list(tmp_path.iterdir()) == []


def test_missing_ffmpeg(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty_bin"))
    with pytest.raises(MissingToolError, match="ffmpeg"), VideoWriter(tmp_path / "out.mp4", 64, 48):
        pass
    assert list(tmp_path.iterdir()) == []


def test_bad_frames_and_sizes(tmp_path) -> None:
    with pytest.raises(ValueError, match="even"):
        VideoWriter(tmp_path / "o.mp4", 63, 48)
    with pytest.raises(ValueError, match=r"\(48, 64, 3\) uint8"), VideoWriter(tmp_path / "o.mp4", 64, 48) as writer:
        writer.write(np.zeros((48, 64, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(48, 64, 3\) uint8"), VideoWriter(tmp_path / "o.mp4", 64, 48) as writer:
        writer.write(np.zeros((64, 48, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_probe_errors(tmp_path) -> None:
    with pytest.raises(VideoFileNotFound):
        probe_video(tmp_path / "missing.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    with pytest.raises(VideoDecodeError, match=r"garbage\.mp4"):
        probe_video(garbage)


def test_read_real_clip() -> None:
    clip = SHARED / "real_clips" / "WDA_KatieHill_000.mp4"
    info = probe_video(clip)
    assert (info.width, info.height, info.fps, info.n_frames) == (512, 512, 25.0, 200)
    assert info.has_audio and info.audio_duration_s == pytest.approx(8.0, abs=0.05)
    count = 0
    for frame in read_frames(clip, size=64):
        assert frame.shape == (64, 64, 3)
        count += 1
    assert count == info.n_frames


def test_long_render_does_not_accumulate_memory(tmp_path) -> None:
    """3000 frames of 256x256 (2 minutes of video, 590 MB of raw RGB) must stream, not pile up."""

    def rss_mb() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096 / 2**20

    frame = np.zeros((256, 256, 3), np.uint8)
    with VideoWriter(tmp_path / "long.mp4", 256, 256, preset="ultrafast", crf=35) as writer:
        for i in range(3000):
            frame[:, :, 0] = i % 256
            writer.write(frame)
            if i == 200:
                baseline = rss_mb()
    growth = rss_mb() - baseline
    assert growth < 30, f"RSS grew by {growth:.0f} MB over 2800 frames"
    assert probe_video(tmp_path / "long.mp4").n_frames == 3000


def _lavfi_clip(path, *args: str) -> None:
    import subprocess

    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25:duration=2",
                    *args, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)


def test_read_frames_every_frame_max_frames_and_start(tmp_path) -> None:
    # Frames 20.. are two frame-times apart: the default resamples to the nominal 25 fps, every_frame does not.
    vfr = tmp_path / "vfr.mp4"
    _lavfi_clip(vfr, "-vf", "setpts='if(lt(N,20),N,N*2)/25/TB'", "-fps_mode", "vfr")
    every = list(read_frames(vfr, every_frame=True))
    assert len(every) == 50 < len(list(read_frames(vfr)))
    assert [f.tobytes() for f in read_frames(vfr, every_frame=True, max_frames=3)] == [f.tobytes() for f in every[:3]]
    assert list(read_frames(vfr, max_frames=0)) == []
    # start_s: the first frame shown at or after that time (frame 21 is shown at 42/25 s).
    assert np.array_equal(next(read_frames(vfr, every_frame=True, start_s=41.5 / 25)), every[21])


def test_bt601_matrix_decodes_as_opencv(tmp_path) -> None:
    import cv2

    clip = tmp_path / "bt709.mp4"
    _lavfi_clip(clip, "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709")
    capture = cv2.VideoCapture(str(clip))
    ok, bgr = capture.read()
    capture.release()
    assert ok
    opencv = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    assert np.array_equal(next(read_frames(clip, colour_matrix="bt601")), opencv)
    assert not np.array_equal(next(read_frames(clip)), opencv)  # the tag is honoured by default
