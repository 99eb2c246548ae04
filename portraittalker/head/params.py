"""Head parameters, array-type agnostic: torch tensors for :class:`~portraittalker.head.base.HeadModel`, numpy arrays
for the torch-free rig (:class:`~portraittalker.head.ict_rig.ICTRig`) that ``generate`` uses. No torch import here,
so the generate path can stay without torch (~2-3 s of start-up on these CPUs)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch
    from torch import Tensor


@dataclass
class HeadParams:
    """Batched head parameters; every field is (B, k) float32 (identity may be (1, k) to broadcast)."""

    identity: Tensor  # (B|1, n_identity)
    expression: Tensor  # (B, n_expression)
    jaw: Tensor  # (B, 3)
    head_rotation: Tensor  # (B, 3)
    head_translation: Tensor  # (B, 3) metres
    eye_blink: Tensor  # (B, 2)
    eye_gaze: Tensor  # (B, 2)

    @property
    def batch_size(self) -> int:
        return self.expression.shape[0]

    def to(self, device: torch.device | str) -> HeadParams:
        return HeadParams(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def frames(self, start: int, stop: int) -> HeadParams:
        """Frames ``start:stop`` of every per-frame field; a shared (1, k) identity is kept as is."""
        return HeadParams(**{
            f.name: getattr(self, f.name) if f.name == "identity" and self.identity.shape[0] == 1
            else getattr(self, f.name)[start:stop] for f in fields(self)
        })

    def detach(self) -> HeadParams:
        return HeadParams(**{f.name: getattr(self, f.name).detach() for f in fields(self)})


class HeadLike(Protocol):
    """What the avatar, texture, renderer and motion code read of a head: a torch
    :class:`~portraittalker.head.base.HeadModel` (tensors) or the numpy :class:`~portraittalker.head.ict_rig.ICTRig`
    (arrays). Array attributes are read through :func:`as_numpy`."""

    name: str
    n_identity: int
    expression_names: list[str]
    component_names: list[str]
    faces: Any  # (F, 3) int
    uvs: Any  # (T, 2) float
    face_uvs: Any  # (F, 3) int, per-corner UV indices
    landmarks68: Any  # (68,) int
    lip_vertices: Any  # (L,) int
    triangle_component: Any  # (F,) int
    render_faces: Any  # (F,) bool

    @property
    def n_vertices(self) -> int: ...

    @property
    def n_expression(self) -> int: ...

    def neutral_params(self, batch_size: int = 1) -> HeadParams: ...

    def deform(self, params: HeadParams) -> Any: ...


def as_numpy(values: Any) -> np.ndarray:
    """A torch tensor (any device, detached) or array-like as a numpy array."""
    if hasattr(values, "detach"):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def uses_torch(head: Any) -> bool:
    """Whether ``head`` is a torch module (a :class:`~portraittalker.head.base.HeadModel`) rather than a numpy rig."""
    return hasattr(head, "named_buffers")


def neutral_vertices(head: Any) -> np.ndarray:
    """(V, 3) float64 metres: the head's mean face (identity, expression and pose zero), torch head or numpy rig."""
    return as_numpy(head.deform(head.neutral_params()))[0].astype(np.float64)


def like(reference: Any, values: np.ndarray) -> Any:
    """``values`` in the array type (and device) of ``reference``: a tensor for a torch head, else numpy float32."""
    if hasattr(reference, "new_tensor"):
        return reference.new_tensor(values)
    return np.asarray(values, dtype=np.float32)
