"""The appearance optimiser's parts: hierarchical texture, SH lighting, regularisers, views, the full geometry path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from portraittalker.appearance import AnalyticDenoiser, AppearanceConfig, avatar_from_prompt
from portraittalker.appearance.config import TextureConfig, ViewConfig
from portraittalker.appearance.parameters import (
    HierarchicalTexture,
    lighting_from_sh,
    lighting_irradiance,
    sh_basis,
    sh_from_lighting,
)
from portraittalker.appearance.regularisers import MeshRegulariser
from portraittalker.appearance.render import ViewSampler
from portraittalker.avatar.asset import Avatar
from portraittalker.render.scene import Lighting


def test_hierarchical_texture_starts_at_its_init_and_adds_levels_coarse_to_fine() -> None:
    init = np.random.default_rng(0).uniform(0.1, 0.9, (32, 32, 3)).astype(np.float32)
    texture = HierarchicalTexture(init, TextureConfig(size=32, base_resolution=4, levels=5))
    assert texture.resolutions == [4, 8, 16, 32]
    assert torch.allclose(texture()[0], torch.tensor(init), atol=1e-5)
    with torch.no_grad():
        texture.levels[3].fill_(1.0)  # the finest level only counts once it is active
    assert torch.allclose(texture(active=3)[0], torch.tensor(init), atol=1e-5)
    assert not torch.allclose(texture(active=4)[0], torch.tensor(init), atol=1e-3)


def test_sh_lighting_round_trip_keeps_the_diffuse_shading() -> None:
    lighting = Lighting()
    coefficients = sh_from_lighting(lighting)
    normals = torch.nn.functional.normalize(torch.randn(500, 3, generator=torch.Generator().manual_seed(0)), dim=-1)
    reference = lighting_irradiance(lighting, normals)
    assert (sh_basis(normals) @ coefficients - reference).abs().mean() < 0.05  # order 2 SH ~ Lambert lobes
    back = lighting_from_sh(coefficients, lighting)
    assert len(back.lights) == 1
    assert (lighting_irradiance(back, normals) - reference).abs().mean() < 0.08


def test_regularisers_vanish_on_smooth_fields_and_flat_meshes() -> None:
    # A flat 3 x 3 grid of vertices, 8 triangles.
    xs, ys = np.meshgrid(np.arange(3.0), np.arange(3.0))
    vertices = torch.tensor(np.stack([xs.ravel(), ys.ravel(), np.zeros(9)], -1), dtype=torch.float32)
    faces = []
    for r in range(2):
        for c in range(2):
            i = r * 3 + c
            faces += [[i, i + 1, i + 4], [i, i + 4, i + 3]]
    regulariser = MeshRegulariser(torch.tensor(faces), 9)
    assert float(regulariser.normal_consistency(vertices)) == pytest.approx(0.0, abs=1e-6)
    assert float(regulariser.laplacian(torch.ones(9, 3) * 0.01)) == pytest.approx(0.0, abs=1e-12)
    bumped = vertices.clone()
    bumped[4, 2] = 0.5
    assert float(regulariser.normal_consistency(bumped)) > 0.01
    spike = torch.zeros(9, 3)
    spike[4, 2] = 0.01
    assert float(regulariser.laplacian(spike)) > 0


def test_view_sampler_stays_in_range_and_resumes(ict_head) -> None:
    config = ViewConfig(batch_size=4, jaw_probability=1.0, expression_probability=1.0)
    sampler = ViewSampler(ict_head, config, image_size=32, seed=3)
    views = sampler.sample(0)
    assert views.yaw_deg.abs().max() <= 60 and views.pitch_deg.abs().max() <= 20
    assert views.params.jaw[:, 0].max() <= 0.3 and views.params.expression.max() <= 0.7
    assert views.background.shape == (4, 32, 32, 3) and views.keys is None
    state = sampler.state_dict()
    again = ViewSampler(ict_head, config, image_size=32, seed=99)
    again.load_state_dict(state)
    assert torch.equal(sampler.sample(1).yaw_deg, again.sample(1).yaw_deg)


@pytest.mark.slow
def test_full_geometry_path_with_random_views_identity_displacement_and_sh(ict_head, tmp_path: Path) -> None:
    """Random cameras/expressions/jaw, identity + displacements + SH learnt: every term runs and is exported."""
    config = AppearanceConfig.model_validate({
        "texture": {"size": 32, "base_resolution": 4, "levels": 3, "init": "default"},
        "views": {"batch_size": 2, "expression_probability": 1.0, "jaw_probability": 1.0},
        "render": {"image_size": 24, "preview_size": 24, "preview_yaws": [0], "components": ["face"]},
        "optim": {"steps": 2, "progress": False, "displacement_lr": 0.5},
    })
    backbone = AnalyticDenoiser(torch.full((1, 3, 24, 24), 0.5))
    result = avatar_from_prompt(ict_head, "someone", tmp_path / "a", config, backbone=backbone)
    for name in ("sds", "identity_prior", "laplacian", "normal_consistency"):
        assert len(result.history[name]) == 2 and np.isfinite(result.history[name]).all(), name
    avatar = Avatar.load(tmp_path / "a", expected_head=ict_head)
    assert avatar.vertex_offsets is not None and avatar.vertex_offsets.shape == (ict_head.n_vertices, 3)
    assert np.abs(avatar.vertex_offsets).max() > 0  # displacements moved
    assert np.abs(avatar.vertex_offsets).max() <= config.geometry.max_displacement_m + 1e-6
    assert not np.allclose(avatar.identity, 0.0)  # identity moved from the (mean) default
    assert len(avatar.lighting.lights) == 1  # SH exported as ambient + one light
