"""Fit a parametric head to tracked 2D landmarks: per-clip identity, per-frame expression and pose.

The fit minimises the weighted reprojection error of landmark correspondences (the Multi-PIE 68
points of :data:`portraittalker.face.tracking.MEDIAPIPE_TO_68` against ``head.landmarks68``, plus the
iris centres against the eyeball pupils) through a fixed perspective :class:`Camera`, with L2
priors on the coefficients, box constraints on blendshape weights (projected gradient: clamp after
every step) and first-difference temporal smoothness. All frames of a clip are optimised as one
batch.

Speed comes from never deforming the full mesh: :func:`landmark_subset` gathers the rows of the
neutral / identity / expression / driven bases at the few landmark vertices, so one iteration
costs a (B, K) @ (K, 3L) product with L ≈ 70. Heads that do not expose ICT-style linear bases
fall back to the full forward pass (correct, just slower).

Head pose lands in the motion-schema columns: ``head_rotation`` (pitch, yaw, roll about
``head.pivot``) and ``head_translation`` (metres, world frame), seen by ``FitResult.camera``.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from portraittalker.errors import PortraitTalkerError
from portraittalker.face.config import FittingConfig
from portraittalker.face.tracking import MEDIAPIPE_TO_68
from portraittalker.head.base import HeadModel, HeadParams, euler_to_matrix
from portraittalker.render.scene import Camera

# MediaPipe refined-iris centres: 468 is the subject's right iris, 473 the subject's left.
MEDIAPIPE_IRIS_RIGHT, MEDIAPIPE_IRIS_LEFT = 468, 473
N_CONTOUR = 17  # Multi-PIE points 0-16: the jaw line
MAX_GAZE_RAD = 0.5
# ICT-FaceKit vertex for each point of MEDIAPIPE_TO_68. ICT's own Multi-PIE landmarks68 sit where
# MediaPipe's points do not (jaw line up to 37 px apart, nose bridge ~4 px at 512²), so this table
# was made with :func:`calibrate_landmark_vertices` (2 rounds, all ICT face vertices as candidates)
# on the two real HDTF clips in ../shared/data/real_clips. Calibrated on one clip and evaluated on
# the other it cuts the mean fit error from 6.1/6.0 px to 2.6/3.0 px.
ICT_MEDIAPIPE68_VERTICES = (
    253, 1047, 1052, 372, 746, 845, 781, 1725, 965, 3882, 3023, 2477, 2986, 2613, 3272, 3267, 2485,  # jaw
    268, 1008, 1030, 2043, 1402, 3616, 4239, 3250, 2734, 3214,  # brows
    977, 1348, 4839, 4857, 69, 2075, 4920, 4281, 5027,  # nose
    568, 690, 654, 2068, 572, 581, 4262, 2895, 2930, 2809, 2821, 2813,  # eyes
    5733, 5692, 6043, 5524, 6547, 6197, 6238, 6382, 6479, 5518, 5975, 5877,  # outer lips
    5597, 6038, 5533, 6542, 6422, 6488, 5519, 5984,  # inner lips
)


class FittingError(PortraitTalkerError, ValueError):
    """The landmarks cannot be fitted (wrong shape, no tracked frame)."""


@dataclass
class LandmarkSubset:
    """Linear-basis rows of a head restricted to K vertices (the fast path of the fit)."""

    neutral: Tensor  # (K, 3)
    identity_basis: Tensor  # (n_identity, K*3)
    expression_basis: Tensor  # (n_expression, K*3)
    driven_basis: Tensor | None  # (n_driven, K*3), ICT jaw/eye controls
    eyeball_centres: tuple[int, int] | None  # rows in K that are eyeball centres (for gaze rotation)
    pupils: tuple[int, int] | None  # rows in K that are pupils rotated about those centres

    def to(self, device: torch.device | str) -> LandmarkSubset:
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return LandmarkSubset(move(self.neutral), move(self.identity_basis), move(self.expression_basis),
                              move(self.driven_basis), self.eyeball_centres, self.pupils)


def landmark_subset(head: HeadModel, vertex_ids: Tensor, eyeballs: tuple[Tensor, Tensor] | None = None,
                    pupil_ids: tuple[int, int] | None = None) -> LandmarkSubset | None:
    """Slice an ICT-style head's linear bases to ``vertex_ids``; ``None`` if the head has no such bases.

    ``eyeballs`` (left ids, right ids) add two virtual vertices, the eyeball centres (bases averaged
    over each eyeball, exact since the model is linear), appended after ``vertex_ids``.
    """
    needed = ("neutral", "identity_basis", "expression_basis")
    if not all(isinstance(getattr(head, name, None), Tensor) for name in needed):
        return None
    n_vertices = head.neutral.shape[0]
    driven = getattr(head, "driven_basis", None)

    def gather(full: Tensor) -> Tensor:
        cube = full.reshape(full.shape[0], n_vertices, 3)
        parts = [cube[:, vertex_ids]]
        if eyeballs is not None:
            parts += [cube[:, ids].mean(1, keepdim=True) for ids in eyeballs]
        return torch.cat(parts, 1).reshape(full.shape[0], -1)

    neutral = gather(head.neutral[None])[0].reshape(-1, 3)
    centres = pupils = None
    if eyeballs is not None and pupil_ids is not None:
        centres = (len(vertex_ids), len(vertex_ids) + 1)
        pupils = pupil_ids
    return LandmarkSubset(
        neutral=neutral,
        identity_basis=gather(head.identity_basis),
        expression_basis=gather(head.expression_basis),
        driven_basis=gather(driven) if isinstance(driven, Tensor) else None,
        eyeball_centres=centres,
        pupils=pupils,
    )


def _eyeball_ids(head: HeadModel) -> tuple[Tensor, Tensor] | None:
    names = getattr(head, "component_names", [])
    ranges = getattr(head, "vertex_ranges", None)
    if ranges is None or "eyeball_left" not in names or "eyeball_right" not in names:
        return None
    return tuple(torch.arange(*map(int, ranges[names.index(n)])) for n in ("eyeball_left", "eyeball_right"))


def default_landmark_vertices(head: HeadModel) -> Tensor:
    """Head vertices matching the MediaPipe 68-point subset: calibrated for ICT, ``landmarks68`` otherwise."""
    n_vertices = getattr(head, "n_vertices", 0)
    if head.name == "ict-facekit" and n_vertices > max(ICT_MEDIAPIPE68_VERTICES):
        return torch.tensor(ICT_MEDIAPIPE68_VERTICES, dtype=torch.long)
    return head.landmarks68.cpu().long()


class LandmarkModel:
    """Evaluates posed 3D positions of the fit's correspondence vertices for a batch of params."""

    def __init__(self, head: HeadModel, device: torch.device | str = "cpu",
                 landmark_vertices: Tensor | None = None) -> None:
        self.head = head
        ids = [default_landmark_vertices(head) if landmark_vertices is None else landmark_vertices.cpu().long()]
        eyeballs = _eyeball_ids(head)
        pupil_rows = None
        if eyeballs is not None:
            neutral = head.neutral if isinstance(getattr(head, "neutral", None), Tensor) else None
            if neutral is not None:
                # The pupil is the most forward (+Z) vertex of each eyeball at rest.
                pupils = [int(e[neutral[e, 2].argmax()]) for e in eyeballs]
                ids.append(torch.tensor(pupils))
                pupil_rows = (68, 69)
        self.vertex_ids = torch.cat(ids).long()
        self.has_iris = pupil_rows is not None
        subset = landmark_subset(head, self.vertex_ids, eyeballs if self.has_iris else None, pupil_rows)
        self.subset = subset.to(device) if subset is not None else None
        self.pivot = head.pivot.to(device)
        self.device = device

    @property
    def n_points(self) -> int:
        return len(self.vertex_ids)

    def __call__(self, params: HeadParams) -> Tensor:
        """(B, n_points, 3) posed positions in metres."""
        if self.subset is None:  # generic head: full forward, then gather
            return self.head(params)[:, self.vertex_ids.to(params.expression.device)]
        s = self.subset
        batch = params.batch_size
        offsets = params.expression @ s.expression_basis + params.identity @ s.identity_basis
        if s.driven_basis is not None and hasattr(self.head, "driven_weights"):
            offsets = offsets + self.head.driven_weights(params) @ s.driven_basis
        points = s.neutral + offsets.reshape(batch, -1, 3)
        if s.pupils is not None and s.eyeball_centres is not None:
            # Same eyeball rotation as ICTFaceKit._rotate_eyeballs, applied to the two pupils only.
            gaze = params.eye_gaze
            angles = torch.stack([gaze[:, 1], gaze[:, 0], torch.zeros_like(gaze[:, 0])], dim=-1)
            rotation = euler_to_matrix(angles)
            rotated = []
            for pupil, centre in zip(s.pupils, s.eyeball_centres, strict=True):
                c = points[:, centre : centre + 1]
                rotated.append((points[:, pupil : pupil + 1] - c) @ rotation.transpose(-1, -2) + c)
            points = torch.cat([points[:, : s.pupils[0]], *rotated, points[:, s.pupils[1] + 1 :]], dim=1)
            points = points[:, : self.n_points]
        rotation = euler_to_matrix(params.head_rotation)
        return (points - self.pivot) @ rotation.transpose(-1, -2) + self.pivot + params.head_translation[:, None]


