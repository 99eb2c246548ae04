"""GenerationSession: one head/checkpoint/renderer load for many jobs, same videos as generate_video."""

from __future__ import annotations

import numpy as np
import pytest

from portraittalker import pipeline
from portraittalker.config import load_params
from portraittalker.media.video import read_frames
from portraittalker.render.lanes import LaneRenderer


@pytest.fixture(scope="module")
def small_params():
    return load_params(overrides={"render": {"image_size": 96}, "designer": {"texture_size": 256},
                                  "motion": {"generator": "baseline"}})


@pytest.fixture
def loads(monkeypatch):
    """Counts of head-model and motion-generator (checkpoint + speech encoder) builds."""
    counts = {"head": 0, "motion": 0, "release": 0}
    real_head, real_motion = pipeline.head_from_config, pipeline.make_motion_generator
    real_release = LaneRenderer.release

    def head_from_config(*args, **kwargs):
        counts["head"] += 1
        return real_head(*args, **kwargs)

    def make_motion_generator(*args, **kwargs):
        counts["motion"] += 1
        return real_motion(*args, **kwargs)

    def release(self):
        counts["release"] += 1
        real_release(self)

    monkeypatch.setattr(pipeline, "head_from_config", head_from_config)
    monkeypatch.setattr(pipeline, "make_motion_generator", make_motion_generator)
    monkeypatch.setattr(LaneRenderer, "release", release)
    return counts


JOBS = [("a bald old man with a grey beard", 1, 0.0), ("a young woman with red hair", 2, 20.0)]


def test_two_jobs_load_once_and_match_separate_calls(one_second, small_params, tmp_path, loads):
    with pipeline.GenerationSession(small_params) as session:
        together = [session.generate(prompt, one_second, tmp_path / f"s{i}.mp4", seed=seed, yaw_deg=yaw)
                    for i, (prompt, seed, yaw) in enumerate(JOBS)]
    assert (loads["head"], loads["motion"], loads["release"]) == (1, 1, 1)
    separate = [pipeline.generate_video(prompt, one_second, tmp_path / f"g{i}.mp4", small_params, seed=seed,
                                        yaw_deg=yaw) for i, (prompt, seed, yaw) in enumerate(JOBS)]
    assert (loads["head"], loads["motion"], loads["release"]) == (3, 3, 3)
    for a, b in zip(together, separate, strict=True):
        assert a.n_frames == b.n_frames
        assert a.motion.frame_data.equals(b.motion.frame_data)
        assert np.array_equal(np.stack(list(read_frames(a.video_path))), np.stack(list(read_frames(b.video_path))))
    assert not np.array_equal(next(read_frames(together[0].video_path)), next(read_frames(together[1].video_path)))


def test_failed_job_releases_the_renderer(one_second, small_params, tmp_path, loads):
    def fail(done: int, total: int) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        pipeline.generate_video("a man", one_second, tmp_path / "fail.mp4", small_params, on_frame=fail)
    assert loads["release"] == 1
    assert not (tmp_path / "fail.mp4").exists()
    with pipeline.GenerationSession(small_params) as session:
        with pytest.raises(RuntimeError, match="boom"):
            session.generate("a man", one_second, tmp_path / "fail.mp4", on_frame=fail)
        assert loads["release"] == 2  # released at the failure; the next job builds a new renderer
        session.generate("a man", one_second, tmp_path / "ok.mp4")
    assert loads["release"] == 3 and loads["head"] == 2


def test_a_failed_design_stops_the_geometry_worker(one_second, small_params, tmp_path, monkeypatch):
    """The frames' geometry is computed ahead from before the design ends; a design that fails stops it."""
    import threading

    from portraittalker.avatar.designer import AttributeDesigner

    def fail(self, prompt, seed=0):
        raise RuntimeError("painting failed")

    monkeypatch.setattr(AttributeDesigner, "design", fail)
    with pytest.raises(RuntimeError, match="painting failed"):
        pipeline.generate_video("a man", one_second, tmp_path / "fail.mp4", small_params)
    assert not any(t.name == "attributes-ahead" and t.is_alive() for t in threading.enumerate())
    assert not (tmp_path / "fail.mp4").exists()


def test_cached_session_is_per_thread_and_per_settings(small_params):
    import threading

    first = pipeline.cached_session(small_params)
    assert pipeline.cached_session(small_params) is first
    other = load_params(overrides={"render": {"image_size": 64}, "motion": {"generator": "baseline"}})
    assert pipeline.cached_session(other) is not first
    seen: list[pipeline.GenerationSession] = []
    thread = threading.Thread(target=lambda: seen.append(pipeline.cached_session(other)))
    thread.start()
    thread.join()
    assert seen[0] is not pipeline.cached_session(other)
