"""Dynamics from kinematics alone: ground reaction forces and moments estimated from a motion
and an OpenSim model's mass distribution (whole-body Newton-Euler, foot contacts, a split
between the feet), and OpenSim inverse dynamics with them."""

from biomech_export.dynamics.pipeline import (
    VIDEO_LOWPASS_HZ,
    VIDEO_ML_PENDULUM_HZ,
    DynamicsResult,
    GRFEstimate,
    GRFResult,
    estimate_grf,
    estimate_loads,
    inverse_dynamics_with_estimated_grf,
)

__all__ = [
    "VIDEO_LOWPASS_HZ",
    "VIDEO_ML_PENDULUM_HZ",
    "DynamicsResult",
    "GRFEstimate",
    "GRFResult",
    "estimate_grf",
    "estimate_loads",
    "inverse_dynamics_with_estimated_grf",
]
