"""HDTF metadata parsing (the real files), download with a fake yt-dlp, and clip cutting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from portraittalker.assets import REPO_ROOT
from portraittalker.data.hdtf import (
    DOWNLOAD_FAILURES_FILE,
    CutConfig,
    DownloadDependencyError,
    HDTFMetadataError,
    cut_hdtf_clips,
    download_hdtf,
    format_selector,
    hdtf_clip_inputs,
    load_hdtf_metadata,
    parse_annotation_line,
)
from portraittalker.data.quality import probe_media

META = REPO_ROOT.parent / "shared" / "data" / "hdtf_meta"
needs_meta = pytest.mark.skipif(not META.is_dir(), reason="../shared/data/hdtf_meta not available")


@needs_meta
def test_parse_real_metadata():
    videos = {v.source_id: v for v in load_hdtf_metadata(META)}
    assert len(videos) == 370
    # The byte-order mark on the first line of WDA_video_url.txt must not leak into the name.
    maloney = videos["WDA_CarolynMaloney2"]
    assert maloney.url == "https://www.youtube.com/watch?v=RApGxN-O9Qc"
    aoc = videos["WDA_AlexandriaOcasioCortez"]
    assert aoc.resolution == 720 and len(aoc.clips) == 1
    clip = aoc.clips[0]
    assert (clip.clip_id, clip.start_s, clip.end_s, clip.crop, clip.crop_ratio) == (
        "WDA_AlexandriaOcasioCortez_0", 5.0, 95.0, (342, 591, 0, 591), 1.2)
    klobuchar = videos["WDA_AmyKlobuchar1"]
    assert [c.clip_id for c in klobuchar.clips][-1] == "WDA_AmyKlobuchar1_3"
    assert klobuchar.clips[3].start_s == 6 * 60 + 45
    # Trailing whitespace after the last range (WRA) is tolerated; clips without crop_wh have crop None.
    assert len(videos["WRA_AdamKinzinger2"].clips) == 3
    assert sum(c.crop is None for v in videos.values() for c in v.clips) == 15


def test_bad_metadata_names_file_and_line(tmp_path):
    for kind, text in (("video_url", "a http://x\n"), ("resolution", "a.mp4 720\n"), ("crop_wh", ""),
                       ("annotion_time", "a.mp4 00:05-01:3x\n")):
        (tmp_path / f"RD_{kind}.txt").write_text(text)
    with pytest.raises(HDTFMetadataError, match=r"RD_annotion_time.txt line 1"):
        load_hdtf_metadata(tmp_path, ["RD"])
    with pytest.raises(ValueError, match="ends before"):
        parse_annotation_line(["a.mp4", "01:00-00:30"])
    assert format_selector(1080).startswith("bestvideo[height=1080]+bestaudio")


def _write_meta(folder: Path, crops: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "RD_video_url.txt").write_text("\ufeffTalk https://example.invalid/talk\nGone https://example.invalid/gone\n",
                                             encoding="utf-8")
    (folder / "RD_resolution.txt").write_text("Talk.mp4 360\nGone.mp4 720\n")
    (folder / "RD_annotion_time.txt").write_text("Talk.mp4 00:00-00:01 00:01-00:02 00:02-00:03 00:03-00:04 \n"
                                                 "Gone.mp4 00:00-00:05\n")
    (folder / "RD_crop_wh.txt").write_text("".join(f"{k}.mp4 {v}\n" for k, v in crops.items()))


class FakeYoutubeDL:
    calls: ClassVar[list] = []

    def __init__(self, options):
        self.options = options

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def download(self, urls):
        FakeYoutubeDL.calls.append((urls, self.options))
        if "gone" in urls[0]:
            raise RuntimeError("ERROR: [youtube] gone: Private video\nmore detail")
        Path(self.options["outtmpl"].replace("%(ext)s", "mp4")).write_bytes(b"video")


def test_download_with_fake_yt_dlp(tmp_path):
    _write_meta(tmp_path / "meta", {"Talk_0": "0 100 0 100"})
    FakeYoutubeDL.calls = []
    table = download_hdtf(tmp_path / "meta", tmp_path / "src", ["RD"], rate_limit="1M", ydl_class=FakeYoutubeDL,
                          sleep=lambda s: None)
    status = dict(zip(table["source_id"], table["status"], strict=True))
    assert status == {"RD_Gone": "failed", "RD_Talk": "downloaded"}
    options = {urls[0]: opts for urls, opts in FakeYoutubeDL.calls}["https://example.invalid/talk"]
    assert options["format"].startswith("bestvideo[height=360]+bestaudio") and options["ratelimit"] == 1 << 20
    assert options["continuedl"] and options["merge_output_format"] == "mp4"
    failures = (tmp_path / "src" / DOWNLOAD_FAILURES_FILE).read_text()
    assert "RD_Gone" in failures and "Private video" in failures
    # Resume: the present file is skipped, only the failed one is retried.
    FakeYoutubeDL.calls = []
    again = download_hdtf(tmp_path / "meta", tmp_path / "src", ["RD"], ydl_class=FakeYoutubeDL, sleep=lambda s: None)
    assert dict(zip(again["source_id"], again["status"], strict=True))["RD_Talk"] == "present"
    assert [urls for urls, _ in FakeYoutubeDL.calls] == [["https://example.invalid/gone"]]


def test_download_without_yt_dlp_says_how_to_install(tmp_path, monkeypatch):
    _write_meta(tmp_path / "meta", {})
    monkeypatch.setitem(sys.modules, "yt_dlp", None)  # import yt_dlp -> ImportError
    with pytest.raises(DownloadDependencyError, match=r"portraittalker\[download\]"):
        download_hdtf(tmp_path / "meta", tmp_path / "src", ["RD"])


def test_cut_clips_crop_resample_and_reasons(tmp_path):
    # 640x360 source at 30 fps with 44.1 kHz stereo audio, as a download would be (listed at 360p).
    source = tmp_path / "src" / "RD_Talk.mp4"
    source.parent.mkdir()
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=640x360:rate=30:duration=4", "-f", "lavfi", "-i",
                    "sine=frequency=300:duration=4:sample_rate=44100", "-ac", "2", "-shortest", str(source)],
                   check=True)
    _write_meta(tmp_path / "meta", {
        "Talk_0": "100 200 50 200",  # inside
        "Talk_1": "500 200 200 200",  # overhangs right and bottom: 56% inside -> clipped, square 140
        "Talk_2": "900 200 500 200",  # entirely outside
    })  # Talk_3 has no crop window; Gone was never downloaded
    table = cut_hdtf_clips(tmp_path / "meta", tmp_path / "src", tmp_path / "clips", ["RD"],
                           CutConfig(image_size=128))
    rows = table.set_index("clip_id")
    assert rows.loc["RD_Talk_0", "status"] == "ok" and rows.loc["RD_Talk_0", "reason"] == ""
    assert rows.loc["RD_Talk_1", "status"] == "ok" and "clipped" in rows.loc["RD_Talk_1", "reason"]
    assert rows.loc["RD_Talk_2", "reason"].startswith("crop_outside")
    assert rows.loc["RD_Talk_3", "reason"].startswith("crop_outside")
    assert rows.loc["RD_Gone_0", "reason"].startswith("missing_file")
    info = probe_media(rows.loc["RD_Talk_0", "path"])
    assert (info.width, info.height, info.fps, info.audio_sample_rate, info.audio_channels) == (128, 128, 25, 16000, 1)
    assert abs(info.duration_s - 1.0) < 0.1
    inputs = hdtf_clip_inputs(table)
    assert [c.clip_id for c in inputs] == ["RD_Talk_0", "RD_Talk_1"] and inputs[0].speaker_id == "RD_Talk"
    again = cut_hdtf_clips(tmp_path / "meta", tmp_path / "src", tmp_path / "clips", ["RD"], CutConfig(image_size=128))
    assert again.set_index("clip_id").loc["RD_Talk_0", "status"] == "present"
