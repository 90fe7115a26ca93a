"""Search-time architecture gradients of the frozen supernet w*, on shards of the search's validation data.

* :class:`ShardGradients` (plain): a frozen :class:`ElasticSupernet` and a shard of images; a call
  ``(alpha, beta, batch_size, seed)`` draws a batch from the shard and returns the straight-through
  gradients (:meth:`ElasticSupernet.architecture_gradients`) with the batch's loss.
* :class:`GradientPool` (Ray): actors that each build w* once from weights put in the object store
  once (``ray.put``) and hold one shard; a call splits the batch over the actors and averages their
  answers. One pool serves every concurrent search: the pool object (actor handles) is passed to the
  search tasks, never the weights.
* :class:`SeededGradient`: either of them as the solver's callback ``gradient(alpha, beta)``; step
  ``t`` draws its images and paths from seed ``(search seed, t)``, so a search gives the same answer
  however its calls interleave with other searches' calls on the shared actors.
* Scores of discrete architectures (what evolution and random search rank by): ``scores`` on a shard
  and on the pool give w*'s validation loss and top-1 of a batch of architectures, in the same mode as
  the gradients (weights frozen, BN statistics re-estimated or training's), every architecture on the
  same images.
  :class:`SupernetEvaluator` puts both behind :class:`solvers.strategies.Evaluator`.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import Dataset

from supernet.arch import Architecture
from supernet.elastic import ElasticSupernet
from supernet.sampling import PathSample
from supernet.space import SearchSpace
from supernet.timm_models import build_timm_model

from .monitoring import process_cpu_seconds

__all__ = ["GradientPart", "ScorePart", "ShardGradients", "GradientPool", "SeededGradient", "SupernetEvaluator",
           "combine", "combine_scores", "numpy_state", "load_numpy_state", "supernet_from_weights",
           "teacher_from_weights", "shard_indices"]

ComputeFn = Callable[[np.ndarray, np.ndarray, int, int], "list[GradientPart]"]
ScoreComputeFn = Callable[[np.ndarray, np.ndarray, int, int], "list[ScorePart]"]
# Images x architectures per forward pass when scoring (bounds the activation memory).
SCORE_CHUNK = 1024


# --- weights as plain numpy arrays (what goes into the object store) ----------------------------
def numpy_state(module: nn.Module) -> dict[str, np.ndarray]:
    """A module's state dict as numpy arrays (Ray shares them zero-copy between local workers)."""
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def load_numpy_state(module: nn.Module, weights: dict[str, np.ndarray]) -> nn.Module:
    """Load numpy arrays (possibly read-only object-store views) into ``module``."""
    module.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in weights.items()})
    return module


def supernet_from_weights(space: SearchSpace, num_classes: int, weights: dict[str, np.ndarray]
                          ) -> ElasticSupernet:
    """w* in eval mode, every parameter frozen."""
    net = load_numpy_state(ElasticSupernet(space, num_classes), weights)
    return net.eval().requires_grad_(False)


def teacher_from_weights(space: SearchSpace, num_classes: int, weights: dict[str, np.ndarray]) -> nn.Module:
    """w-bar (the heaviest network, plain timm) in eval mode, frozen."""
    model = load_numpy_state(build_timm_model(Architecture.heaviest(space), num_classes), weights)
    return model.eval().requires_grad_(False)


def shard_indices(size: int, shard: int, num_shards: int) -> np.ndarray:
    """Items ``shard, shard + num_shards, ...`` of ``range(size)`` (shards differ by at most one)."""
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} outside 0..{num_shards - 1}")
    return np.arange(shard, size, num_shards)


# --- one shard ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GradientPart:
    """Gradients of the mean CE loss over ``count`` images (batch-summed straight-through estimates)."""
    g_alpha: np.ndarray
    g_beta: np.ndarray
    loss: float
    count: int


@dataclass(frozen=True)
class ScorePart:
    """Per architecture: summed CE loss and correct top-1 predictions over the same ``count`` images."""
    loss_sum: np.ndarray
    correct: np.ndarray
    count: int


