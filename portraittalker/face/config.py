"""Head-model fitting settings (``prepare.fitting`` in params.yaml), pydantic only: no torch or MediaPipe."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FittingConfig(BaseModel):
    """Landmark-fitting settings (params.yaml section ``prepare.fitting``)."""

    n_identity: int = Field(40, ge=0, description="identity PCs fitted; the rest stay 0")
    rigid_iterations: int = Field(60, ge=0, description="pose + identity warm-up steps")
    iterations: int = Field(120, ge=1, description="joint pose + identity + expression steps")
    learning_rate: float = Field(0.02, gt=0)
    contour_weight: float = Field(0.3, ge=0, description="jaw-line weight: ICT and MediaPipe contours differ")
    iris_weight: float = Field(0.5, ge=0)
    identity_prior: float = Field(0.5, ge=0, description="L2 on identity coefficients (~N(0,1))")
    expression_prior: float = Field(1.0, ge=0, description="L2 on expression/jaw/blink weights")
    smooth_expression: float = Field(20.0, ge=0, description="L2 on frame-to-frame expression change")
    smooth_pose: float = Field(2000.0, ge=0, description="L2 on frame-to-frame rotation (rad) change")
    fov_deg: float = Field(20.0, gt=1, lt=120, description="fixed vertical field of view of the fit camera")
    distance_m: float = Field(1.0, gt=0.1, description="camera distance from its target")
    device: str = "cpu"
    torch_threads: int = Field(1, ge=1, description="CPU threads for the fit; its ops are tiny, so more "
                               "threads only add synchronisation (and fight MediaPipe's) - 1 is fastest")
