"""First frames of real clips of held-out speakers, as the photos of the `avatars` stage's photo jobs.

The clips live in ``../shared`` (never copied into the repository); the photos are a DVC output.

    python examples/make_demo_photos.py --out data/demo_photos
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from portraittalker.assets import REPO_ROOT

SHARED = REPO_ROOT.parent / "shared" / "data"
CLIPS = {  # test-split speakers of the real corpus (never trained on)
    "katie_hill": SHARED / "real_clips" / "WDA_KatieHill_000.mp4",
    "bob_menendez": SHARED / "real_corpus" / "SadTalker_WDA_BobMenendez_000.mp4",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data/demo_photos"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, clip in CLIPS.items():
        if not clip.is_file():
            raise SystemExit(f"{clip}: not found (the real clips come with ../shared; see ../shared/README.md)")
        path = args.out / f"{name}.png"
        partial = path.with_name(f".{path.stem}.partial.png")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-frames:v", "1", str(partial)], check=True)
        partial.replace(path)
        print(path)


if __name__ == "__main__":
    main()
