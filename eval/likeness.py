"""Photo-avatar likeness on unseen real speakers: is a photo avatar more like the person than the default avatar?

Per clip, as a new user would do it: the clip's first frame -> ``portraittalker avatar --photo``; the clip's own
speech -> ``portraittalker generate --avatar`` (photo avatar) and ``portraittalker generate --prompt`` (the default,
designed from a text prompt). The rendered videos and the clip's *later* frames (not the photo the avatar was fitted
to) are tracked with MediaPipe and compared:

- shape: RMS distance of the 3D landmarks outside the lips after a similarity Procrustes fit, in inter-ocular
  distances (mouth-closed frames only, so speech does not count as shape);
- colour: CIE76 ΔE between the median Lab skin colours (face oval minus eyes, brows and lips).

    python -m eval.likeness --clips data/prepared/clips/A.mp4 ... --out reports/likeness
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from portraittalker.media.files import write_bytes_atomic, write_text_atomic

DEFAULT_PROMPT = "a person, soft studio lighting, plain background"
OUTER_EYE_CORNERS = (33, 263)


@dataclass
class FaceSample:
    """MediaPipe measurements of one video's frames."""

    landmarks: np.ndarray  # (N, 478, 3) pixels
    skin_rgb: np.ndarray  # (N, 3) mean skin colour, 0..255
    mouth_gap: np.ndarray  # (N,) inner-lip gap / face height
    example: np.ndarray  # (H, W, 3) one frame, for the contact sheet


@dataclass
class LikenessRow:
    clip: str
    photo_shape: float
    default_shape: float
    photo_colour_de: float
    default_colour_de: float
    reference_frames: int


def _index_set(*connection_sets: frozenset) -> np.ndarray:
    return np.array(sorted({i for edges in connection_sets for edge in edges for i in edge}))


def _regions() -> dict[str, np.ndarray]:
    from mediapipe.python.solutions import face_mesh_connections as fm

    return {
        "oval": _index_set(fm.FACEMESH_FACE_OVAL),
        "lips": _index_set(fm.FACEMESH_LIPS),
        "eyes_brows": [_index_set(fm.FACEMESH_LEFT_EYE, fm.FACEMESH_LEFT_EYEBROW),
                       _index_set(fm.FACEMESH_RIGHT_EYE, fm.FACEMESH_RIGHT_EYEBROW)],
    }


def skin_mask(points: np.ndarray, shape: tuple[int, int], regions: dict) -> np.ndarray:
    """(H, W) bool: inside the face oval (shrunk by 5 % of the face height), outside eyes, brows and lips (grown)."""
    height = float(np.ptp(points[:, 1]))
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(points[regions["oval"], :2].astype(np.float32)).astype(np.int32), 255)
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=max(1, round(0.05 * height)))
    holes = np.zeros(shape, np.uint8)
    for index in [regions["lips"], *regions["eyes_brows"]]:
        cv2.fillConvexPoly(holes, cv2.convexHull(points[index, :2].astype(np.float32)).astype(np.int32), 255)
    holes = cv2.dilate(holes, np.ones((3, 3), np.uint8), iterations=max(1, round(0.04 * height)))
    return (mask > 0) & (holes == 0)


def measure_video(path: Path, *, start: int = 0, step: int = 1, max_frames: int = 60) -> FaceSample:
    """Track frames ``start, start+step, ...`` of ``path`` (at most ``max_frames``); frames without a face skipped."""
    from portraittalker.face.tracking import (
        CHIN,
        FOREHEAD,
        MOUTH_INNER_LOWER,
        MOUTH_INNER_UPPER,
        FaceTracker,
        iter_video_rgb,
    )

    regions = _regions()
    _, frames = iter_video_rgb(path)
    landmarks, colours, gaps, example = [], [], [], None
    with FaceTracker(max_faces=1) as tracker:
        for index, rgb in enumerate(frames):
            if index < start or (index - start) % step or len(landmarks) >= max_frames:
                continue
            faces = tracker.track_frame(rgb)
            if not faces:
                continue
            points = faces[0]
            mask = skin_mask(points, rgb.shape[:2], regions)
            if mask.sum() < 50:
                continue
            landmarks.append(points)
            colours.append(rgb[mask].mean(0))
            face_height = np.linalg.norm(points[FOREHEAD, :2] - points[CHIN, :2])
            gaps.append(np.linalg.norm(points[MOUTH_INNER_UPPER, :2] - points[MOUTH_INNER_LOWER, :2]) / face_height)
            example = rgb if example is None else example
    if not landmarks:
        raise ValueError(f"{path}: no face found in the frames measured")
    return FaceSample(np.asarray(landmarks, np.float32), np.asarray(colours, np.float32), np.asarray(gaps), example)


