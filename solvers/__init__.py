"""Pure numerics on arrays: formula (3) resource models, HiGHS LPs, BCSFW, projection, baselines."""
from .resources import Constraint, ResourceModel

__all__ = ["Constraint", "ResourceModel"]
