"""GLRenderer and DiffRenderer agree at 256^2: silhouettes, and landmark markers land where Camera.project says.

The scene is the ICT head plus tiny camera-facing red squares at a few 68-point landmarks, pushed 3 cm
towards the camera (past the nose) so the depth test keeps them visible. Flat white albedo, ambient-only
light and no specular make both renderers output pure albedo; the GL mask and the DiffRenderer's
alpha are compared, and each red blob's centroid is compared with the projected landmark.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from portraittalker.head.base import HeadModel
from portraittalker.head.ict import ICTFaceKit
from portraittalker.render.diff import DiffRenderer, DiffRendererConfig
from portraittalker.render.gl import GLRenderer, GLRendererConfig
from portraittalker.render.mesh import build_texture_atlas
from portraittalker.render.scene import Background, Camera, Lighting, Material

SIZE = 256
MARKED = (8, 30, 36, 39, 42, 45, 48, 54, 51, 57, 27, 33)  # chin, nose, eye corners, mouth corners/centre
MARKER_HALF_PX = 2.0
CAMERAS = (
    Camera(image_size=SIZE, projection="orthographic", yaw_deg=0.0, pitch_deg=5.0),
    Camera(image_size=SIZE, projection="perspective", yaw_deg=30.0, pitch_deg=-8.0),
)


class MarkedHead(HeadModel):
    """The ICT head's drawn triangles plus two triangles per marker, in their own UV tile/component."""

    def __init__(self, head: ICTFaceKit, vertices: np.ndarray, camera: Camera) -> None:
        super().__init__()
        drawn = head.render_faces.numpy()
        faces, face_uvs = head.faces.numpy()[drawn], head.face_uvs.numpy()[drawn]
        component = head.triangle_component.numpy()[drawn]
        view = camera.view_matrix()
        right, up, to_camera = view[0, :3], view[1, :3], view[2, :3]
        corners, self.marker_centres = [], []
        for index in MARKED:
            point = vertices[head.landmarks68[index]].astype(np.float64)
            depth = np.linalg.norm(point - camera.eye) if camera.projection == "perspective" else 1.0
            metres_per_px = (2 * depth * np.tan(np.radians(camera.fov_deg) / 2) if camera.projection ==
                             "perspective" else camera.ortho_height_m) / SIZE
            centre = point + 0.03 * to_camera
            half = MARKER_HALF_PX * metres_per_px
            corners += [centre + half * (sx * right + sy * up) for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
            self.marker_centres.append(centre)
        n_head, n_markers = len(vertices), len(MARKED)
        quad = np.array([[0, 1, 2], [0, 2, 3]])
        marker_faces = (n_head + 4 * np.arange(n_markers)[:, None, None] + quad).reshape(-1, 3)
        uvs = np.concatenate([head.uvs.numpy(), [[7.5, 0.5]]])  # markers sample UDIM tile 7
        marker_uv = len(uvs) - 1
        self.register_buffer("faces", torch.from_numpy(np.concatenate([faces, marker_faces]).astype(np.int64)))
        self.register_buffer("uvs", torch.from_numpy(uvs.astype(np.float32)))
        self.register_buffer("face_uvs", torch.from_numpy(
            np.concatenate([face_uvs, np.full_like(marker_faces, marker_uv)]).astype(np.int64)))
        self.marker_component = int(component.max()) + 1
        self.register_buffer("triangle_component", torch.from_numpy(
            np.concatenate([component, np.full(len(marker_faces), self.marker_component)]).astype(np.int64)))
        self.register_buffer("render_faces", torch.ones(len(self.faces), dtype=torch.bool))
        self.vertices = np.concatenate([vertices, np.asarray(corners)]).astype(np.float32)
        self._n_vertices = len(self.vertices)
        self.outer_faces = np.concatenate([np.isin(component, [0, 1]), np.ones(len(marker_faces), bool)])

    @property
    def n_vertices(self) -> int:
        return self._n_vertices


def _albedo(head: MarkedHead) -> np.ndarray:
    """White everywhere, red in the markers' atlas cell."""
    albedo = np.full((256, 256, 3), 255, np.uint8)
    u0, v0, su, sv = build_texture_atlas(head).cell_of_component(head.marker_component).rect
    albedo[int((1 - v0 - sv) * 256): int((1 - v0) * 256), int(u0 * 256): int((u0 + su) * 256)] = (255, 0, 0)
    return albedo


def _blob_centroids(image: np.ndarray) -> np.ndarray:
    """Intensity-weighted centroids (x, y) of red blobs, in pixel coordinates (centres at +0.5)."""
    red = np.clip(image[..., 0] - image[..., 1], 0.0, None)
    count, labels = cv2.connectedComponents((red > 0.2).astype(np.uint8))
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    return np.array([[(xs * red)[labels == k].sum() / red[labels == k].sum(),
                      (ys * red)[labels == k].sum() / red[labels == k].sum()] for k in range(1, count)])


def _check_markers(image: np.ndarray, expected: np.ndarray, name: str) -> int:
    centroids = _blob_centroids(image)
    assert len(centroids) >= 6, f"{name}: only {len(centroids)} markers visible"
    # Every visible blob is within 1 px of a projected landmark.
    distances = np.linalg.norm(centroids[:, None] - expected[None], axis=-1).min(axis=1)
    assert distances.max() < 1.0, f"{name}: marker offsets {np.round(distances, 2)} px"
    return len(centroids)


@pytest.fixture(scope="module")
def head() -> ICTFaceKit:
    return ICTFaceKit()


@pytest.mark.parametrize("camera", CAMERAS, ids=["orthographic", "perspective-yaw30"])
def test_gl_and_diff_renderers_agree(head: ICTFaceKit, camera: Camera) -> None:
    params = head.neutral_params()
    params.jaw[0, 0] = 0.1
    params.head_rotation[0] = torch.tensor([0.05, -0.1, 0.03])
    with torch.no_grad():
        vertices = head(params)[0].numpy()
    marked = MarkedHead(head, vertices, camera)
    albedo = _albedo(marked)
    flat = Lighting(ambient=(1.0, 1.0, 1.0), lights=())

    gl = GLRenderer(marked, SIZE, GLRendererConfig(msaa_samples=0))
    try:
        gl.set_appearance(Material(albedo=albedo, specular=0.0), flat, Background(color=(0.0, 0.0, 0.0)))
        gl_image = gl.render(marked.vertices, camera).astype(np.float64) / 255.0
    finally:
        gl.release()
    diff = DiffRenderer(marked, SIZE, DiffRendererConfig(specular=0.0), face_subset=marked.outer_faces)
    with torch.no_grad():
        out = diff(torch.from_numpy(marked.vertices)[None], torch.from_numpy(albedo)[None].float() / 255.0,
                   camera, flat, Background(color=(0.0, 0.0, 0.0)))
    diff_image, diff_alpha = out.image[0].numpy(), out.alpha[0].numpy() > 0.5

    gl_mask = gl_image.max(axis=-1) > 0.5
    iou = (gl_mask & diff_alpha).sum() / (gl_mask | diff_alpha).sum()
    assert iou > 0.98, f"silhouette IoU {iou:.4f}"
    assert 0.1 < gl_mask.mean() < 0.9  # a real head silhouette, not an empty or full frame

    expected = camera.project(torch.from_numpy(np.asarray(marked.marker_centres))).numpy()
    n_gl = _check_markers(gl_image, expected, "GL")
    n_diff = _check_markers(diff_image, expected, "DiffRenderer")
    assert n_gl == n_diff
