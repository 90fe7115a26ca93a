"""What the user sees while a run works: numbered stages, waits that tick, searches with their step
counts, fine-tune trials with their epochs. Lines are INFO log records (the CLI prints them on stderr,
``--quiet`` hides them); bars are tqdm on stderr (``TQDM_DISABLE=1`` or ``--quiet`` turns them off)."""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

__all__ = ["Progress"]

logger = logging.getLogger(__name__)


class Progress:
    """Stage lines ``[i/n] name ... done in 12 s`` and the bars of the long stages."""

    def __init__(self, stages: list[str]):
        self.stages = stages
        self.started = time.perf_counter()

    def say(self, text: str) -> None:
        logger.info(text)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        index = self.stages.index(name) + 1
        self.say(f"[{index}/{len(self.stages)}] {name} ...")
        tic = time.perf_counter()
        yield
        self.say(f"[{index}/{len(self.stages)}] {name}: done in {time.perf_counter() - tic:.0f} s "
                 f"({time.perf_counter() - self.started:.0f} s since the start)")

    def wait(self, ref, desc: str, board=None, total: int | None = None):
        """``ray.get(ref)`` with a bar: the sum of ``board``'s counters out of ``total`` when the task
        posts to a :class:`~workers.monitoring.ProgressBoard`, else the seconds waited."""
        import ray

        fmt = None if board is not None else "{desc}: {elapsed}"
        with tqdm(desc=desc, total=total, file=sys.stderr, bar_format=fmt) as bar:
            while not ray.wait([ref], timeout=1.0)[0]:
                if board is None:
                    bar.update(1)
                else:
                    counts = ray.get(board.snapshot.remote())
                    bar.n = sum(counts.values())
                    bar.set_postfix(counts)
                    bar.refresh()
        return ray.get(ref)

    def searches(self, refs: dict, board, steps: int):
        """Yield ``(key, ref)`` as the search tasks ``refs`` (key -> ObjectRef) finish, showing the total
        and each running search's steps (read from the ``ProgressBoard`` actor); ``ray.get(ref)`` is the
        caller's, so that one search's error is the caller's to handle."""
        import ray

        pending = dict(refs)
        by_ref = {ref: key for key, ref in refs.items()}
        with tqdm(total=steps * len(refs), desc=f"{len(refs)} searches", unit="step", file=sys.stderr) as bar:
            while pending:
                ready, _ = ray.wait(list(pending.values()), num_returns=1, timeout=0.5)
                counts = ray.get(board.snapshot.remote())
                finished = {by_ref[r] for r in ready}
                bar.n = sum(steps if key in finished or key not in pending else counts.get(key, 0)
                            for key in refs)
                running = [f"{k} {counts.get(k, 0)}/{steps}" for k in pending if k not in finished]
                bar.set_postfix_str(", ".join(running[:4]) + (" ..." if len(running) > 4 else ""))
                bar.refresh()
                for ref in ready:
                    key = by_ref[ref]
                    del pending[key]
                    yield key, ref

    def tune_callback(self, trials: int, epochs: int):
        """A Ray Tune callback showing the trials' epochs in one bar and each trial's end or error."""
        from ray import tune

        class TrialProgress(tune.Callback):
            def setup(self, **info) -> None:
                self.bar = tqdm(total=trials * epochs, desc=f"{trials} fine-tunes", unit="epoch",
                                file=sys.stderr)
                self.epochs: dict[str, int] = {}

            def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
                if not result.get("final"):
                    self.epochs[trial.trial_id] = int(result["epoch"])
                    self.bar.n = sum(self.epochs.values())
                    self.bar.set_postfix_str(f"{trial.trial_id}: epoch {result['epoch']}, "
                                             f"val top-1 {result.get('val_top1', float('nan')):.1f}%")
                    self.bar.refresh()

            def on_trial_error(self, iteration, trials, trial, **info) -> None:
                logger.warning("fine-tune trial %s failed (retried while training.max_failures allows)",
                               trial.trial_id)

            def on_experiment_end(self, trials, **info) -> None:
                self.bar.close()

        return TrialProgress()
