"""Scene and rendering of a corpus clip: the avatar renderer (one GL context per run) and the clip's camera."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from portraittalker.data.config import SynthCorpusConfig
from portraittalker.data.synth.plan import ClipPlan, SpeakerProfile, seeded_rng
from portraittalker.head.base import HeadModel, HeadParams
from portraittalker.media.audio import Audio
from portraittalker.media.video import VideoWriter
from portraittalker.motion.schema import FPS, MotionTable
from portraittalker.render.gl import GLRenderer, GLRendererConfig
from portraittalker.render.scene import Camera


class ClipRenderer:
    """Owns the GL context and avatar designer for a corpus run (created once, reused per clip)."""

    def __init__(self, head: HeadModel, image_size: int, config: GLRendererConfig) -> None:
        from portraittalker.avatar.designer import AttributeDesigner  # heavy imports only when rendering

        self.head = head
        self.image_size = image_size
        self.designer = AttributeDesigner(head)
        self.renderer = GLRenderer(head, image_size, config)
        self._avatars: dict[int, object] = {}

    def avatar(self, speaker: SpeakerProfile):  # -> Avatar
        if speaker.speaker_index not in self._avatars:
            self._avatars.clear()  # consecutive clips share a speaker; keep one avatar in memory
            self._avatars[speaker.speaker_index] = self.designer.design(speaker.prompt, seed=speaker.avatar_seed)
        return self._avatars[speaker.speaker_index]

    def render(self, motion: MotionTable, avatar, camera: Camera, audio: Audio, path: Path, crf: int,
               batch_frames: int) -> None:
        self.renderer.set_appearance(avatar.material, avatar.lighting, avatar.background)
        identity = torch.as_tensor(avatar.identity, dtype=torch.float32).reshape(1, -1)
        params = motion.to_head_params(self.head, identity)
        with VideoWriter(path, self.image_size, self.image_size, fps=FPS, audio=audio, crf=crf) as writer:
            for start in range(0, len(motion), batch_frames):
                chunk = slice(start, start + batch_frames)
                batch = HeadParams(
                    identity=params.identity, expression=params.expression[chunk], jaw=params.jaw[chunk],
                    head_rotation=params.head_rotation[chunk], head_translation=params.head_translation[chunk],
                    eye_blink=params.eye_blink[chunk], eye_gaze=params.eye_gaze[chunk],
                )
                with torch.no_grad():
                    vertices = self.head(batch).cpu().numpy().astype(np.float32)
                for frame in self.renderer.render_sequence(vertices, camera):
                    writer.write(frame)

    def release(self) -> None:
        self.renderer.release()


def clip_camera(plan: ClipPlan, seed: int, image_size: int, config: SynthCorpusConfig) -> Camera:
    rng = seeded_rng(seed, "camera", plan.clip_id)
    return Camera(
        image_size=image_size,
        yaw_deg=float(rng.uniform(-1, 1) * config.camera_yaw_jitter_deg) + 0.0,  # + 0.0: no "-0.0"
        pitch_deg=float(rng.uniform(-1, 1) * config.camera_pitch_jitter_deg) + 0.0,
        distance_m=config.camera_distance_m,
        fov_deg=config.camera_fov_deg,
    )
