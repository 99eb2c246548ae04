"""Per-clip previews of ``prepare``: a PNG contact strip and an HTML page with trajectory plots.

Contact strip: one column per sampled frame; rows are the source frame, the tracked MediaPipe
landmarks (green) with the fitted 68 landmarks (red), the fitted head rendered with the fit
camera, and that render blended over the source (misalignment shows as ghosting). The head is
rendered with :class:`portraittalker.render.gl.GLRenderer` when an EGL context is available,
else drawn as a projected wireframe with OpenCV.
"""

from __future__ import annotations

import dataclasses
import html
import logging
from pathlib import Path

import cv2
import numpy as np
import torch

from portraittalker.data.config import PreviewConfig
from portraittalker.head.base import HeadModel, HeadParams
from portraittalker.media.files import atomic_path, write_text_atomic
from portraittalker.render.scene import Camera

log = logging.getLogger(__name__)


class HeadPreviewRenderer:
    """Renders fitted heads for previews; keeps one GL context for many clips."""

    def __init__(self, head: HeadModel, tile_size: int, use_gl: bool = True) -> None:
        self.head = head
        self.tile_size = tile_size
        self._gl = None
        self._gl_failed = not use_gl
        ids = torch.nonzero(head.render_faces).flatten()
        component = head.triangle_component[ids]
        # Wireframe: the skin only (component 0), or all drawn triangles for heads without components.
        face_ids = ids[component == 0] if bool((component == 0).any()) else ids
        self._wire_faces = head.faces[face_ids].cpu().numpy()

    def _renderer(self):  # -> GLRenderer | None
        if self._gl is None and not self._gl_failed:
            try:
                from portraittalker.render.gl import GLRenderer

                self._gl = GLRenderer(self.head, self.tile_size)
            except Exception as error:  # no module yet, no EGL, driver problems: fall back, say why once
                log.warning("preview: GL renderer unavailable (%s); drawing wireframes", error)
                self._gl_failed = True
        return self._gl

    @property
    def uses_gl(self) -> bool:
        return self._renderer() is not None

    def render(self, vertices: np.ndarray, camera: Camera) -> np.ndarray:
        """(V, 3) metres -> (tile, tile, 3) uint8."""
        camera = dataclasses.replace(camera, image_size=self.tile_size)
        renderer = self._renderer()
        if renderer is not None:
            try:
                return renderer.render(vertices.astype(np.float32), camera)
            except Exception as error:  # a broken GL context must not cost the clip its preview
                log.warning("preview: GL render failed (%s); drawing wireframes", error)
                self.close()
                self._gl_failed = True
        return self._wireframe(vertices, camera)

    def _wireframe(self, vertices: np.ndarray, camera: Camera) -> np.ndarray:
        image = np.full((self.tile_size, self.tile_size, 3), 30, np.uint8)
        pixels = camera.project(torch.from_numpy(vertices.astype(np.float32))).numpy()
        triangles = np.round(pixels[self._wire_faces] * 4).astype(np.int32)  # 2 fractional bits
        cv2.polylines(image, list(triangles), True, (200, 200, 200), 1, cv2.LINE_AA, shift=2)
        return image

    def close(self) -> None:
        if self._gl is not None:
            self._gl.release()
            self._gl = None


def preview_frame_indices(n_frames: int, count: int) -> list[int]:
    """Evenly spaced frame indices (deterministic, including neither end exactly)."""
    if n_frames <= 0:
        return []
    count = min(count, n_frames)
    return sorted({int(i) for i in np.linspace(0, n_frames - 1, count + 2)[1:-1].round()} or {0})


