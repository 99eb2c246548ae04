"""Renderer throughput: GLRenderer vs a raw moderngl loop, and DiffRenderer, at 256^2 and 512^2.

    python bench/render.py --frames 200

The raw loop draws the same triangles (ICT render_faces) with a minimal shader: positions uploaded per
frame, depth test, glReadPixels into a preallocated array; GLRenderer does all its real work (normals,
lighting, texture, top-first rows, fresh frame per call). GL and raw are timed in alternating blocks so
load from other processes hits both alike; the table shows wall-clock fps and CPU-time fps (process CPU
seconds, all threads: less sensitive to a shared machine). DiffRenderer: a few frames on CPU, more on CUDA.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portraittalker.head.ict import ICTFaceKit
from portraittalker.render.diff import DiffRenderer, albedo_tensor
from portraittalker.render.gl import GLRenderer, create_egl_context
from portraittalker.render.mesh import default_albedo
from portraittalker.render.scene import Background, Camera, Lighting, Material

RAW_VERTEX_SHADER = """
#version 330
uniform mat4 mvp;
in vec3 position;
out vec3 p;
void main() { p = position; gl_Position = mvp * vec4(position, 1.0); }
"""
RAW_FRAGMENT_SHADER = """
#version 330
in vec3 p;
out vec4 color;
void main() { color = vec4(normalize(cross(dFdx(p), dFdy(p))) * 0.5 + 0.5, 1.0); }
"""


def animated_vertices(head: ICTFaceKit, frames: int) -> np.ndarray:
    params = head.neutral_params(frames)
    phase = torch.linspace(0, 4 * np.pi, frames)
    params.jaw[:, 0] = 0.12 * (1 + torch.sin(phase))
    params.head_rotation[:, 1] = 0.2 * torch.sin(0.5 * phase)
    with torch.no_grad():
        return head(params).numpy()


class RawLoop:
    """The minimal moderngl render + read-back loop GLRenderer is measured against."""

    def __init__(self, head: ICTFaceKit, size: int) -> None:
        import moderngl

        self.ctx = create_egl_context()
        faces = head.faces.numpy()[head.render_faces.numpy()].astype(np.int32)
        program = self.ctx.program(vertex_shader=RAW_VERTEX_SHADER, fragment_shader=RAW_FRAGMENT_SHADER)
        self.vertex_buffer = self.ctx.buffer(reserve=head.n_vertices * 12, dynamic=True)
        self.vao = self.ctx.vertex_array(program, [(self.vertex_buffer, "3f", "position")],
                                         self.ctx.buffer(faces.tobytes()), 4)
        self.fbo = self.ctx.framebuffer([self.ctx.renderbuffer((size, size), 3)],
                                        self.ctx.depth_renderbuffer((size, size)))
        camera = Camera(image_size=size)
        program["mvp"].write((camera.projection_matrix() @ camera.view_matrix()).T.astype(np.float32).tobytes())
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.frame = np.empty((size, size, 3), np.uint8)

    def run(self, vertices: np.ndarray) -> None:
        for frame_vertices in vertices:
            self.vertex_buffer.write(frame_vertices)
            self.fbo.use()
            self.ctx.clear(0.1, 0.1, 0.1, 1.0)
            self.vao.render()
            self.fbo.read_into(self.frame, components=3)


def timed(fn, frames: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) for one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - wall) / frames, (time.process_time() - cpu) / frames


def bench_gl(head: ICTFaceKit, size: int, vertices: np.ndarray, blocks: int) -> dict[str, float]:
    renderer = GLRenderer(head, size)
    renderer.set_appearance(Material(albedo=default_albedo(head, 1024)), Lighting(), Background())
    raw = RawLoop(head, size)
    camera = Camera(image_size=size)
    chunks = np.array_split(vertices, blocks)
    # Warm up both (shader compilation, first-touch allocations).
    list(renderer.render_sequence(vertices[:3], camera))
    raw.run(vertices[:3])
    gl_wall, gl_cpu, raw_wall, raw_cpu = [], [], [], []
    for chunk in chunks:
        w, c = timed(lambda chunk=chunk: list(renderer.render_sequence(chunk, camera)), len(chunk))
        gl_wall.append(w)
        gl_cpu.append(c)
        w, c = timed(lambda chunk=chunk: raw.run(chunk), len(chunk))
        raw_wall.append(w)
        raw_cpu.append(c)
    single_wall, _ = timed(lambda: [renderer.render(v, camera) for v in vertices[: len(chunks[0])]], len(chunks[0]))
    result = {
        "gl_fps": 1 / statistics.median(gl_wall), "gl_cpu_fps": 1 / statistics.median(gl_cpu),
        "raw_fps": 1 / statistics.median(raw_wall), "raw_cpu_fps": 1 / statistics.median(raw_cpu),
        "gl_render_fps": 1 / single_wall, "samples": renderer.samples,
    }
    renderer.release()
    raw.ctx.release()
    return result


def bench_diff(head: ICTFaceKit, size: int, vertices: np.ndarray, frames: int, device: str) -> float:
    renderer = DiffRenderer(head, size, device=device)
    albedo = albedo_tensor(default_albedo(head, 512), device=device)
    camera = Camera(image_size=size)
    batch = torch.from_numpy(vertices[:frames]).to(device)
    with torch.no_grad():
        renderer(batch[:1], albedo, camera, Lighting(), Background())  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for index in range(frames):
            renderer(batch[index: index + 1], albedo, camera, Lighting(), Background())
        if device == "cuda":
            torch.cuda.synchronize()
    return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="GL/raw frames per size")
    parser.add_argument("--blocks", type=int, default=8, help="alternating GL/raw timing blocks")
    parser.add_argument("--diff-frames", type=int, default=None, help="DiffRenderer frames (default 2 CPU, 20 CUDA)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    args = parser.parse_args()

    console = Console(width=150)
    head = ICTFaceKit()
    vertices = animated_vertices(head, args.frames)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    diff_frames = args.diff_frames or (20 if device == "cuda" else 2)
    probe = create_egl_context()
    gl_name = probe.info["GL_RENDERER"]
    probe.release()

    table = Table(title=f"Renderer throughput — ICT head, {int(head.render_faces.sum())} triangles, {gl_name}")
    for column in ("size", "GL fps (sequence)", "GL fps (render)", "raw fps", "GL/raw",
                   "GL cpu-fps", "raw cpu-fps", "GL/raw (cpu)", f"Diff fps ({device})"):
        table.add_column(column, justify="right")
    for size in args.sizes:
        gl = bench_gl(head, size, vertices, args.blocks)
        diff_fps = bench_diff(head, size, vertices, diff_frames, device)
        table.add_row(
            f"{size}² (msaa {gl['samples']})", f"{gl['gl_fps']:.1f}", f"{gl['gl_render_fps']:.1f}",
            f"{gl['raw_fps']:.1f}", f"{gl['gl_fps'] / gl['raw_fps']:.2f}", f"{gl['gl_cpu_fps']:.1f}",
            f"{gl['raw_cpu_fps']:.1f}", f"{gl['gl_cpu_fps'] / gl['raw_cpu_fps']:.2f}",
            f"{diff_fps:.3f} ({diff_frames} frames)",
        )
    console.print(table)
    console.print(f"GL/raw frames: {args.frames} per size in {args.blocks} alternating blocks (median block).")


if __name__ == "__main__":
    main()
