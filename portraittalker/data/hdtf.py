"""HDTF: parse the dataset's metadata, download the source videos (with audio), cut the clips.

Metadata files per subset ``xx`` in ``RD``/``WDA``/``WRA`` (github.com/MRzzm/HDTF, ``HDTF_dataset/``):

- ``xx_video_url.txt``: ``name url`` (``WDA_video_url.txt`` starts with a UTF-8 byte-order mark)
- ``xx_annotion_time.txt``: ``name.mp4 mm:ss-mm:ss [mm:ss-mm:ss ...]``; range k is clip ``name_k``
- ``xx_crop_wh.txt``: ``name_k.mp4 x_min width y_min height``, pixels at the listed resolution
- ``xx_resolution.txt``: ``name.mp4 720|1080|2160``
- ``xx_crop_ratio.txt``: ``name_k.mp4 ratio``

Downloaded sources are named ``<subset>_<name>.mp4``, cut clips ``<subset>_<name>_<k>.mp4``
(e.g. ``WDA_AlexandriaOcasioCortez_0``), so ids stay unique across subsets.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, Field

from portraittalker.data.inputs import ClipInput, speaker_from_clip_id
from portraittalker.data.normalise import run_ffmpeg
from portraittalker.data.quality import ClipRejected, MediaInfo, Rejection, probe_media, reject
from portraittalker.errors import PortraitTalkerError
from portraittalker.media.files import atomic_path
from portraittalker.motion.schema import FPS

log = logging.getLogger(__name__)

SUBSETS = ("RD", "WDA", "WRA")
DOWNLOAD_FAILURES_FILE = "download_failures.csv"
CUT_MANIFEST_FILE = "cut_manifest.csv"
_TIME = re.compile(r"^(\d+):(\d{1,2})(?:\.(\d+))?$")


class HDTFMetadataError(PortraitTalkerError, ValueError):
    """An HDTF metadata file is missing or has a line that cannot be parsed."""


class DownloadDependencyError(PortraitTalkerError, ImportError):
    """yt-dlp (the optional ``download`` extra) is not installed."""


@dataclass(frozen=True)
class HDTFClip:
    subset: str
    video: str  # source video name without extension, e.g. "AlexandriaOcasioCortez"
    index: int  # k in name_k
    start_s: float
    end_s: float
    crop: tuple[int, int, int, int] | None  # x_min, width, y_min, height at the listed resolution
    crop_ratio: float | None

    @property
    def clip_id(self) -> str:
        return f"{self.subset}_{self.video}_{self.index}"


@dataclass(frozen=True)
class HDTFVideo:
    subset: str
    name: str
    url: str
    resolution: int | None  # listed height (720/1080/2160)
    clips: tuple[HDTFClip, ...] = field(default=())

    @property
    def source_id(self) -> str:
        return f"{self.subset}_{self.name}"


def _lines(path: Path) -> list[tuple[int, list[str]]]:
    if not path.is_file():
        raise HDTFMetadataError(f"HDTF metadata file not found: {path}")
    text = path.read_text(encoding="utf-8-sig")  # utf-8-sig drops the byte-order mark
    return [(number, line.replace("\ufeff", "").split()) for number, line in enumerate(text.splitlines(), 1)
            if line.strip()]


def _strip_mp4(name: str) -> str:
    return name[:-4] if name.lower().endswith(".mp4") else name


def parse_timestamp(text: str) -> float:
    """``mm:ss`` (or ``mm:ss.f``) -> seconds."""
    match = _TIME.match(text)
    if not match:
        raise ValueError(f"not an mm:ss time: {text!r}")
    minutes, seconds, fraction = match.groups()
    return int(minutes) * 60 + int(seconds) + (float(f"0.{fraction}") if fraction else 0.0)


def parse_annotation_line(fields: list[str]) -> tuple[str, list[tuple[float, float]]]:
    """``['name.mp4', '00:05-01:35', ...]`` -> (name, [(start_s, end_s), ...])."""
    if len(fields) < 2:
        raise ValueError("expected 'name.mp4 mm:ss-mm:ss [...]'")
    ranges = []
    for token in fields[1:]:
        start, sep, end = token.partition("-")
        if not sep:
            raise ValueError(f"time range {token!r} lacks '-'")
        start_s, end_s = parse_timestamp(start), parse_timestamp(end)
        if end_s <= start_s:
            raise ValueError(f"time range {token!r} ends before it starts")
        ranges.append((start_s, end_s))
    return _strip_mp4(fields[0]), ranges


def load_hdtf_metadata(meta_dir: str | Path, subsets: Sequence[str] = SUBSETS) -> list[HDTFVideo]:
    """Parse all metadata of ``subsets``; videos without an annotation get no clips."""
    meta_dir = Path(meta_dir)
    videos: list[HDTFVideo] = []
    for subset in subsets:
        if subset not in SUBSETS:
            raise HDTFMetadataError(f"unknown HDTF subset {subset!r}; expected one of {SUBSETS}")

        def read(kind: str, subset: str = subset) -> list[tuple[int, list[str]]]:
            return _lines(meta_dir / f"{subset}_{kind}.txt")

        def bad(kind: str, number: int, problem: str, subset: str = subset) -> HDTFMetadataError:
            return HDTFMetadataError(f"{meta_dir / f'{subset}_{kind}.txt'} line {number}: {problem}")

        urls: dict[str, str] = {}
        for number, fields in read("video_url"):
            if len(fields) < 2:
                raise bad("video_url", number, "expected 'name url'")
            urls[_strip_mp4(fields[0])] = fields[1]
        resolutions: dict[str, int] = {}
        for number, fields in read("resolution"):
            if len(fields) < 2 or not fields[1].isdigit():
                raise bad("resolution", number, "expected 'name.mp4 height'")
            resolutions[_strip_mp4(fields[0])] = int(fields[1])
        crops: dict[str, tuple[int, int, int, int]] = {}
        for number, fields in read("crop_wh"):
            if len(fields) != 5 or not all(f.lstrip("-").isdigit() for f in fields[1:]):
                raise bad("crop_wh", number, "expected 'name_k.mp4 x_min width y_min height'")
            crops[_strip_mp4(fields[0])] = tuple(int(f) for f in fields[1:])  # type: ignore[assignment]
        ratios: dict[str, float] = {}
        ratio_path = meta_dir / f"{subset}_crop_ratio.txt"
        if ratio_path.is_file():
            for number, fields in read("crop_ratio"):
                try:
                    ratios[_strip_mp4(fields[0])] = float(fields[1])
                except (IndexError, ValueError) as error:
                    raise bad("crop_ratio", number, "expected 'name_k.mp4 ratio'") from error
        annotations: dict[str, list[tuple[float, float]]] = {}
        for number, fields in read("annotion_time"):
            try:
                name, ranges = parse_annotation_line(fields)
            except ValueError as error:
                raise bad("annotion_time", number, str(error)) from error
            annotations[name] = ranges
        for name in sorted(set(urls) | set(annotations)):
            clips = tuple(
                HDTFClip(subset, name, k, start, end, crops.get(f"{name}_{k}"), ratios.get(f"{name}_{k}"))
                for k, (start, end) in enumerate(annotations.get(name, []))
            )
            videos.append(HDTFVideo(subset, name, urls.get(name, ""), resolutions.get(name), clips))
    return videos


# -- download ---------------------------------------------------------------------------------


class DownloadConfig(BaseModel):
    """``portraittalker hdtf download`` settings (params.yaml section ``hdtf.download``)."""

    rate_limit: str | None = Field("4M", description="yt-dlp rate limit in bytes/s, e.g. '4M'; None = unlimited")
    sleep_s: float = Field(2.0, ge=0, description="pause between videos (be polite to the host)")
    retries: int = Field(3, ge=0)
    socket_timeout_s: float = 30.0


def _yt_dlp_class() -> type:
    try:
        import yt_dlp
    except ImportError as error:
        raise DownloadDependencyError(
            "downloading HDTF needs yt-dlp, an optional dependency: pip install 'portraittalker[download]'"
        ) from error
    return yt_dlp.YoutubeDL


def format_selector(height: int | None) -> str:
    """Video at the listed height (else the best below it) **plus audio**, merged to mp4."""
    if height is None:
        return "bestvideo+bestaudio/best"
    return (f"bestvideo[height={height}]+bestaudio/bestvideo[height<={height}]+bestaudio/"
            f"best[height<={height}][acodec!=none]")


def download_hdtf(meta_dir: str | Path, out_dir: str | Path, subsets: Sequence[str] = SUBSETS,
                  rate_limit: str | None = "4M", config: DownloadConfig | None = None,
                  names: Sequence[str] | None = None, ydl_class: type | None = None,
                  sleep: Callable[[float], None] = time.sleep) -> pd.DataFrame:
    """Download HDTF source videos with audio to ``out_dir/<subset>_<name>.mp4``; resumable.

    Present files are skipped; yt-dlp resumes its ``.part`` files. Every video gets a row
    (``source_id, url, status (downloaded|present|failed), reason, path``); failures (private or
    removed videos are common) are also written to ``out_dir/download_failures.csv``.
    ``ydl_class`` replaces ``yt_dlp.YoutubeDL`` (tests inject a fake).
    """
    config = (config or DownloadConfig()).model_copy(update={"rate_limit": rate_limit})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    videos = [v for v in load_hdtf_metadata(meta_dir, subsets) if v.url and v.clips]
    if names is not None:
        wanted = set(names)
        videos = [v for v in videos if v.name in wanted or v.source_id in wanted]
    youtube_dl = ydl_class or _yt_dlp_class()
    rows = []
    for position, video in enumerate(videos):
        target = out_dir / f"{video.source_id}.mp4"
        if target.is_file() and target.stat().st_size > 0:
            rows.append({"source_id": video.source_id, "url": video.url, "status": "present", "reason": "",
                         "path": str(target)})
            continue
        options = {
            "format": format_selector(video.resolution),
            "merge_output_format": "mp4",
            "outtmpl": str(out_dir / f"{video.source_id}.%(ext)s"),
            "continuedl": True,  # resume .part files
            "nopart": False,
            "retries": config.retries,
            "socket_timeout": config.socket_timeout_s,
            "quiet": True,
            "no_warnings": True,
            "noprogress": True,
        }
        if config.rate_limit:
            options["ratelimit"] = _parse_rate(config.rate_limit)
        try:
            with youtube_dl(options) as downloader:
                downloader.download([video.url])
            if not target.is_file():
                raise RuntimeError(f"yt-dlp finished but {target.name} is missing")
            rows.append({"source_id": video.source_id, "url": video.url, "status": "downloaded", "reason": "",
                         "path": str(target)})
        except Exception as error:  # yt-dlp raises DownloadError for private/removed videos; keep going
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            log.warning("hdtf download: %s failed: %s", video.source_id, message)
            rows.append({"source_id": video.source_id, "url": video.url, "status": "failed", "reason": message,
                         "path": ""})
        if position < len(videos) - 1 and config.sleep_s > 0:
            sleep(config.sleep_s)
    table = pd.DataFrame(rows, columns=["source_id", "url", "status", "reason", "path"])
    failures = table[table["status"] == "failed"]
    with atomic_path(out_dir / DOWNLOAD_FAILURES_FILE) as tmp:
        failures.to_csv(tmp, index=False)
    return table


def _parse_rate(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)i?[bB]?\s*", text)
    if not match:
        raise ValueError(f"rate limit {text!r} is not like '500K' or '4M'")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


# -- cutting ----------------------------------------------------------------------------------


class CutConfig(BaseModel):
    """``cut_hdtf_clips`` settings (params.yaml section ``hdtf.cut``)."""

    image_size: int = 512
    fps: int = FPS
    sample_rate: int = 16000
    min_crop_overlap: float = Field(0.5, gt=0, le=1, description="reject clips whose crop window is mostly "
                                                                  "outside the frame; smaller overhangs are clipped")
    video_crf: int = 18
    video_preset: str = "veryfast"


def find_source(source_dir: Path, video: HDTFVideo) -> Path | None:
    for candidate in (f"{video.source_id}.mp4", f"{video.name}.mp4", f"{video.source_id}.mkv",
                      f"{video.source_id}.webm"):
        if (source_dir / candidate).is_file():
            return source_dir / candidate
    return None


def crop_window(clip: HDTFClip, info: MediaInfo, listed_height: int | None,
                min_overlap: float) -> tuple[tuple[int, int, int, int], str] | Rejection:
    """The crop (x, y, w, h) in source pixels, clipped to the frame, plus a note if it was clipped.

    ``crop_wh`` is given at the listed resolution; a source downloaded at another height is scaled.
    """
    if clip.crop is None:
        return reject("crop_outside", f"{clip.clip_id} has no crop window in crop_wh.txt", "failed")
    x, w, y, h = clip.crop
    scale = info.height / listed_height if listed_height else 1.0
    x, y, w, h = x * scale, y * scale, w * scale, h * scale
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + w, float(info.width)), min(y + h, float(info.height))
    inside = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
    if w <= 0 or h <= 0 or inside < min_overlap * w * h:
        return reject("crop_outside", f"{clip.clip_id}: crop window x={x:.0f} y={y:.0f} {w:.0f}x{h:.0f} is "
                                      f"{1 - inside / max(w * h, 1):.0%} outside the {info.width}x{info.height} frame",
                      "failed")
    # Keep the window square (HDTF crops are) by shrinking to the smaller clipped side, centred.
    side = min(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    even = int(side) // 2 * 2  # libx264 needs even sizes
    left = min(max(round(cx - even / 2), 0), info.width - even)
    top = min(max(round(cy - even / 2), 0), info.height - even)
    window = (left, top, even, even)
    note = "" if (x0, y0, x1, y1) == (x, y, x + w, y + h) else f"crop clipped to the frame ({window[2]}px)"
    return window, note


def cut_hdtf_clips(meta_dir: str | Path, source_dir: str | Path, out_dir: str | Path,
                   subsets: Sequence[str] = SUBSETS, config: CutConfig | None = None,
                   names: Sequence[str] | None = None) -> pd.DataFrame:
    """Cut every annotated range into ``out_dir/<subset>_<name>_<k>.mp4`` (crop, 512², 25 fps, 16 kHz mono).

    Existing clips are kept (resume). Returns and writes ``cut_manifest.csv`` with one row per clip:
    ``clip_id, speaker_id, source, status (ok|present|failed), reason, path, start_s, end_s``.
    """
    config = config or CutConfig()
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for video in load_hdtf_metadata(meta_dir, subsets):
        if names is not None and video.name not in names and video.source_id not in names:
            continue
        source = find_source(source_dir, video)
        info = probe_media(source) if source is not None else None
        for clip in video.clips:
            target = out_dir / f"{clip.clip_id}.mp4"
            row = {"clip_id": clip.clip_id, "speaker_id": speaker_from_clip_id(clip.clip_id),
                   "source": str(source or ""), "status": "failed", "reason": "", "path": "",
                   "start_s": clip.start_s, "end_s": clip.end_s}
            rows.append(row)
            if target.is_file() and target.stat().st_size > 0:
                row.update(status="present", path=str(target))
                continue
            if source is None:
                row["reason"] = f"missing_file: source video {video.source_id}.mp4 not in {source_dir}"
                continue
            if isinstance(info, Rejection):
                row["reason"] = info.reason
                continue
            if info is None or not info.has_video:
                row["reason"] = f"audio_only: {source.name} has no video stream"
                continue
            if clip.start_s >= info.duration_s > 0:
                row["reason"] = f"too_short: range starts at {clip.start_s:.0f} s, source is {info.duration_s:.1f} s"
                continue
            window = crop_window(clip, info, video.resolution, config.min_crop_overlap)
            if isinstance(window, Rejection):
                row["reason"] = window.reason
                continue
            (x, y, w, h), note = window
            size = config.image_size
            video_filter = f"crop={w}:{h}:{x}:{y},scale={size}:{size}:flags=area,setsar=1,fps={config.fps}"
            arguments = ["-ss", f"{clip.start_s:.3f}", "-to", f"{clip.end_s:.3f}", "-i", str(source),
                         "-map", "0:v:0", "-vf", video_filter, "-c:v", "libx264", "-preset", config.video_preset,
                         "-crf", str(config.video_crf), "-pix_fmt", "yuv420p"]
            if info.has_audio:
                arguments += ["-map", "0:a:0", "-c:a", "aac", "-ac", "1", "-ar", str(config.sample_rate)]
            try:
                with atomic_path(target) as tmp:
                    run_ffmpeg([*arguments, "-movflags", "+faststart", str(tmp)],
                                120 + 20 * (clip.end_s - clip.start_s), f"cutting {clip.clip_id}")
            except ClipRejected as rejected:
                row["reason"] = rejected.rejection.reason
                continue
            row.update(status="ok", path=str(target), reason=note if info.has_audio else
                       f"{note + '; ' if note else ''}no audio stream in the source")
    table = pd.DataFrame(rows, columns=["clip_id", "speaker_id", "source", "status", "reason", "path", "start_s",
                                        "end_s"])
    with atomic_path(out_dir / CUT_MANIFEST_FILE) as tmp:
        table.to_csv(tmp, index=False)
    return table


def hdtf_clip_inputs(cut_manifest: pd.DataFrame, language: str = "en") -> list[ClipInput]:
    """The cut clips as ``prepare`` inputs (HDTF is English speech)."""
    usable = cut_manifest[cut_manifest["status"].isin(["ok", "present"])]
    return [ClipInput(r.clip_id, Path(r.path), "hdtf", r.speaker_id, language) for r in usable.itertuples()]