def combine_scores(parts: Sequence[ScorePart]) -> tuple[np.ndarray, np.ndarray]:
    """``(mean loss, top-1 %)`` per architecture over every shard's images."""
    total = sum(p.count for p in parts)
    if total == 0:
        raise ValueError("no score part holds an image")
    return sum(p.loss_sum for p in parts) / total, 100.0 * sum(p.correct for p in parts) / total


def combine(parts: Sequence[GradientPart]) -> tuple[np.ndarray, np.ndarray, float]:
    """The shards' answers averaged with their image counts as weights: the gradient of the mean
    loss over the whole batch, and that loss."""
    total = sum(p.count for p in parts)
    if total == 0:
        raise ValueError("no gradient part holds an image")
    g_alpha = sum(p.g_alpha * p.count for p in parts) / total
    g_beta = sum(p.g_beta * p.count for p in parts) / total
    return g_alpha, g_beta, sum(p.loss * p.count for p in parts) / total


class ShardGradients:
    """Architecture gradients of a frozen supernet on batches drawn from one shard of images.

    With ``bn_images`` > 0 every call first re-estimates w*'s BN statistics on that many images of the
    shard under the paths being judged (drawn from ``(alpha, beta)``; for a score, the architecture itself)
    instead of using the statistics training left, averaged over every path. It ranks the architectures of
    a supernet trained one path per batch better (tau 0.05 -> 0.29); for a multipath w* it bought nothing
    at 3-5x the search's time (256 images), and with too few (64) the noisy statistics of deep paths steer
    the search to the lightest (``benchmarks/results/ranking.md``). 0 (the default, the official code's
    mode) keeps training's.
    """

    def __init__(self, net: ElasticSupernet, shard: Dataset, device: str = "cpu", bn_images: int = 0):
        if len(shard) == 0:
            raise ValueError("a gradient shard needs at least one image")
        if bn_images < 0:
            raise ValueError(f"bn_images must be >= 0, got {bn_images}")
        self.net = net.to(device).eval().requires_grad_(False)
        self.shard = shard
        self.device = device
        self.bn_images = bn_images

    def _statistics(self, rng: np.random.Generator, alpha: np.ndarray, beta: np.ndarray):
        """The context of a gradient call: BN re-estimated under paths drawn from ``(alpha, beta)``, or
        training's statistics."""
        if not self.bn_images:
            return contextlib.nullcontext()
        x, _ = self.batch(self.bn_images, rng)
        generator = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
        return self.net.batch_statistics(x, PathSample.from_distributions(self.net.space, alpha, beta, len(x),
                                                                          generator))

    def batch(self, batch_size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch_size`` images of the shard (without replacement while the shard has enough)."""
        picks = rng.choice(len(self.shard), size=batch_size, replace=batch_size > len(self.shard))
        items = [self.shard[int(i)] for i in picks]
        x = torch.stack([torch.as_tensor(image) for image, _ in items]).to(self.device)
        y = torch.as_tensor([int(target) for _, target in items], device=self.device)
        return x, y

    def __call__(self, alpha: np.ndarray, beta: np.ndarray, batch_size: int, seed: int) -> GradientPart:
        rng = np.random.default_rng(seed)
        x, y = self.batch(batch_size, rng)
        paths = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
        with self._statistics(rng, alpha, beta):
            g_alpha, g_beta, stats = self.net.architecture_gradients(x, y, alpha, beta, paths, return_stats=True)
        return GradientPart(g_alpha, g_beta, stats["loss"], batch_size)

    def compute(self, alpha: np.ndarray, beta: np.ndarray, batch_size: int, seed: int) -> list[GradientPart]:
        """The :data:`ComputeFn` form (one part) used by :class:`SeededGradient`."""
        return [self(alpha, beta, batch_size, seed)]

    @torch.no_grad()
    def scores(self, alphas: np.ndarray, betas: np.ndarray, images: int, seed: int) -> ScorePart:
        """Loss and top-1 of the one-hot ``alphas (N, S, D, C)``, ``betas (N, S, K)`` on the same ``images``
        images of the shard (drawn from ``seed``); one forward pass runs many (image, architecture) pairs,
        each image on its own path."""
        x, y = self.batch(images, np.random.default_rng(seed))
        configs = torch.as_tensor(np.asarray(alphas).argmax(-1), dtype=torch.long)           # (N, S, D)
        depths = torch.as_tensor(np.asarray(betas).argmax(-1) + self.net.space.min_depth, dtype=torch.long)
        # With BN re-estimated, one architecture per pass (its own statistics), all on the same BN images.
        bn_x = self.batch(self.bn_images, np.random.default_rng([seed, 1]))[0] if self.bn_images else None
        per_chunk = 1 if self.bn_images else max(1, SCORE_CHUNK // images)
        loss_sum, correct = np.zeros(len(configs)), np.zeros(len(configs))
        for start in range(0, len(configs), per_chunk):
            c, d = configs[start:start + per_chunk], depths[start:start + per_chunk]
            n = len(c)
            sample = PathSample(c.repeat_interleave(images, 0), d.repeat_interleave(images, 0))
            statistics = contextlib.nullcontext() if bn_x is None else self.net.batch_statistics(
                bn_x, PathSample(c.expand(len(bn_x), -1, -1).clone(), d.expand(len(bn_x), -1).clone()))
            with statistics:
                logits = self.net(x.repeat(n, 1, 1, 1), sample)
            target = y.repeat(n)
            loss = F.cross_entropy(logits, target, reduction="none").view(n, images)
            loss_sum[start:start + n] = loss.double().sum(1).cpu().numpy()
            correct[start:start + n] = (logits.argmax(-1) == target).view(n, images).sum(1).cpu().numpy()
        return ScorePart(loss_sum, correct, images)

    def score_compute(self, alphas: np.ndarray, betas: np.ndarray, images: int, seed: int) -> list[ScorePart]:
        """The :data:`ScoreComputeFn` form (one part) used by :class:`SupernetEvaluator`."""
        return [self.scores(alphas, betas, images, seed)]


# --- the Ray pool -----------------------------------------------------------------------------------
class GradientWorker:
    """Actor body: builds w* once from the object-store weights and holds one shard of the val split."""

    def __init__(self, space: SearchSpace, num_classes: int, weights_ref: tuple, data: str,
                 data_seed: int, shard: int, num_shards: int, threads: int, use_gpu: bool, bn_images: int = 0):
        import ray

        from supernet.data import load_data
        from supernet.training import configure_cpu, training_device

        weights: dict[str, np.ndarray] = ray.get(weights_ref[0])
        configure_cpu(threads)
        val = load_data(data, space.input_size, seed=data_seed).val
        subset = torch.utils.data.Subset(val, shard_indices(len(val), shard, num_shards).tolist())
        self.gradients = ShardGradients(supernet_from_weights(space, num_classes, weights), subset,
                                        training_device(use_gpu), bn_images)
        self.started = process_cpu_seconds()

    def gradient(self, alpha: np.ndarray, beta: np.ndarray, batch_size: int, seed: int) -> GradientPart:
        return self.gradients(alpha, beta, batch_size, seed)

    def scores(self, alphas: np.ndarray, betas: np.ndarray, images: int, seed: int) -> ScorePart:
        return self.gradients.scores(alphas, betas, images, seed)

    def cpu_seconds(self) -> float:
        """CPU time this actor used (all its threads) since it started."""
        return process_cpu_seconds() - self.started


ACTOR_RESTARTS = 3     # per gradient actor and per call: a node lost now and then, not a crash loop


class GradientPool:
    """Gradient actors sharing one copy of w* through the object store; ``compute`` splits a batch
    over them (``ray.get`` is thread-safe, and several search tasks may hold the same pool)."""

    def __init__(self, actors: list, weights_ref=None):
        if not actors:
            raise ValueError("a gradient pool needs at least one actor")
        self.actors = actors
        self.weights_ref = weights_ref      # held for the pool's life: a restarted actor reads it again

    @classmethod
    def start(cls, space: SearchSpace, num_classes: int, weights_ref, data: str, data_seed: int,
              workers: int, num_cpus: float, num_gpus: float = 0.0, bn_images: int = 0) -> GradientPool:
        """``workers`` actors, each asking Ray for ``num_cpus`` CPUs and ``num_gpus`` GPUs.
        ``weights_ref`` is the ``ray.put`` of :func:`numpy_state` (w*), shared by every actor;
        ``bn_images`` per actor and call re-estimate BN statistics (:class:`ShardGradients`).

        An actor whose process ends (a lost node, an out-of-memory kill) is restarted from the same
        weights and shard, and the calls it had in flight are retried: a gradient depends only on its
        seed, so the searches waiting on it carry on from their current iterate as if nothing happened
        (a score, too, depends only on its seed and architectures).
        """
        import ray

        actor_class = ray.remote(GradientWorker).options(num_cpus=num_cpus, num_gpus=num_gpus,
                                                         max_restarts=ACTOR_RESTARTS, max_task_retries=ACTOR_RESTARTS)
        threads = max(1, int(num_cpus))
        # Wrapped in a tuple, the reference reaches the actor unresolved and it fetches the weights itself:
        # Ray keeps no constructor argument of its own alive for restarts, the pool keeps this one.
        actors = [actor_class.remote(space, num_classes, (weights_ref,), data, data_seed, i, workers,
                                     threads, num_gpus > 0, bn_images) for i in range(workers)]
        return cls(actors, weights_ref)

    def compute(self, alpha: np.ndarray, beta: np.ndarray, batch_size: int, seed: int) -> list[GradientPart]:
        import ray

        sizes = [len(part) for part in np.array_split(np.arange(batch_size), len(self.actors))]
        seeds = np.random.SeedSequence([seed, batch_size]).generate_state(len(self.actors))
        refs = [actor.gradient.remote(alpha, beta, n, int(s))
                for actor, n, s in zip(self.actors, sizes, seeds) if n > 0]
        return ray.get(refs)

    def score(self, alphas: np.ndarray, betas: np.ndarray, images: int, seed: int) -> list[ScorePart]:
        """Every architecture on ``images`` images, the images split over the actors (as a gradient's
        batch is): each architecture meets the same images, so ranks compare architectures, not shards."""
        import ray

        sizes = [len(part) for part in np.array_split(np.arange(images), len(self.actors))]
        seeds = np.random.SeedSequence([seed, images]).generate_state(len(self.actors))
        alphas_ref, betas_ref = ray.put(np.asarray(alphas)), ray.put(np.asarray(betas))
        refs = [actor.scores.remote(alphas_ref, betas_ref, n, int(s))
                for actor, n, s in zip(self.actors, sizes, seeds) if n > 0]
        return ray.get(refs)

    def cpu_seconds(self) -> float:
        import ray

        return float(sum(ray.get([a.cpu_seconds.remote() for a in self.actors])))

    def shutdown(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)
        self.actors, self.weights_ref = [], None


# --- the solver's callback ---------------------------------------------------------------------------
class SeededGradient:
    """``gradient(alpha, beta) -> (g_alpha, g_beta, loss)`` for :func:`solvers.search`: each call is one
    step, whose images and paths come from seed ``(seed, step)``."""

    def __init__(self, compute: ComputeFn, batch_size: int, seed: int):
        self.compute = compute
        self.batch_size = batch_size
        self.seed = seed
        self.step = 0

    def __call__(self, alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        step_seed = int(np.random.SeedSequence([self.seed, self.step]).generate_state(1)[0])
        self.step += 1
        return combine(self.compute(alpha, beta, self.batch_size, step_seed))


class SupernetEvaluator:
    """:class:`solvers.strategies.Evaluator` over gradient and score sources (a shard in process, or a
    :class:`GradientPool`). Gradients: step ``t`` seeded ``(seed, t)`` as :class:`SeededGradient`; scores:
    one seed for the whole search, so every architecture it scores meets the same images."""

    def __init__(self, compute: ComputeFn, score: ScoreComputeFn | None, seed: int):
        self.compute, self.score_compute, self.seed = compute, score, seed
        self._gradients: dict[int, SeededGradient] = {}

    def gradient(self, alpha: np.ndarray, beta: np.ndarray, batch_size: int) -> tuple:
        seeded = self._gradients.setdefault(batch_size, SeededGradient(self.compute, batch_size, self.seed))
        return seeded(alpha, beta)

    def score(self, alphas: np.ndarray, betas: np.ndarray, images: int) -> tuple[np.ndarray, np.ndarray]:
        if self.score_compute is None:
            raise ValueError("this evaluator has no score source")
        seed = int(np.random.SeedSequence([self.seed, 1 << 20]).generate_state(1)[0])
        return combine_scores(self.score_compute(alphas, betas, images, seed))