def procrustes(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``source`` (K, 3) moved onto ``target`` by the best rotation, uniform scale and translation (Umeyama)."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    s, t = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(t.T @ s)
    d = np.sign(np.linalg.det(u @ vt))
    correction = np.diag([1.0, 1.0, d])
    rotation = u @ correction @ vt
    scale = float((sigma * np.diag(correction)).sum() / (s**2).sum())
    return scale * s @ rotation.T + mu_t


def canonical_shape(sample: FaceSample, keep: np.ndarray, closed_fraction: float = 0.5) -> np.ndarray:
    """Mean shape (K, 3) of the most mouth-closed frames, each aligned to the first, in inter-ocular units."""
    order = np.argsort(sample.mouth_gap)[: max(1, round(closed_fraction * len(sample.mouth_gap)))]
    frames = sample.landmarks[order][:, keep]
    aligned = np.stack([procrustes(frame, frames[0]) for frame in frames])
    shape = aligned.mean(0)
    left, right = (int(np.flatnonzero(keep == i)[0]) for i in OUTER_EYE_CORNERS)
    return (shape - shape.mean(0)) / np.linalg.norm(shape[left] - shape[right])


def shape_distance(a: FaceSample, b: FaceSample) -> float:
    """RMS landmark distance (inter-ocular units) between the canonical shapes, lips excluded."""
    lips = set(_regions()["lips"].tolist())
    keep = np.array([i for i in range(a.landmarks.shape[1]) if i not in lips])
    shape_a, shape_b = canonical_shape(a, keep), canonical_shape(b, keep)
    return float(np.sqrt(((procrustes(shape_a, shape_b) - shape_b) ** 2).sum(1).mean()))


def colour_distance(a: FaceSample, b: FaceSample) -> float:
    """CIE76 ΔE between the median skin colours (Lab, L in 0..100)."""
    rgb = np.stack([np.median(a.skin_rgb, 0), np.median(b.skin_rgb, 0)])[None].astype(np.float32) / 255
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)[0]
    return float(np.linalg.norm(lab[0] - lab[1]))


