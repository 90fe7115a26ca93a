"""The elastic one-shot supernet: weight sharing over the 12 block configurations, per-image paths,
search-time architecture gradients.

Structure (official-implementation.md sections 2, 3). The stem, the fixed depthwise-separable block, the
last 1x1 conv and the head are the modules of the heaviest timm ``MobileNetV3`` of the space (same names,
so they load and export 1:1). Every searched block is an :class:`ElasticInvertedResidual`:

* ``conv_pw`` / ``bn1`` at the widest expansion ``mid_max = mid(in, max e)``; expansion ``e`` uses the first
  ``mid_e = mid(in, e)`` channels (nested width, a per-image channel mask after the depthwise stage:
  depthwise conv, BN and activation are per channel and act(0) = 0, so masking is exactly a thinner block);
* one depthwise conv and one ``bn2`` per kernel size (``conv_dw[i]``, ``bn2[i]``), as the official code;
* one SE (``se.conv_reduce`` ``mid_max -> rd_max``, ``se.conv_expand``) with a reduced-channel mask per
  expansion, so the child SE of expansion ``e`` is exactly the sliced supernet SE
  (``conv_reduce.weight[:rd_e, :mid_e]``, ``conv_expand.weight[:mid_e, :rd_e]``);
* a shared ``conv_pwl`` and one ``bn3`` per (expansion, SE) pair (index ``e_idx * 2 + se``).

Per-stage depth: blocks ``0..min_depth-1`` always run; the stage output of an image of depth ``d`` is the
output after its block ``d``. The forward pass runs block ``j >= min_depth`` only on the images whose depth
includes it, which gives the same output as the official per-image one-hot weighted sum of the outputs after
blocks 2, 3, 4 (and is cheaper). The search-time gradient (:meth:`ElasticSupernet.architecture_gradients`)
runs every block on every image and takes the weighted sum, as the official code, because the depth gradient
needs every block's output.

Multipath: every image has its own path (:class:`supernet.sampling.PathSample`). The forward pass is
vectorised: channel masks, SE gates and eval-mode BN affines are gathered per image; the only Python loops
are over the (at most 2) kernel sizes and (at most 6) bn3 groups, never over images.

Where this improves on the official code (and why):

* **k3 initialised from w-bar.** ``load_heaviest`` initialises the k3 depthwise kernel with the centre 3x3 of
  the heaviest network's k5 kernel (the official code leaves it at PyTorch's default init because the shapes
  differ). The centre taps carry most of a trained kernel's mass, so the k3 paths start close to the k5
  paths instead of from noise.
* **Privatised BN statistics come from the images that use them.** In train mode, ``bn2[k]`` normalises (and
  updates its running statistics) over only the images of the batch that sampled kernel ``k``, ``bn3[e,se]``
  over only those that sampled ``(e, se)``, and blocks past an image's depth do not see that image at all. The
  official code runs every privatised BN on the whole batch and mixes the results, so each BN's batch
  statistics (and running averages) mix the distributions of all configurations, although at test time each
  child uses exactly one of them.
* **Search gradients without 12 forward passes per block** (below).

Search-time gradients (official-implementation 3.4). The official code evaluates all 12 configurations of
every block on every image and reads ``dL/da_i = sum_n <dL/dout_n, o_i(x_n)>`` off the retained gradient of
the straight-through one-hot mixture weights (residual excluded). Here, with weights frozen and BN in eval
mode, ``bn3`` is affine (``s * z + t``) and ``conv_pwl`` is linear, so with ``g = dL/d(block output)`` (one
backward pass, activations only) and ``h^k`` the post-activation depthwise output of kernel ``k`` at full
width, the correlation ``G^k[n,c,m] = sum_p g[n,c,p] h^k[n,m,p]`` (one batched matmul per kernel) gives every
configuration::

    dL/da_(e,k,se) = sum_c s^(e,se)_c sum_{m < mid_e} W_pwl[c,m] G^k[n,c,m] * gate^(k,e)_n[m]   (gate = 1 if SE off)
                     + sum_c t^(e,se)_c sum_p g[n,c,p]

The SE gate is per channel and constant over space, so it factors out of the spatial sum. Depth gradients
are ``<dL/d(stage output), output after block j>``. ``mixture_architecture_gradients`` keeps the official
all-configurations mixture as a reference (tests, benchmark baseline). On 2 CPU cores the fast gradients
cost less than one forward+backward of the heaviest network on the same batch (0.6-0.8x), the mixture
about 3.5-4x (``benchmarks/results/gradient_cost.md``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models._efficientnet_builder import _init_weight_goog

from .arch import Architecture
from .sampling import PathSample
from .space import BlockSlot, SearchSpace, mid_channels, se_channels
from .timm_models import build_timm_model

__all__ = ["ElasticInvertedResidual", "ElasticSupernet", "timm_features"]

_ACTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"relu": F.relu, "hard_swish": F.hardswish}


def _same_padding(kernel: int, stride: int) -> int:
    """timm's symmetric padding for ``create_conv2d(..., padding='')``."""
    return ((stride - 1) + (kernel - 1)) // 2


