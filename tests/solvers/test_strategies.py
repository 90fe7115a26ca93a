"""Every registered strategy on small problems: feasible answers, budgets counted, exact random search."""
import numpy as np
import pytest

from solvers import InfeasibleConstraintError, OptionError, list_strategies, parse_options, run_strategy
from solvers.constraints import ConstraintSet
from solvers.resources import Constraint, ResourceModel
from solvers.strategies import get_strategy

from .instances import all_architectures, feasible_constraints, feasible_mask, random_resource

SHAPE, MIN_DEPTH = (2, 2, 3), 1


class Preference:
    """A stand-in supernet: loss is linear in the architecture (a preference per config and depth)."""

    def __init__(self, rng, shape=SHAPE, min_depth=MIN_DEPTH):
        self.a = rng.normal(size=shape)
        self.b = rng.normal(size=(shape[0], shape[1] - min_depth + 1))
        k = shape[1] - min_depth + 1
        self.presence = (np.arange(shape[1])[:, None] < min_depth + np.arange(k)[None, :]).astype(float)

    def loss(self, alpha, beta):
        """Blocks past a stage's depth do not count, as in the supernet."""
        present = beta @ self.presence.T                                   # (S, D)
        return float((self.a * alpha * present[:, :, None]).sum() + (self.b * beta).sum())

    def gradient(self, alpha, beta, batch_size):
        return self.a, self.b, self.loss(alpha, beta)

    def score(self, alphas, betas, images):
        loss = np.array([self.loss(a, b) for a, b in zip(alphas, betas)])
        return loss, np.zeros(len(loss))


SMALL = {"bcsfw": {"steps": 20, "batch_size": 4}, "soft-penalty": {"steps": 20, "batch_size": 4},
         "evolution": {"population_size": 6, "generations": 2, "eval_images": 3},
         "random": {"samples": 10, "eval_images": 3}}


def test_the_five_strategies_are_registered():
    assert list_strategies() == ["bcsfw", "evolution", "random", "soft-penalty", "uniform"]
    assert {get_strategy(n).signal for n in ("bcsfw", "soft-penalty")} == {"gradients"}
    assert {get_strategy(n).signal for n in ("evolution", "random", "uniform")} == {"scores"}


@pytest.mark.parametrize("name", ["bcsfw", "evolution", "random"])
@pytest.mark.parametrize("seed", range(4))
def test_hard_strategies_answer_feasible_architectures_and_count_their_images(name, seed):
    rng = np.random.default_rng(seed)
    cs = feasible_constraints(rng, int(rng.integers(1, 3)), SHAPE, MIN_DEPTH)
    options = parse_options(name, SMALL[name])
    result = run_strategy(name, cs, Preference(rng), options, rng)
    assert cs.satisfied(result.alpha, result.beta) and not result.violated
    assert result.strategy == name and 0 < result.images <= options.budget_images()
    assert result.trace and result.trace[-1].images <= result.images
    assert np.array_equal(result.trace[-1].alpha, result.alpha)


def test_random_search_is_exact_when_it_draws_the_whole_feasible_set():
    rng = np.random.default_rng(5)
    r = random_resource(rng, SHAPE, MIN_DEPTH)
    cs = ConstraintSet([Constraint(r, r.least() + 0.3 * (r.largest() - r.least()))])
    model = Preference(rng)
    alphas, betas = all_architectures(SHAPE, MIN_DEPTH)
    mask = feasible_mask(cs, alphas, betas)
    best = min(model.loss(a, b) for a, b in zip(alphas[mask], betas[mask]))
    result = run_strategy("random", cs, model, parse_options("random", {"samples": 400}), rng)
    assert model.loss(result.alpha, result.beta) == pytest.approx(best)


def test_evolution_keeps_its_best_and_stays_feasible():
    rng = np.random.default_rng(2)
    shape = (3, 3, 4)
    r = random_resource(rng, shape, 2)
    cs = ConstraintSet([Constraint(r, r.least() + 0.5 * (r.largest() - r.least()))])
    result = run_strategy("evolution", cs, Preference(rng, shape, 2),
                          parse_options("evolution", {"generations": 6, "eval_images": 1}), rng)
    best = [record.objective for record in result.log]
    assert best == sorted(best, reverse=True) and len(best) == 7
    assert cs.satisfied(result.alpha, result.beta)


def test_the_soft_penalty_flags_a_broken_bound():
    rng = np.random.default_rng(0)
    r = ResourceModel("r", np.abs(rng.normal(size=SHAPE)) + 1.0, 1.0, MIN_DEPTH)
    cs = ConstraintSet([Constraint(r, r.least() + 0.05 * (r.largest() - r.least()))])

    class Heavier(Preference):              # a loss that wants every expensive option
        def gradient(self, alpha, beta, batch_size):
            return -r.block_costs, -np.arange(beta.shape[1], dtype=float)[None].repeat(beta.shape[0], 0), 0.0

    result = run_strategy("soft-penalty", cs, Heavier(rng), parse_options("soft-penalty", {"penalty": 0.0}), rng)
    assert result.violated and min(result.slack.values()) < 0


def test_infeasible_constraints_fail_before_any_evaluation():
    rng = np.random.default_rng(0)
    r = random_resource(rng, SHAPE, MIN_DEPTH)

    class Refuses(Preference):
        def score(self, *args):
            raise AssertionError("evaluated")
        gradient = score

    for name in list_strategies():
        with pytest.raises(InfeasibleConstraintError):
            run_strategy(name, [Constraint(r, r.least() - 1.0)], Refuses(rng), None, rng)


def test_options_are_validated_once_with_the_option_named():
    with pytest.raises(OptionError, match="option 'gamma' must be a number > 0 and <= 1, got 2.0"):
        parse_options("bcsfw", {"gamma": 2.0})
    with pytest.raises(OptionError, match="one of the options population_size"):
        parse_options("evolution", {"population": 3})
    with pytest.raises(OptionError, match="algorithm"):
        parse_options("nsga", {})
    assert parse_options("random", {"samples": "12"}).samples == 12          # CLI strings
    assert parse_options("bcsfw").budget_images() == 200 * 16


def test_uniform_is_the_largest_fitting_uniform_architecture_by_brute_force():
    alphas, betas = all_architectures(SHAPE, MIN_DEPTH)
    uniform = np.array([len(set(a.argmax(-1).ravel())) == 1 and len(set(b.argmax(-1))) == 1
                        for a, b in zip(alphas, betas)])
    assert uniform.sum() == SHAPE[2] * (SHAPE[1] - MIN_DEPTH + 1)
    checked = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        cs = feasible_constraints(rng, int(rng.integers(1, 3)), SHAPE, MIN_DEPTH)
        fits = uniform & feasible_mask(cs, alphas, betas)
        if not fits.any():
            with pytest.raises(InfeasibleConstraintError, match="no uniform architecture"):
                run_strategy("uniform", cs, None, None, rng)
            continue
        result = run_strategy("uniform", cs, None, None, rng)
        first = cs.constraints[0].resource
        best = max(first.evaluate(a, b) for a, b in zip(alphas[fits], betas[fits]))
        assert first.evaluate(result.alpha, result.beta) == pytest.approx(best)
        assert cs.satisfied(result.alpha, result.beta) and result.images == 0
        checked += 1
    assert checked > 100
