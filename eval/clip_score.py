"""CLIP-T: prompt-frame agreement with a local CLIP checkpoint (transformers ``CLIPModel`` folder).

Score = mean over ``n_frames`` evenly spaced frames of the cosine similarity between the CLIP image
embedding of the frame and the text embedding of the prompt (raw cosine, not x100). Frames are
resized (shorter side to the model's image size, bicubic), centre-cropped and normalised with the
checkpoint's ``preprocessor_config.json`` mean/std when present, else OpenAI CLIP's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from eval.common import WeightsError

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_HOW_TO_GET = "save a CLIP model folder (config.json, weights, tokenizer files), e.g. openai/clip-vit-base-patch32"


class ClipScorer:
    """Loads a CLIP checkpoint folder once; :meth:`score` gives CLIP-T for frames + prompt."""

    def __init__(self, path: str | Path, device: str = "cpu") -> None:
        from transformers import AutoTokenizer, CLIPModel

        path = Path(path)
        if not (path / "config.json").is_file():
            raise WeightsError(f"CLIP checkpoint not found: {path} has no config.json. To get one, {CLIP_HOW_TO_GET}")
        try:
            self.model = CLIPModel.from_pretrained(path).to(device).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as error:
            raise WeightsError(f"{path}: cannot load CLIP model/tokenizer ({error})") from error
        self.device = device
        self.image_size = int(self.model.config.vision_config.image_size)
        self.mean, self.std = OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
        preprocessor = path / "preprocessor_config.json"
        if preprocessor.is_file():
            settings = json.loads(preprocessor.read_text())
            self.mean = tuple(settings.get("image_mean", self.mean))
            self.std = tuple(settings.get("image_std", self.std))

    def preprocess(self, frames_rgb: np.ndarray) -> torch.Tensor:
        size = self.image_size
        batch = []
        for frame in frames_rgb:
            image = Image.fromarray(frame)
            scale = size / min(image.size)
            image = image.resize((max(size, round(image.width * scale)), max(size, round(image.height * scale))),
                                 Image.Resampling.BICUBIC)
            left, top = (image.width - size) // 2, (image.height - size) // 2
            array = np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
            batch.append((array - np.array(self.mean, np.float32)) / np.array(self.std, np.float32))
        return torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).to(self.device)

    @torch.no_grad()
    def embeddings(self, frames_rgb: np.ndarray, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.tokenizer([prompt], padding=True, truncation=True, return_tensors="pt").to(self.device)
        text = self.model.get_text_features(**tokens)
        image = self.model.get_image_features(pixel_values=self.preprocess(frames_rgb))
        text = getattr(text, "pooler_output", text)
        image = getattr(image, "pooler_output", image)
        return image, text

    def score(self, frames_rgb: np.ndarray, prompt: str, n_frames: int = 8) -> float:
        if not prompt or not prompt.strip():
            raise ValueError("CLIP-T needs a non-empty prompt")
        indices = np.linspace(0, len(frames_rgb) - 1, min(n_frames, len(frames_rgb))).astype(int)
        image, text = self.embeddings(frames_rgb[indices], prompt)
        cosine = torch.nn.functional.cosine_similarity(image, text.expand_as(image), dim=-1)
        return float(cosine.mean())