def _batch_norm(bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """``bn(x)``; a train-mode group with one value per channel falls back to the running statistics."""
    if bn.training and x.shape[0] * x.shape[2] * x.shape[3] <= 1:
        return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    return bn(x)


def _bn_affine(bns: nn.ModuleList) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BNs as ``s * x + t``: stacked scales and shifts (G, C)."""
    w = torch.stack([bn.weight for bn in bns])
    b = torch.stack([bn.bias for bn in bns])
    mean = torch.stack([bn.running_mean for bn in bns])
    var = torch.stack([bn.running_var for bn in bns])
    scale = w * torch.rsqrt(var + bns[0].eps)
    return scale, b - mean * scale


def _grouped_apply(x: torch.Tensor, groups: torch.Tensor, num_groups: int,
                   fn: Callable[[int, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``out[n] = fn(groups[n], x[idx_g])[...]``: apply ``fn(g, .)`` to each group's images, in batch order."""
    counts = torch.bincount(groups, minlength=num_groups).tolist()
    present = [g for g in range(num_groups) if counts[g]]
    if len(present) == 1:
        return fn(present[0], x)
    order = torch.argsort(groups, stable=True)
    chunks = x.index_select(0, order).split([counts[g] for g in present])
    out = torch.cat([fn(g, chunk) for g, chunk in zip(present, chunks)])
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel(), device=order.device)
    return out.index_select(0, inverse)


class _MaskedSqueezeExcite(nn.Module):
    """SE at the widest expansion; per image, the reduced channels beyond ``rd_e`` are masked."""

    def __init__(self, mid: int, rd: int):
        super().__init__()
        self.conv_reduce = nn.Conv2d(mid, rd, 1, bias=True)
        self.conv_expand = nn.Conv2d(rd, mid, 1, bias=True)

    def gate(self, pooled: torch.Tensor, rd_mask: torch.Tensor) -> torch.Tensor:
        """Hard-sigmoid gates (..., mid) of channel means ``pooled`` (..., mid), masks (..., rd)."""
        r = F.linear(pooled, self.conv_reduce.weight.flatten(1), self.conv_reduce.bias)
        r = F.relu(r * rd_mask)
        return F.hardsigmoid(F.linear(r, self.conv_expand.weight.flatten(1), self.conv_expand.bias))