def fit_camera(config: FittingConfig, image_size: int = 512) -> Camera:
    """The fixed camera of the fit: scene conventions, looking at the origin from +Z."""
    return Camera(image_size=image_size, fov_deg=config.fov_deg, distance_m=config.distance_m,
                  target=(0.0, 0.0, 0.0))


@dataclass
class FitResult:
    params: HeadParams  # B = frames; identity (1, n_identity)
    camera: Camera
    frame_error_px: np.ndarray  # (N,) mean landmark distance per frame (NaN where untracked)
    projected68: np.ndarray  # (N, 68, 2) fitted landmark pixels

    @property
    def mean_error_px(self) -> float:
        valid = self.frame_error_px[np.isfinite(self.frame_error_px)]
        return float(valid.mean()) if valid.size else math.nan


def _targets(landmarks: np.ndarray, with_iris: bool) -> np.ndarray:
    ids = list(MEDIAPIPE_TO_68) + ([MEDIAPIPE_IRIS_LEFT, MEDIAPIPE_IRIS_RIGHT] if with_iris else [])
    return landmarks[:, ids, :2]


def _initial_pose(targets: Tensor, valid: Tensor, model: LandmarkModel, camera: Camera,
                  neutral: HeadParams) -> tuple[Tensor, Tensor]:
    """Translation per frame placing the neutral head over each frame's landmarks (scale via depth)."""
    with torch.no_grad():
        rest = model(neutral)[:, :68]  # (1, 68, 3)
        projected = camera.project(rest)[0]
        focal = camera.image_size / 2 / math.tan(math.radians(camera.fov_deg) / 2)
        depth = camera.distance_m - float(rest[0, :, 2].mean())
        target68 = targets[:, :68]
        spread = (target68 - target68.mean(1, keepdim=True)).norm(dim=-1).mean(1)  # (N,)
        rest_spread = (projected - projected.mean(0)).norm(dim=-1).mean()
        scale = (spread / rest_spread).clamp(0.2, 5.0)
        new_depth = depth / scale
        shift = (target68.mean(1) - projected.mean(0)) * new_depth[:, None] / focal  # metres at that depth
        translation = torch.stack([shift[:, 0], -shift[:, 1], depth - new_depth], dim=-1)
        fill = translation[valid].mean(0) if bool(valid.any()) else torch.zeros(3)
        translation[~valid] = fill
    return translation, torch.zeros_like(translation)


