"""Shared helpers of the supernet tests."""
import torch
import torch.nn as nn


@torch.no_grad()
def randomize_bn(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random running statistics and affine parameters in every BN, so that picking the wrong
    privatised BN (or the wrong channels) changes the output. The bn3 scales are kept small so that
    activations stay O(1) through the residual stages (absolute tolerances stay meaningful)."""
    g = torch.Generator().manual_seed(seed)
    for name, bn in module.named_modules():
        if isinstance(bn, nn.BatchNorm2d):
            c = bn.num_features
            lo, hi = (0.1, 0.4) if "bn3" in name else (0.5, 1.0)
            bn.running_mean.copy_(torch.randn(c, generator=g) * 0.2)
            bn.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            bn.weight.copy_(torch.rand(c, generator=g) * (hi - lo) + lo)
            bn.bias.copy_(torch.randn(c, generator=g) * 0.2)
    return module