class ElasticInvertedResidual(nn.Module):
    """An MBInvRes block sharing its weights over every (expansion, kernel, SE) configuration of a space."""

    def __init__(self, space: SearchSpace, slot: BlockSlot):
        super().__init__()
        self.slot = slot
        self.expansions = tuple(space.expansions)
        self.kernels = tuple(space.kernels)
        self.in_channels, self.out_channels, self.stride = slot.in_channels, slot.out_channels, slot.stride
        self.has_skip = slot.has_skip
        self.act = _ACTS[slot.act]
        self.mids = tuple(mid_channels(slot.in_channels, e) for e in self.expansions)
        self.rds = tuple(se_channels(m, space.se_ratio) for m in self.mids)
        self.mid_max, self.rd_max = max(self.mids), max(self.rds)
        if list(self.mids) != sorted(self.mids) or list(self.rds) != sorted(self.rds):
            raise ValueError("expansions must be increasing so that widths nest")

        mid = self.mid_max
        self.conv_pw = nn.Conv2d(slot.in_channels, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv_dw = nn.ModuleList(
            nn.Conv2d(mid, mid, k, slot.stride, _same_padding(k, slot.stride), groups=mid, bias=False)
            for k in self.kernels)
        self.bn2 = nn.ModuleList(nn.BatchNorm2d(mid) for _ in self.kernels)
        self.se = _MaskedSqueezeExcite(mid, self.rd_max)
        self.conv_pwl = nn.Conv2d(mid, slot.out_channels, 1, bias=False)
        self.bn3 = nn.ModuleList(nn.BatchNorm2d(slot.out_channels)
                                 for _ in self.expansions for _se in (False, True))
        ar_mid, ar_rd = torch.arange(mid), torch.arange(self.rd_max)
        self.register_buffer("chan_mask", torch.stack([(ar_mid < m).float() for m in self.mids]),
                             persistent=False)
        self.register_buffer("rd_mask", torch.stack([(ar_rd < r).float() for r in self.rds]),
                             persistent=False)

    # --- configuration indices ----------------------------------------------------------------
    def decode(self, cfg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Config indices -> (expansion index, kernel index, SE on) tensors."""
        nk = len(self.kernels)
        return cfg // (2 * nk), (cfg // 2) % nk, (cfg % 2).bool()

    # --- pieces of the block ------------------------------------------------------------------
    def _expand(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(_batch_norm(self.bn1, self.conv_pw(x)))

    def _depthwise(self, i: int, u: torch.Tensor) -> torch.Tensor:
        return self.act(_batch_norm(self.bn2[i], self.conv_dw[i](u)))

    def _bn3(self, z: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
        if not self.training:
            scale, shift = _bn_affine(self.bn3)
            return torch.addcmul(shift[group][:, :, None, None], z, scale[group][:, :, None, None])
        return _grouped_apply(z, group, len(self.bn3), lambda g, t: _batch_norm(self.bn3[g], t))

    def _tail(self, x: torch.Tensor, h: torch.Tensor, e_idx: torch.Tensor, se_on: torch.Tensor,
              residual: bool) -> torch.Tensor:
        """Channel mask, SE, projection, bn3 and the residual, per image."""
        if bool((e_idx != len(self.expansions) - 1).any()):
            h = h * self.chan_mask[e_idx][:, :, None, None]
        if bool(se_on.any()):
            gate = self.se.gate(h.mean((2, 3)), self.rd_mask[e_idx])
            if not bool(se_on.all()):
                gate = torch.where(se_on[:, None], gate, torch.ones_like(gate))
            h = h * gate[:, :, None, None]
        z = self._bn3(self.conv_pwl(h), e_idx * 2 + se_on.long())
        return z + x if residual and self.has_skip else z

    # --- forward passes -----------------------------------------------------------------------
    def forward(self, x: torch.Tensor, cfg: torch.Tensor, residual: bool = True) -> torch.Tensor:
        """Block output of every image under its own configuration ``cfg[n]`` (a LongTensor (B,))."""
        e_idx, k_idx, se_on = self.decode(cfg)
        u = self._expand(x)
        h = _grouped_apply(u, k_idx, len(self.kernels), self._depthwise)
        return self._tail(x, h, e_idx, se_on, residual)

    def search_forward(self, x: torch.Tensor, cfg: torch.Tensor
                       ) -> tuple[torch.Tensor, list[tuple[int, torch.Tensor, torch.Tensor]]]:
        """The sampled output (autograd graph kept) and, detached, every kernel's full-width depthwise
        output for every image as pieces ``(kernel index, image indices, h)`` (what the fast gradient
        needs). Each image's sampled kernel runs once with a graph, the other kernels without one."""
        e_idx, k_idx, se_on = self.decode(cfg)
        u = self._expand(x)
        graph_parts, pieces = [], []
        for i in range(len(self.kernels)):
            sel = (k_idx == i).nonzero().squeeze(1)
            rest = (k_idx != i).nonzero().squeeze(1)
            if sel.numel():
                hs = self._depthwise(i, u.index_select(0, sel))
                graph_parts.append((sel, hs))
                pieces.append((i, sel, hs.detach()))
            if rest.numel():
                with torch.no_grad():
                    pieces.append((i, rest, self._depthwise(i, u.detach().index_select(0, rest))))
        if len(graph_parts) == 1:
            h = graph_parts[0][1]
        else:
            order = torch.cat([idx for idx, _ in graph_parts])
            inverse = torch.empty_like(order)
            inverse[order] = torch.arange(order.numel(), device=order.device)
            h = torch.cat([t for _, t in graph_parts]).index_select(0, inverse)
        return self._tail(x, h, e_idx, se_on, residual=True), pieces

    def config_gradients(self, g: torch.Tensor, pieces: list[tuple[int, torch.Tensor, torch.Tensor]]
                         ) -> torch.Tensor:
        """Batch-summed ``<g_n, o_i(x_n)>`` for every configuration ``i`` (float64, (num_configs,)).

        ``g`` is dL/d(block output) (B, out, H, W); ``pieces`` come from :meth:`search_forward`.
        Eval-mode BN only (bn3 must be affine)."""
        ne, nk = len(self.expansions), len(self.kernels)
        scale, shift = _bn_affine(self.bn3)                                   # (2E, C)
        w_pwl = self.conv_pwl.weight.flatten(1)                               # (C, mid)
        total = torch.zeros(ne, nk, 2, dtype=torch.float64, device=g.device)
        for i, idx, h in pieces:
            gi = g.index_select(0, idx).flatten(2)                            # (n, C, P)
            hf = h.flatten(2)                                                 # (n, mid, P)
            corr = torch.bmm(gi, hf.transpose(1, 2))                          # G^k (n, C, mid)
            v = torch.matmul(scale, corr * w_pwl)                             # (n, 2E, mid)
            v = v.reshape(v.shape[0], ne, 2, self.mid_max)
            pooled = hf.mean(-1)[:, None, :] * self.chan_mask                 # (n, E, mid)
            gates = self.se.gate(pooled, self.rd_mask)                        # (n, E, mid)
            no_se = (v[:, :, 0] * self.chan_mask).sum(-1)                     # (n, E)
            with_se = (v[:, :, 1] * self.chan_mask * gates).sum(-1)           # (n, E)
            bias = (gi.sum(-1) @ shift.T).reshape(-1, ne, 2)                  # (n, E, 2)
            vals = torch.stack([no_se, with_se], -1) + bias
            total[:, i] += vals.double().sum(0)
        return total.reshape(-1)

    # --- weights to and from plain timm blocks ------------------------------------------------
    @torch.no_grad()
    def load_heaviest_block(self, src: nn.Module) -> None:
        """Copy a heaviest-config timm ``InvertedResidual``; smaller kernels get its centre taps."""
        kmax = max(self.kernels)
        if tuple(src.conv_dw.weight.shape) != (self.mid_max, 1, kmax, kmax) or \
                tuple(src.conv_pwl.weight.shape) != (self.out_channels, self.mid_max, 1, 1) or \
                not hasattr(src.se, "conv_reduce") or src.se.conv_reduce.out_channels != self.rd_max:
            raise ValueError(f"block {self.slot.stage}.{self.slot.index} of the given model is not the "
                             f"heaviest configuration of this space")
        self.conv_pw.weight.copy_(src.conv_pw.weight)
        _copy_bn(self.bn1, src.bn1)
        for i, k in enumerate(self.kernels):
            c = (kmax - k) // 2
            self.conv_dw[i].weight.copy_(src.conv_dw.weight[:, :, c:c + k, c:c + k])
            _copy_bn(self.bn2[i], src.bn2)
        self.se.load_state_dict(src.se.state_dict())
        self.conv_pwl.weight.copy_(src.conv_pwl.weight)
        for bn in self.bn3:
            _copy_bn(bn, src.bn3)

    @torch.no_grad()
    def export_block(self, dst: nn.Module, config: int) -> None:
        """Write configuration ``config``'s weights, sliced, into a timm ``InvertedResidual``."""
        e_idx, k_idx, se_on = (int(v) for v in self.decode(torch.tensor(config)))
        mid, rd = self.mids[e_idx], self.rds[e_idx]
        if tuple(dst.conv_pw.weight.shape) != (mid, self.in_channels, 1, 1):
            raise ValueError(f"target block has {dst.conv_pw.weight.shape[0]} mid channels, want {mid}")
        dst.conv_pw.weight.copy_(self.conv_pw.weight[:mid])
        _copy_bn(dst.bn1, self.bn1, mid)
        dst.conv_dw.weight.copy_(self.conv_dw[k_idx].weight[:mid])
        _copy_bn(dst.bn2, self.bn2[k_idx], mid)
        if se_on:
            dst.se.conv_reduce.weight.copy_(self.se.conv_reduce.weight[:rd, :mid])
            dst.se.conv_reduce.bias.copy_(self.se.conv_reduce.bias[:rd])
            dst.se.conv_expand.weight.copy_(self.se.conv_expand.weight[:mid, :rd])
            dst.se.conv_expand.bias.copy_(self.se.conv_expand.bias[:mid])
        dst.conv_pwl.weight.copy_(self.conv_pwl.weight[:, :mid])
        _copy_bn(dst.bn3, self.bn3[e_idx * 2 + se_on])


def _copy_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d, width: int | None = None) -> None:
    sl = slice(None) if width is None else slice(0, width)
    dst.weight.copy_(src.weight[sl])
    dst.bias.copy_(src.bias[sl])
    dst.running_mean.copy_(src.running_mean[sl])
    dst.running_var.copy_(src.running_var[sl])
    dst.num_batches_tracked.copy_(src.num_batches_tracked)


def copy_fixed_layers(source: nn.Module, target: nn.Module, num_stages: int) -> None:
    """Copy the layers outside the searched stages (stem, DS block, last conv block, head, classifier),
    which the supernet and a timm ``MobileNetV3`` of the space name alike, from ``source`` to ``target``."""
    for name in ("conv_stem", "bn1", "conv_head", "norm_head", "classifier"):
        getattr(target, name).load_state_dict(getattr(source, name).state_dict())
    for index in (0, num_stages + 1):
        target.blocks[index].load_state_dict(source.blocks[index].state_dict())


@contextmanager
def _frozen_eval(module: nn.Module) -> Iterator[None]:
    """Eval mode, no parameter requires grad; both restored on exit."""
    was_training = module.training
    flags = [(p, p.requires_grad) for p in module.parameters()]
    module.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        with torch.enable_grad():
            yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        module.train(was_training)


class ElasticSupernet(nn.Module):
    """The one-shot model of a search space; ``forward(x, sample)`` runs each image's own path."""

    def __init__(self, space: SearchSpace, num_classes: int, drop_rate: float = 0.0):
        super().__init__()
        self.space, self.num_classes, self.drop_rate = space, num_classes, drop_rate
        base = build_timm_model(Architecture.heaviest(space), num_classes, drop_rate=drop_rate)
        ns, nd = space.num_stages, space.max_depth
        self.conv_stem, self.bn1 = base.conv_stem, base.bn1
        stages = [nn.ModuleList(ElasticInvertedResidual(space, space.slot(s, b)) for b in range(nd))
                  for s in range(ns)]
        for stage in stages:
            for name, module in stage.named_modules():
                _init_weight_goog(module, name)
        self.blocks = nn.ModuleList([base.blocks[0], *stages, base.blocks[ns + 1]])
        self.global_pool, self.conv_head, self.norm_head = base.global_pool, base.conv_head, base.norm_head
        self.act2, self.flatten, self.classifier = base.act2, base.flatten, base.classifier

    @property
    def stages(self) -> list[nn.ModuleList]:
        return list(self.blocks[1:-1])

    # --- weights ------------------------------------------------------------------------------
    @torch.no_grad()
    def load_heaviest(self, model: nn.Module) -> None:
        """Initialise from the heaviest timm network w-bar (``build_timm_model(heaviest, num_classes)``)."""
        ns = self.space.num_stages
        if len(model.blocks) != ns + 2 or any(len(model.blocks[s + 1]) != self.space.max_depth
                                              for s in range(ns)):
            raise ValueError("load_heaviest needs the heaviest network of the space "
                             "(build_timm_model(Architecture.heaviest(space), num_classes))")
        copy_fixed_layers(model, self, ns)
        for s, stage in enumerate(self.stages):
            for b, block in enumerate(stage):
                block.load_heaviest_block(model.blocks[s + 1][b])

    # --- forward ------------------------------------------------------------------------------
    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(self.act2(self.norm_head(self.conv_head(self.global_pool(x)))))
        if self.drop_rate > 0.0:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return self.classifier(x)

    def _stage_forward(self, s: int, x: torch.Tensor, cfg: torch.Tensor, depth: torch.Tensor
                       ) -> torch.Tensor:
        for b, block in enumerate(self.blocks[s + 1]):
            if b < self.space.min_depth:
                x = block(x, cfg[:, b])
                continue
            active = (depth > b).nonzero().squeeze(1)
            if active.numel() == x.shape[0]:
                x = block(x, cfg[:, b])
            elif active.numel() == 0:
                break
            else:
                x = x.index_copy(0, active, block(x.index_select(0, active), cfg[active, b]))
        return x

    def forward(self, x: torch.Tensor, sample: PathSample, return_features: bool = False):
        """Logits of every image under its own path; with ``return_features`` also the list
        [stem, blocks[0], each searched stage, blocks[S+1]] aligned with :func:`timm_features`."""
        if sample.batch_size != x.shape[0]:
            raise ValueError(f"sample holds {sample.batch_size} paths for a batch of {x.shape[0]}")
        sample = sample.to(x.device)
        features = []
        x = self.bn1(self.conv_stem(x))
        features.append(x)
        x = self.blocks[0](x)
        features.append(x)
        for s in range(self.space.num_stages):
            x = self._stage_forward(s, x, sample.configs[:, s], sample.depths[:, s])
            features.append(x)
        x = self.blocks[-1](x)
        features.append(x)
        logits = self.forward_head(x)
        return (logits, features) if return_features else logits

    @contextmanager
    def batch_statistics(self, x: torch.Tensor, sample: PathSample) -> Iterator[None]:
        """Inside the block, every BN the paths of ``sample`` reach holds the statistics of ``x`` under
        them (one forward pass without gradients); the others keep theirs. All restored on exit.

        Multipath training leaves each BN with statistics averaged over every path through it, which
        misjudge paths far from the average, the heaviest most (``benchmarks/results/ranking.md``); a
        search re-estimates them under the paths it is weighing.
        """
        norms = [m for m in self.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        saved = [(bn.momentum, bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone())
                 for bn in norms]
        was_training = self.training
        try:
            for bn in norms:
                bn.momentum = None              # with the count at 0: running statistics = this batch's
                bn.num_batches_tracked.zero_()
            self.train()
            with torch.no_grad():
                self(x, sample)
            self.train(was_training)
            yield
        finally:
            for bn, (momentum, mean, var, count) in zip(norms, saved):
                bn.momentum = momentum
                bn.running_mean.copy_(mean)
                bn.running_var.copy_(var)
                bn.num_batches_tracked.copy_(count)
            self.train(was_training)

    # --- search-time gradients ----------------------------------------------------------------
    def _sample(self, x, alpha, beta, generator, sample) -> PathSample:
        if sample is None:
            if alpha is None or beta is None:
                raise ValueError("give alpha and beta (or a sample)")
            sample = PathSample.from_distributions(self.space, alpha, beta, x.shape[0], generator)
        if sample.batch_size != x.shape[0]:
            raise ValueError(f"sample holds {sample.batch_size} paths for a batch of {x.shape[0]}")
        return sample.to(x.device)

    def architecture_gradients(self, x: torch.Tensor, y: torch.Tensor, alpha, beta,
                               generator: torch.Generator | None = None, *,
                               sample: PathSample | None = None, return_stats: bool = False):
        """Straight-through gradients of the mean CE loss w.r.t. every block's config weights and every
        stage's depth weights, summed over the batch, at per-image paths drawn from ``alpha`` (S, D, C)
        and ``beta`` (S, K) (or the given ``sample``); weights frozen, BN in eval mode.

        Returns float64 arrays ``g_alpha`` (S, D, C) and ``g_beta`` (S, K); with ``return_stats`` also
        ``{"loss": mean CE, "correct": number of correct top-1 predictions}``."""
        sample = self._sample(x, alpha, beta, generator, sample)
        sp = self.space
        with _frozen_eval(self):
            with torch.no_grad():
                h = self.blocks[0](self.bn1(self.conv_stem(x)))
            h = h.detach().requires_grad_(True)
            block_out, block_pieces, stage_out, stage_parts = [], [], [], []
            for s, stage in enumerate(self.stages):
                outs = []
                for b, block in enumerate(stage):
                    h, pieces = block.search_forward(h, sample.configs[:, s, b])
                    outs.append(h)
                    block_pieces.append(pieces)
                choice = F.one_hot(sample.depths[:, s] - sp.min_depth, len(sp.depths)).to(h.dtype)
                parts = outs[sp.min_depth - 1:]
                h = sum(choice[:, j, None, None, None] * part for j, part in enumerate(parts))
                block_out.extend(outs)
                stage_out.append(h)
                stage_parts.append(parts)
            logits = self.forward_head(self.blocks[-1](h))
            loss = F.cross_entropy(logits, y)
            grads = torch.autograd.grad(loss, block_out + stage_out)
        with torch.no_grad():
            # Filled on the input's device and copied to the host once (no sync per block).
            g_alpha = x.new_zeros(sp.num_stages, sp.max_depth, sp.num_configs, dtype=torch.float64)
            g_beta = x.new_zeros(sp.num_stages, len(sp.depths), dtype=torch.float64)
            k = 0
            for s, stage in enumerate(self.stages):
                for b, block in enumerate(stage):
                    g_alpha[s, b] = block.config_gradients(grads[k], block_pieces[k])
                    k += 1
                g_stage = grads[len(block_out) + s]
                for j, part in enumerate(stage_parts[s]):
                    g_beta[s, j] = (g_stage.double() * part.detach().double()).sum()
        out = (g_alpha.cpu().numpy(), g_beta.cpu().numpy())
        if return_stats:
            correct = int((logits.argmax(-1) == y).sum())
            return (*out, {"loss": float(loss.detach()), "correct": correct})
        return out

    # --- the official all-configurations mixture (reference) ----------------------------------
    def mixture_forward(self, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                        skip_unused: bool = False) -> torch.Tensor:
        """Logits of the official search-mode mixture: every block outputs ``sum_i a[n,s,d,i] o_i(x_n)``
        (+ residual) over all configurations, every stage ``sum_j b[n,s,j] x_after_block(min_depth+j)``.
        ``a`` (B, S, D, C), ``b`` (B, S, K) may be any weights (one-hot for the straight-through
        gradient, perturbed for finite differences). Costs every configuration of every block;
        ``skip_unused`` skips configurations whose weight is zero for every image (the official
        ``hard_backprop``: same value, but no gradient for the skipped weights)."""
        sp = self.space
        h = self.blocks[0](self.bn1(self.conv_stem(x)))
        for s, stage in enumerate(self.stages):
            outs = []
            for d, block in enumerate(stage):
                mix = 0
                used = (a[:, s, d] != 0).any(0).tolist() if skip_unused else [True] * sp.num_configs
                for i in range(sp.num_configs):
                    if not used[i]:
                        continue
                    cfg = torch.full((x.shape[0],), i, dtype=torch.long, device=x.device)
                    mix = mix + a[:, s, d, i, None, None, None] * block(h, cfg, residual=False)
                h = mix + h if block.has_skip else mix
                outs.append(h)
            h = sum(b[:, s, j, None, None, None] * part for j, part in enumerate(outs[sp.min_depth - 1:]))
        return self.forward_head(self.blocks[-1](h))

    def mixture_architecture_gradients(self, x: torch.Tensor, y: torch.Tensor, alpha, beta,
                                       generator: torch.Generator | None = None, *,
                                       sample: PathSample | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Reference for :meth:`architecture_gradients` the way the official code computes it: autograd
        through the all-configurations mixture with per-image one-hot weights (12x the compute)."""
        sample = self._sample(x, alpha, beta, generator, sample)
        with _frozen_eval(self):
            a, b = sample.one_hot(self.space, dtype=x.dtype)
            a.requires_grad_(True)
            b.requires_grad_(True)
            loss = F.cross_entropy(self.mixture_forward(x, a, b), y)
            ga, gb = torch.autograd.grad(loss, [a, b])
        return ga.double().sum(0).cpu().numpy(), gb.double().sum(0).cpu().numpy()


def timm_features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits and the stage-wise features of a timm ``MobileNetV3`` (e.g. the teacher w-bar), aligned
    with ``ElasticSupernet.forward(..., return_features=True)``: [stem, each of ``model.blocks``]."""
    features = []
    x = model.bn1(model.conv_stem(x))
    features.append(x)
    for stage in model.blocks:
        x = stage(x)
        features.append(x)
    return model.forward_head(x), features
