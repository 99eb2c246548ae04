"""Photo guidance: one photo -> MediaPipe landmarks -> head fit -> photometric + landmark losses -> texture.

:func:`fit_photo` crops the photo square around the face, tracks it and its mirror image with
MediaPipe, and fits identity, pose and expression to both with :func:`portraittalker.face.fitting.fit_landmarks`
(one shared identity, no temporal smoothing between the two). :class:`PhotoGuidance` then renders
both fitted views with the photo as background:

- photometric L1 inside the face region (landmark hull, shrunk a little by ``face_margin``) of the real view;
- the mirrored photo, only on the texels the real view does not see (so the hidden cheek comes from
  the visible one, with a soft blend at the seam);
- a skin-tone prior pulling skin texels neither view sees towards the median seen skin albedo;
- landmark reprojection error when identity is learnt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from portraittalker.appearance.config import PhotoConfig
from portraittalker.appearance.errors import GuidanceError
from portraittalker.appearance.guidance.base import Guidance, GuidanceContext
from portraittalker.appearance.render import ViewBatch, torch_camera
from portraittalker.face.fitting import FitResult, FittingConfig, default_landmark_vertices, fit_landmarks
from portraittalker.face.tracking import MEDIAPIPE_TO_68
from portraittalker.head.base import HeadModel
from portraittalker.render.diff import RenderOutput
from portraittalker.render.mesh import build_texture_atlas
from portraittalker.render.scene import Lighting

SKIN_COMPONENTS = ("face", "head_neck")


@dataclass
class PhotoFit:
    """The square face crop of a photo, its mirror image, their landmarks and the joint head fit."""

    image: np.ndarray  # (S, S, 3) uint8
    mirrored: np.ndarray  # (S, S, 3) uint8
    landmarks: np.ndarray  # (2, 478, 3) pixels of the crop (real, mirrored)
    fit: FitResult  # frames: real, mirrored
    source: str = ""

    @property
    def size(self) -> int:
        return int(self.image.shape[0])


def load_photo(path: str | Path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise GuidanceError(f"photo not found: {path}")
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB")).copy()
    except OSError as error:
        raise GuidanceError(f"{path}: not a readable image ({error})") from error


def _track(tracker, rgb: np.ndarray, what: str) -> np.ndarray:
    faces = tracker.track_frame(rgb)
    if not faces:
        raise GuidanceError(f"no face found in the {what} (MediaPipe Face Mesh); use a photo with one clearly "
                            "visible, roughly frontal face")
    return faces[0]


def crop_to_face(photo: np.ndarray, landmarks: np.ndarray, size: int, scale: float = 2.0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Square crop (edge-padded where it leaves the photo) centred on the face, resized to ``size``."""
    xy = landmarks[:, :2]
    low, high = xy.min(0), xy.max(0)
    centre = (low + high) / 2
    side = float(max(high - low)) * scale
    half = side / 2
    x0, y0 = math.floor(centre[0] - half), math.floor(centre[1] - half)
    side_px = math.ceil(side)
    pad = max(0, -x0, -y0, x0 + side_px - photo.shape[1], y0 + side_px - photo.shape[0])
    padded = np.pad(photo, ((pad, pad), (pad, pad), (0, 0)), mode="edge") if pad else photo
    crop = padded[y0 + pad : y0 + pad + side_px, x0 + pad : x0 + pad + side_px]
    resized = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if side_px > size else cv2.INTER_CUBIC)
    factor = size / side_px
    moved = landmarks.copy()
    moved[:, 0] = (landmarks[:, 0] - x0) * factor
    moved[:, 1] = (landmarks[:, 1] - y0) * factor
    moved[:, 2] = landmarks[:, 2] * factor
    return resized, moved