def _portraittalker(*args: str | Path) -> None:
    command = [sys.executable, "-m", "portraittalker.cli", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")


def _ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


def likeness_of_clip(clip: Path, work: Path, *, steps: int, avatar_size: int, video_size: int,
                     seconds: float, prompt: str) -> tuple[LikenessRow, list[np.ndarray]]:
    """Photo avatar vs default avatar for one real clip; also returns (real, photo, default) example frames."""
    work.mkdir(parents=True, exist_ok=True)
    photo, speech = work / "photo.png", work / "speech.wav"
    _ffmpeg("-i", clip, "-frames:v", "1", photo)
    _ffmpeg("-i", clip, "-t", f"{seconds}", "-vn", "-ac", "1", speech)
    avatar_dir = work / "avatar"
    if not (avatar_dir / "avatar.json").is_file():
        _portraittalker("avatar", "--photo", photo, "--out", avatar_dir, "--steps", steps, "--size", avatar_size)
    videos = {"photo": work / "photo_avatar.mp4", "default": work / "default_avatar.mp4"}
    for name, source in (("photo", ["--avatar", avatar_dir]), ("default", ["--prompt", prompt])):
        if not videos[name].is_file():
            _portraittalker("generate", *source, "--audio", speech, "--out", videos[name], "--size", video_size)
    # The person: frames from 1 s on (not the photo), every 5th, to cover several expressions and poses.
    reference = measure_video(clip, start=25, step=5, max_frames=40)
    measured = {name: measure_video(path, step=2, max_frames=40) for name, path in videos.items()}
    row = LikenessRow(
        clip=clip.stem,
        photo_shape=shape_distance(measured["photo"], reference),
        default_shape=shape_distance(measured["default"], reference),
        photo_colour_de=colour_distance(measured["photo"], reference),
        default_colour_de=colour_distance(measured["default"], reference),
        reference_frames=len(reference.mouth_gap),
    )
    return row, [reference.example, measured["photo"].example, measured["default"].example]


def contact_sheet(rows: list[LikenessRow], examples: list[list[np.ndarray]], path: Path, size: int = 192) -> None:
    """One row per clip: the person (a later frame), the photo avatar, the default avatar."""
    tiles = []
    for row, frames in zip(rows, examples, strict=True):
        cells = [cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA) for frame in frames]
        labels = [row.clip[:24], f"photo  shape {row.photo_shape:.3f}  dE {row.photo_colour_de:.1f}",
                  f"default  shape {row.default_shape:.3f}  dE {row.default_colour_de:.1f}"]
        for cell, label in zip(cells, labels, strict=True):
            cv2.putText(cell, label, (4, size - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(np.concatenate(cells, axis=1))
    sheet = np.concatenate(tiles, axis=0)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if ok:
        write_bytes_atomic(path, encoded.tobytes())


def summarise(rows: list[LikenessRow]) -> dict:
    def mean(key: str) -> float:
        return float(np.mean([getattr(r, key) for r in rows]))

    return {
        "clips": len(rows),
        "photo_shape_mean": mean("photo_shape"), "default_shape_mean": mean("default_shape"),
        "photo_colour_de_mean": mean("photo_colour_de"), "default_colour_de_mean": mean("default_colour_de"),
        "photo_closer_shape": sum(r.photo_shape < r.default_shape for r in rows),
        "photo_closer_colour": sum(r.photo_colour_de < r.default_colour_de for r in rows),
    }


def evaluate_likeness(clips: list[Path], out_dir: Path, *, steps: int = 60, avatar_size: int = 128,
                      video_size: int = 256, seconds: float = 3.0, prompt: str = DEFAULT_PROMPT) -> dict:
    """Run every clip (a failing clip is recorded and skipped); write likeness.json and likeness.png."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, examples, failures = [], [], {}
    for number, clip in enumerate(clips, 1):
        print(f"[{number}/{len(clips)}] {clip.name}", flush=True)
        try:
            row, frames = likeness_of_clip(clip, out_dir / "work" / clip.stem, steps=steps, avatar_size=avatar_size,
                                           video_size=video_size, seconds=seconds, prompt=prompt)
        except (RuntimeError, ValueError, subprocess.CalledProcessError) as error:
            failures[str(clip)] = str(error)[-500:]
            print(f"  failed: {error}", flush=True)
            continue
        print(f"  shape photo {row.photo_shape:.4f} vs default {row.default_shape:.4f}; "
              f"colour dE photo {row.photo_colour_de:.1f} vs default {row.default_colour_de:.1f}", flush=True)
        rows.append(row)
        examples.append(frames)
    report = {"settings": {"steps": steps, "avatar_size": avatar_size, "video_size": video_size,
                           "seconds": seconds, "default_prompt": prompt},
              "summary": summarise(rows) if rows else {}, "rows": [asdict(r) for r in rows], "failures": failures}
    write_text_atomic(out_dir / "likeness.json", json.dumps(report, indent=2))
    if rows:
        contact_sheet(rows, examples, out_dir / "likeness.png")
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="+", type=Path, required=True, help="real clips of unseen speakers")
    parser.add_argument("--out", type=Path, default=Path("reports/likeness"))
    parser.add_argument("--steps", type=int, default=60, help="photo-fit optimisation steps")
    parser.add_argument("--avatar-size", type=int, default=128, help="render size of the photo fit")
    parser.add_argument("--video-size", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=3.0, help="speech per clip to render")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="prompt of the default avatar")
    args = parser.parse_args(argv)
    report = evaluate_likeness(args.clips, args.out, steps=args.steps, avatar_size=args.avatar_size,
                               video_size=args.video_size, seconds=args.seconds, prompt=args.prompt)
    print(json.dumps(report["summary"], indent=2))
    if not report["rows"]:
        raise SystemExit("no clip could be measured")


if __name__ == "__main__":
    main()