def fit_landmarks(landmarks: np.ndarray, head: HeadModel, config: FittingConfig | None = None,
                  image_size: int = 512, model: LandmarkModel | None = None) -> FitResult:
    """Fit ``head`` to tracked MediaPipe landmarks (N, 478, ≥2) in pixels of an ``image_size``² clip.

    Rows that are NaN (no face) are ignored by the data term and filled by temporal smoothness.
    Pass a prebuilt ``model`` to reuse the gathered bases across clips.
    """
    config = config or FittingConfig()
    with _torch_threads(config.torch_threads):
        return _fit_landmarks(landmarks, head, config, image_size, model)


_threads_lock = threading.Lock()
_threads_state = {"active": 0, "previous": 0}


@contextlib.contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    """Set torch's (process-global) thread count while any fit runs; restore it after the last one."""
    with _threads_lock:
        if _threads_state["active"] == 0:
            _threads_state["previous"] = torch.get_num_threads()
            torch.set_num_threads(count)
        _threads_state["active"] += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_state["active"] -= 1
            if _threads_state["active"] == 0:
                torch.set_num_threads(_threads_state["previous"])


def _fit_landmarks(landmarks: np.ndarray, head: HeadModel, config: FittingConfig, image_size: int,
                   model: LandmarkModel | None) -> FitResult:
    landmarks = np.asarray(landmarks, dtype=np.float32)
    if landmarks.ndim != 3 or landmarks.shape[1] < 478 or landmarks.shape[2] < 2:
        raise FittingError(f"landmarks must be (N, 478, 2|3) MediaPipe pixels, got {landmarks.shape}")
    device = torch.device(config.device)
    model = model or LandmarkModel(head, device)
    camera = fit_camera(config, image_size)
    n_frames = landmarks.shape[0]
    targets_np = _targets(landmarks, model.has_iris)
    valid_np = np.isfinite(targets_np).all(axis=(1, 2))
    if not valid_np.any():
        raise FittingError("no frame has tracked landmarks to fit")
    targets = torch.from_numpy(np.nan_to_num(targets_np)).to(device)
    valid = torch.from_numpy(valid_np).to(device)
    weights = torch.ones(model.n_points, device=device)
    weights[:N_CONTOUR] = config.contour_weight
    weights[68:] = config.iris_weight
    weights = weights / weights.sum()
    valid_f = valid.float()
    n_valid = valid_f.sum()

    neutral = head.neutral_params(1, device)
    translation, rotation = _initial_pose(targets.cpu(), valid.cpu(), model, camera, neutral.to("cpu"))
    n_id = min(config.n_identity, head.n_identity)
    identity = torch.zeros(1, n_id, device=device, requires_grad=True)
    head_translation = translation.to(device).requires_grad_(True)
    head_rotation = rotation.to(device).requires_grad_(True)
    expression = torch.zeros(n_frames, head.n_expression, device=device, requires_grad=True)
    jaw_open = torch.full((n_frames, 1), 0.02, device=device, requires_grad=True)  # radians, >= 0
    blink = torch.zeros(n_frames, 2, device=device, requires_grad=True)
    gaze = torch.zeros(n_frames, 2, device=device, requires_grad=True)
    from_ict = getattr(head, "driven_weights", None) is not None
    max_jaw = 0.32 if from_ict else 0.5  # ICT: jawOpen weight 1 = 0.32 rad

    jaw_rest = torch.zeros(n_frames, 2, device=device)  # lateral and roll stay 0
    identity_rest = torch.zeros(1, head.n_identity - n_id, device=device)
    no_gaze = torch.zeros(n_frames, 2, device=device)

    def params() -> HeadParams:
        return HeadParams(
            identity=torch.cat([identity, identity_rest], 1),
            expression=expression,
            jaw=torch.cat([jaw_open, jaw_rest], 1),
            head_rotation=head_rotation,
            head_translation=head_translation,
            eye_blink=blink,
            eye_gaze=gaze if model.has_iris else no_gaze,
        )

    # Camera.project rebuilds its matrices per call; the fit loop reuses them (same maths).
    clip_matrix = torch.as_tensor(camera.projection_matrix() @ camera.view_matrix(), dtype=torch.float32,
                                  device=device).T.contiguous()

    def project(points: Tensor) -> Tensor:
        homogeneous = points @ clip_matrix[:3] + clip_matrix[3]
        ndc = homogeneous[..., :2] / homogeneous[..., 3:4]
        return torch.stack([(ndc[..., 0] + 1.0) * 0.5 * image_size, (1.0 - ndc[..., 1]) * 0.5 * image_size], -1)

    def smooth(x: Tensor) -> Tensor:
        return (x[1:] - x[:-1]).square().sum(-1).mean() if x.shape[0] > 1 else x.new_zeros(())

    def run(variables: list[Tensor], steps: int, rigid: bool) -> None:
        # Translation is in metres (~1 mm matters), so it gets a smaller step than angles and weights.
        others = [v for v in variables if v is not head_translation]
        optimiser = torch.optim.Adam([{"params": others}, {"params": [head_translation],
                                      "lr": config.learning_rate * 0.05}], lr=config.learning_rate, foreach=True)
        for _ in range(steps):
            optimiser.zero_grad(set_to_none=True)
            squared = (project(model(params())) - targets).square().sum(-1)  # (N, P)
            loss = ((squared @ weights) * valid_f).sum() / n_valid
            loss = loss + config.identity_prior * identity.square().sum()
            # One smoothness term per block (fewer autograd nodes): translation counts 4x, blinks 0.2x.
            loss = loss + config.smooth_pose * smooth(torch.cat([head_rotation, 2 * head_translation], 1))
            if not rigid:
                loss = loss + config.expression_prior * (expression.square().sum() + blink.square().sum()) / n_frames
                loss = loss + config.smooth_expression * smooth(
                    torch.cat([expression, jaw_open / max_jaw, blink * 0.2**0.5, gaze], 1))
            loss.backward()
            optimiser.step()
            with torch.no_grad():  # box constraints by projection; tiny floors keep relu gradients alive
                expression.clamp_(0.0, 1.0)
                jaw_open.clamp_(1e-4, max_jaw)
                blink.clamp_(0.0, 1.0)
                gaze.clamp_(-MAX_GAZE_RAD, MAX_GAZE_RAD)

    run([identity, head_rotation, head_translation], config.rigid_iterations, rigid=True)
    run([identity, head_rotation, head_translation, expression, jaw_open, blink, gaze], config.iterations,
        rigid=False)

    with torch.no_grad():
        final = params()
        pixels = project(model(final))
        distance = (pixels[:, :68] - targets[:, :68]).norm(dim=-1).mean(-1)
        error = torch.where(valid, distance, torch.full_like(distance, float("nan")))
    return FitResult(
        params=final.detach().to("cpu"),
        camera=camera,
        frame_error_px=error.cpu().numpy(),
        projected68=pixels[:, :68].cpu().numpy(),
    )