def draw_landmarks(rgb: np.ndarray, landmarks: np.ndarray, fitted68: np.ndarray | None = None) -> np.ndarray:
    image = np.ascontiguousarray(rgb).copy()
    radius = max(1, image.shape[0] // 256)
    for x, y in landmarks[:, :2]:
        if np.isfinite(x) and np.isfinite(y):
            cv2.circle(image, (round(float(x)), round(float(y))), radius, (40, 220, 60), -1, cv2.LINE_AA)
    if fitted68 is not None:
        for x, y in fitted68:
            if np.isfinite(x) and np.isfinite(y):
                cv2.circle(image, (round(float(x)), round(float(y))), radius + 1, (235, 40, 40), -1, cv2.LINE_AA)
    return image


def _tile(image: np.ndarray, size: int, label: str = "") -> np.ndarray:
    tile = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR)
    if label:
        cv2.putText(tile, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(tile, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def contact_strip(frames: dict[int, np.ndarray], landmarks: np.ndarray, projected68: np.ndarray | None,
                  renders: dict[int, np.ndarray] | None, tile_size: int) -> np.ndarray:
    """(rows × tile, columns × tile, 3) uint8: source / landmarks / render / blend per sampled frame."""
    columns = []
    for index, rgb in sorted(frames.items()):
        cells = [_tile(rgb, tile_size, f"frame {index}")]
        fitted = projected68[index] if projected68 is not None else None
        cells.append(_tile(draw_landmarks(rgb, landmarks[index], fitted), tile_size, "tracked / fitted"))
        if renders is not None and index in renders:
            render = _tile(renders[index], tile_size, "fitted head")
            cells.append(render)
            blend = cv2.addWeighted(_tile(rgb, tile_size), 0.5, _tile(renders[index], tile_size), 0.5, 0)
            cells.append(_tile(blend, tile_size, "overlay"))
        columns.append(np.concatenate(cells, axis=0))
    return np.concatenate(columns, axis=1)


PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def svg_line_chart(time_s: np.ndarray, series: dict[str, np.ndarray], title: str, unit: str,
                   width: int = 860, height: int = 170) -> str:
    """A small inline SVG line chart (NaN gaps break lines); far cheaper than a matplotlib figure."""
    left, right, top, bottom = 48, 215, 20, 22
    values = [np.asarray(v, dtype=np.float64) for v in series.values()]
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.zeros(0)
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    t_max = float(time_s[-1]) if len(time_s) > 1 and time_s[-1] > 0 else 1.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def xy(t: float, v: float) -> str:
        return f"{left + t / t_max * plot_w:.1f},{top + (high - v) / (high - low) * plot_h:.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11" '
             f'font-family="sans-serif"><rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
             f'stroke="#bbb"/><text x="{left}" y="13" font-weight="bold">{html.escape(title)}</text>'
             f'<text x="4" y="{top + 10}">{high:.3g}</text><text x="4" y="{top + plot_h}">{low:.3g}</text>'
             f'<text x="4" y="{top + plot_h / 2}">{html.escape(unit)}</text>'
             f'<text x="{left}" y="{height - 6}">0 s</text><text x="{left + plot_w - 30}" y="{height - 6}">'
             f'{t_max:.1f} s</text>']
    for k, (name, v) in enumerate(zip(series, values, strict=True)):
        color = PALETTE[k % len(PALETTE)]
        runs, current = [], []
        for t, value in zip(time_s, v, strict=True):
            if np.isfinite(value):
                current.append(xy(float(t), float(value)))
            elif current:
                runs.append(current)
                current = []
        runs.append(current)
        for run in runs:
            if run:
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.3" points="{" ".join(run)}"/>')
        parts.append(f'<text x="{width - right + 8}" y="{top + 12 + 14 * k}" fill="{color}">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def trajectory_charts(landmarks: np.ndarray, motion: dict[str, np.ndarray], frame_error: np.ndarray | None,
                      fps: float) -> str:
    """Inline SVG charts: tracked landmark trajectories, mouth/jaw/blinks, head rotation, fit error."""
    from portraittalker.face.tracking import CHIN, FOREHEAD, MOUTH_INNER_LOWER, MOUTH_INNER_UPPER

    time_s = np.arange(len(landmarks)) / fps
    charts = [svg_line_chart(time_s, {f"{name} {axis}": landmarks[:, index, a] for index, name in
                                      ((1, "nose tip"), (CHIN, "chin"), (FOREHEAD, "forehead"))
                                      for a, axis in enumerate("xy")}, "tracked landmark trajectories", "px")]
    gap = np.linalg.norm(landmarks[:, MOUTH_INNER_UPPER, :2] - landmarks[:, MOUTH_INNER_LOWER, :2], axis=-1)
    height = np.linalg.norm(landmarks[:, FOREHEAD, :2] - landmarks[:, CHIN, :2], axis=-1)
    mouth = {"lip gap / face height (tracked)": gap / np.maximum(height, 1e-6)}
    mouth.update({f"{k} (fitted)": v for k, v in motion.items() if k.startswith(("jaw", "blink"))})
    charts.append(svg_line_chart(time_s, mouth, "mouth opening, jaw and blinks", ""))
    rotation = {f"{k} (fitted)": np.degrees(v) for k, v in motion.items() if k.startswith("head_rot")}
    if rotation:
        charts.append(svg_line_chart(time_s, rotation, "head rotation", "deg"))
    if frame_error is not None:
        charts.append(svg_line_chart(time_s, {"mean 68-point error": frame_error}, "fit error per frame", "px"))
    return "<br>".join(charts)


def write_clip_preview(preview_dir: str | Path, clip_id: str, frames: dict[int, np.ndarray], landmarks: np.ndarray,
                       *, head: HeadModel | None = None, params: HeadParams | None = None,
                       camera: Camera | None = None, projected68: np.ndarray | None = None,
                       frame_error: np.ndarray | None = None, renderer: HeadPreviewRenderer | None = None,
                       config: PreviewConfig | None = None, fps: float = 25.0,
                       summary: dict[str, object] | None = None) -> tuple[Path, Path]:
    """Write ``<clip_id>.png`` (contact strip) and ``<clip_id>.html``; returns both paths."""
    config = config or PreviewConfig()
    preview_dir = Path(preview_dir)
    renders = None
    if head is not None and params is not None and camera is not None and frames:
        own_renderer = renderer is None
        renderer = renderer or HeadPreviewRenderer(head, config.tile_size, config.use_gl)
        indices = sorted(frames)
        with torch.no_grad():
            subset = _select(params, indices)
            vertices = head(subset).cpu().numpy()
        renders = {index: renderer.render(vertices[k], camera) for k, index in enumerate(indices)}
        if own_renderer:
            renderer.close()
    strip = contact_strip(frames, landmarks, projected68, renders, config.tile_size)
    png_path = preview_dir / f"{clip_id}.png"
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"could not encode the preview of {clip_id}")
    with atomic_path(png_path) as tmp:
        tmp.write_bytes(encoded.tobytes())
    motion: dict[str, np.ndarray] = {}
    if params is not None:
        motion = {"jaw_open_rad": params.jaw[:, 0].numpy(), "blink_l": params.eye_blink[:, 0].numpy(),
                  "blink_r": params.eye_blink[:, 1].numpy()}
        motion.update({f"head_rot_{a}": params.head_rotation[:, i].numpy() for i, a in enumerate("xyz")})
    charts = trajectory_charts(landmarks, motion, frame_error, fps)
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in (summary or {}).items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(clip_id)}</title>
<style>body{{font-family:sans-serif;margin:1em}} img{{max-width:100%}} th{{text-align:left;padding-right:1em}}</style>
</head><body><h1>{html.escape(clip_id)}</h1><table>{rows}</table>
<h2>Source | landmarks | fitted head | overlay</h2><img src="{html.escape(png_path.name)}" alt="contact strip">
<h2>Trajectories</h2>{charts}
</body></html>"""
    html_path = preview_dir / f"{clip_id}.html"
    write_text_atomic(html_path, page)
    return png_path, html_path


def _select(params: HeadParams, indices: list[int]) -> HeadParams:
    index = torch.as_tensor(indices, dtype=torch.long)
    values = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    return HeadParams(**{k: v if k == "identity" else v[index] for k, v in values.items()})


def write_dataset_index(out_dir: str | Path, clips) -> Path:  # clips: pd.DataFrame
    """``previews/index.html``: every clip with status, reason and fit error, linking its preview."""
    out_dir = Path(out_dir)
    lines = []
    for row in clips.itertuples(index=False):
        link = f'<a href="{html.escape(row.clip_id)}.html">{html.escape(row.clip_id)}</a>' \
            if row.status == "ok" else html.escape(row.clip_id)
        error = "" if row.fit_error_px != row.fit_error_px else f"{row.fit_error_px:.2f}"  # NaN-safe
        lines.append(f"<tr><td>{link}</td><td>{html.escape(row.status)}</td><td>{html.escape(str(row.reason))}</td>"
                     f"<td>{row.n_frames}</td><td>{error}</td></tr>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>prepared clips</title></head><body>"
            "<h1>Prepared clips</h1><table border=1 cellpadding=4><tr><th>clip</th><th>status</th><th>reason</th>"
            f"<th>frames</th><th>fit error (px)</th></tr>{''.join(lines)}</table></body></html>")
    path = out_dir / "previews" / "index.html"
    write_text_atomic(path, page)
    return path