def fit_photo(head: HeadModel, photo: np.ndarray | str | Path, size: int = 512,
              fitting: FittingConfig | None = None, min_face_px: int = 48) -> PhotoFit:
    """Track and fit ``photo`` (and its mirror image) at a ``size``² face crop."""
    from portraittalker.face.tracking import FaceTracker

    source = str(photo) if isinstance(photo, str | Path) else ""
    rgb = load_photo(photo) if isinstance(photo, str | Path) else np.asarray(photo, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise GuidanceError(f"photo must be an RGB image, got shape {rgb.shape}")
    with FaceTracker(max_faces=1, static_image_mode=True) as tracker:
        points = _track(tracker, rgb, "photo")
        extent = float(max(np.ptp(points[:, 0]), np.ptp(points[:, 1])))
        if extent < min_face_px:
            raise GuidanceError(f"the face in the photo is only {extent:.0f} px wide (need >= {min_face_px})")
        crop, crop_points = crop_to_face(rgb, points, size)
        mirrored = np.ascontiguousarray(crop[:, ::-1])
        try:
            mirror_points = _track(tracker, mirrored, "mirrored photo")
        except GuidanceError:
            crop_points = _track(tracker, crop, "face crop")
            mirror_points = _track(tracker, mirrored, "mirrored photo")
    landmarks = np.stack([crop_points, mirror_points]).astype(np.float32)
    config = (fitting or FittingConfig()).model_copy(update={"smooth_pose": 0.0, "smooth_expression": 0.0})
    fit = fit_landmarks(landmarks, head, config, image_size=size)
    return PhotoFit(image=crop, mirrored=mirrored, landmarks=landmarks, fit=fit, source=source)


def hull_mask(points: np.ndarray, size: int, margin: float) -> np.ndarray:
    """(size, size) float32 face mask: the landmarks' convex hull, grown (shrunk if < 0) by ``margin`` x face height."""
    hull = cv2.convexHull(points[:, :2].astype(np.float32)).astype(np.float32)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, np.round(hull * 16).astype(np.int32), 255, lineType=cv2.LINE_AA, shift=4)
    grow = round(abs(margin) * float(np.ptp(points[:, 1])))
    if grow > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        mask = cv2.dilate(mask, kernel) if margin > 0 else cv2.erode(mask, kernel)
    return (mask > 127).astype(np.float32)


def component_texel_mask(head: HeadModel, names: tuple[str, ...], size: int) -> np.ndarray:
    """(size, size) bool atlas texels covered by drawn triangles of the named components."""
    atlas = build_texture_atlas(head)
    known = list(getattr(head, "component_names", []))
    wanted = [known.index(n) for n in names if n in known]
    selected = np.isin(head.triangle_component.cpu().numpy(), wanted) & head.render_faces.cpu().numpy()
    corners = atlas.uvs[atlas.face_uvs[selected]].astype(np.float64) * [size, -size] + [0.0, size]
    mask = np.zeros((size, size), np.uint8)
    for triangle in np.round(corners * 16).astype(np.int32):
        cv2.fillConvexPoly(mask, triangle, 1, shift=4)
    return mask.astype(bool)