def calibrate_landmark_vertices(head: HeadModel, landmark_sets: list[np.ndarray], config: FittingConfig | None = None,
                                rounds: int = 2, candidates: Tensor | None = None,
                                image_size: int = 512) -> list[int]:
    """Re-pick the head vertex for each MediaPipe 68-point landmark from real tracks.

    Each round fits every track in ``landmark_sets`` with the current correspondences, projects all
    ``candidates`` vertices (default: the head's face component, else all) of the fitted meshes and
    keeps, per landmark, the vertex with the smallest mean distance to it over all frames. This is
    how :data:`ICT_MEDIAPIPE68_VERTICES` was made.
    """
    config = (config or FittingConfig()).model_copy(update={"contour_weight": 1.0})
    if candidates is None:
        ranges = getattr(head, "vertex_ranges", None)
        candidates = torch.arange(*map(int, ranges[0])) if ranges is not None else torch.arange(head.n_vertices)
    vertices = default_landmark_vertices(head)
    for _ in range(rounds):
        model = LandmarkModel(head, config.device, vertices)
        total = torch.zeros(68, len(candidates))
        for landmarks in landmark_sets:
            result = fit_landmarks(landmarks, head, config, image_size, model=model)
            targets = torch.from_numpy(np.asarray(landmarks, dtype=np.float32)[:, MEDIAPIPE_TO_68, :2])
            keep = torch.isfinite(targets).all(-1).all(-1)
            with torch.no_grad():
                pixels = result.camera.project(head(result.params.to(config.device))[:, candidates].cpu())
            for j in range(68):  # per landmark keeps memory at (N, C) instead of (N, 68, C)
                total[j] += (pixels[keep] - targets[keep, j : j + 1]).norm(dim=-1).mean(0)
        vertices = candidates[total.argmin(1)]
    return [int(v) for v in vertices]
