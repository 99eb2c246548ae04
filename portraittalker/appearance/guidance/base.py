"""The guidance interface: what the optimiser asks of a signal that says how a rendering should look."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from portraittalker.appearance.errors import GuidanceError
from portraittalker.appearance.render import AppearanceRenderer, ViewBatch, ViewSampler
from portraittalker.head.base import HeadModel
from portraittalker.render.diff import RenderOutput

__all__ = ["Guidance", "GuidanceContext", "GuidanceError"]


@dataclass
class GuidanceContext:
    head: HeadModel
    renderer: AppearanceRenderer
    sampler: ViewSampler
    device: torch.device
    total_steps: int


class Guidance:
    """Base class; subclasses register under :attr:`name` in ``GUIDANCES``."""

    name: ClassVar[str] = ""

    def setup(self, context: GuidanceContext) -> None:
        self.context = context

    def views(self, step: int) -> ViewBatch:
        """The views of ``step`` (default: the random sampler's)."""
        return self.context.sampler.sample(step, self.context.device)

    def losses(self, render: RenderOutput, views: ViewBatch, vertices: Tensor, albedo: Tensor,
               step: int) -> dict[str, Tensor]:
        """Weighted loss terms of one step (summed by the optimiser)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None

    def metadata(self) -> dict[str, Any]:
        """JSON-able description written into the avatar's attributes."""
        return {"guidance": self.name}