class PhotoGuidance(Guidance):
    name = "photo"

    def __init__(self, photo_fit: PhotoFit, config: PhotoConfig) -> None:
        self.photo_fit, self.config = photo_fit, config
        self.landmark_ids = None

    # -- setup ---------------------------------------------------------------------------------
    def setup(self, context: GuidanceContext) -> None:
        super().setup(context)
        fit, device = self.photo_fit, context.device
        size = context.renderer.image_size
        self.size = size
        images = np.stack([fit.image, fit.mirrored])
        tensor = torch.as_tensor(images, device=device).float().div(255.0).permute(0, 3, 1, 2)
        self.target = nn.functional.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False,
                                                antialias=True).permute(0, 2, 3, 1)
        scale = size / fit.size
        masks = [hull_mask(fit.landmarks[i] * scale, size, self.config.face_margin) for i in range(2)]
        self.face_mask = torch.as_tensor(np.stack(masks), device=device)
        camera = fit.fit.camera
        self.camera = torch_camera(torch.zeros(2, device=device), torch.zeros(2, device=device),
                                   torch.full((2,), float(camera.distance_m), device=device), camera.fov_deg,
                                   camera.target, size)
        self.camera.fov_deg = self.camera.fov_deg.to(device)
        self.camera.ortho_height_m = self.camera.ortho_height_m.to(device)
        self.camera.target = self.camera.target.to(device)
        self.params = fit.fit.params.to(device)
        self.landmark_ids = default_landmark_vertices(context.head).to(device)
        self.landmark_targets = torch.as_tensor(fit.landmarks[:, MEDIAPIPE_TO_68, :2], device=device)
        self.fit_camera = camera
        self.visibility = None  # per-texel (1, S, S) soft visibility of the real view, set on the first step
        self.seen_in_real = None

    def views(self, step: int) -> ViewBatch:
        return ViewBatch(params=self.params, camera=self.camera, yaw_deg=torch.zeros(2), pitch_deg=torch.zeros(2),
                         background=self.target, keys=[("photo", 0), ("photo", 1)])

    def _texel_visibility(self, vertices: Tensor, albedo: Tensor) -> Tensor:
        """(2, S, S) soft per-texel visibility of each view inside its face mask (gradient of the sampling)."""
        renderer = self.context.renderer
        probe = torch.full_like(albedo.detach(), 0.5).expand(2, -1, -1, -1).clone().requires_grad_(True)
        saved, renderer.sh = renderer.sh, None
        try:
            with renderer.cached_views([("photo", 0), ("photo", 1)]), torch.enable_grad():
                out = renderer(vertices.detach(), probe, self.camera, lighting=Lighting(ambient=(1, 1, 1), lights=()))
                (out.image * (self.face_mask * out.alpha)[..., None]).sum().backward()
        finally:
            renderer.sh = saved
        seen = (probe.grad.abs().sum(-1) > 0).float().cpu().numpy()  # (2, S, S)
        texture_size = albedo.shape[1]
        reach = max(1, round(2 * texture_size / self.size))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
        soft = []
        for view in seen:
            grown = cv2.dilate(view, kernel)
            soft.append(cv2.GaussianBlur(grown, (0, 0), sigmaX=reach))
        return torch.as_tensor(np.clip(np.stack(soft) * 1.5, 0, 1), device=albedo.device).float()

    def _prepare_visibility(self, vertices: Tensor, albedo: Tensor) -> None:
        renderer = self.context.renderer
        visibility = self._texel_visibility(vertices, albedo)  # (2, S, S)
        self.visibility = visibility
        real = visibility[:1, :, :, None].expand(1, -1, -1, 3)
        saved, renderer.sh = renderer.sh, None
        try:
            with torch.no_grad(), renderer.cached_views([("photo", 1)]):
                out = renderer(vertices[1:].detach(), real, self.camera_single(1),
                               lighting=Lighting(ambient=(1, 1, 1), lights=()))
        finally:
            renderer.sh = saved
        self.seen_in_real = out.image[..., 0]  # (1, H, W) in the mirrored view
        skin = component_texel_mask(self.context.head, SKIN_COMPONENTS, albedo.shape[1])
        self.skin_texels = torch.as_tensor(skin, device=albedo.device)
        seen_any = visibility.max(0).values
        self.unseen = 1.0 - seen_any
        self.seen_skin = (seen_any > 0.9) & self.skin_texels
        self.initial_albedo = albedo[0].detach().clone()

    def camera_single(self, index: int):
        cam = self.camera
        return type(cam)(yaw_deg=cam.yaw_deg[index : index + 1], pitch_deg=cam.pitch_deg[index : index + 1],
                         distance_m=cam.distance_m[index : index + 1], fov_deg=cam.fov_deg,
                         ortho_height_m=cam.ortho_height_m, target=cam.target, image_size=cam.image_size)

    # -- losses --------------------------------------------------------------------------------
    def losses(self, render: RenderOutput, views: ViewBatch, vertices: Tensor, albedo: Tensor,
               step: int) -> dict[str, Tensor]:
        if self.visibility is None:
            self._prepare_visibility(vertices, albedo)
        cfg = self.config
        error = (render.image - self.target).abs().mean(-1)  # (2, H, W)
        real_mask = self.face_mask[0] * render.alpha[0]
        losses = {"photometric": cfg.photometric_weight * (error[0] * real_mask).sum() / real_mask.sum().clamp_min(1)}
        if cfg.mirror_weight > 0:
            mirror_mask = self.face_mask[1] * render.alpha[1] * (1.0 - self.seen_in_real[0])
            losses["mirror"] = cfg.mirror_weight * (error[1] * mirror_mask).sum() / real_mask.sum().clamp_min(1)
        if cfg.skin_prior_weight > 0:
            # Unseen skin -> the median seen skin tone; other unseen texels (teeth, eyeballs, mouth) keep
            # their initial colours (coarse texture levels would otherwise bleed the photo into them).
            with torch.no_grad():
                tone = albedo[0][self.seen_skin].median(dim=0).values if bool(self.seen_skin.any()) else None
                target = self.initial_albedo if tone is None else torch.where(
                    self.skin_texels[..., None], tone, self.initial_albedo)
            weight = self.unseen
            prior = ((albedo[0] - target).abs().mean(-1) * weight).sum() / weight.sum().clamp_min(1)
            losses["skin_prior"] = cfg.skin_prior_weight * prior
        if cfg.landmark_weight > 0 and vertices.requires_grad:
            points = vertices[:, self.landmark_ids]
            pixels = self.fit_camera.project(points)
            losses["landmarks"] = cfg.landmark_weight * (pixels - self.landmark_targets).square().sum(-1).mean()
        return losses

    def metadata(self) -> dict[str, Any]:
        fit = self.photo_fit
        return {"guidance": self.name, "photo": fit.source, "fit_error_px": [float(e) for e in fit.fit.frame_error_px],
                "crop_size": fit.size, **self.config.model_dump(mode="json")}
