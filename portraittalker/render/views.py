"""Novel-view protocol (as in Talk3D): the four (yaw, pitch) camera offsets a job is also rendered at.

The generate flow renders them; ``eval/views.py`` names them and aggregates metrics per view.
"""

from __future__ import annotations

NOVEL_VIEWS: tuple[tuple[float, float], ...] = ((-30.0, -20.0), (-15.0, -10.0), (15.0, 10.0), (30.0, 20.0))
