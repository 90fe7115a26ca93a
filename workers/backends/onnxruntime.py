"""ONNX Runtime, CPU execution provider: the network exported to ONNX, timed in an ORT session.

Per-block times come from inside the whole network, as for torch: a second session of the same model
runs with ORT's profiler on, and each run's node durations (``"cat": "Node"`` events) are grouped by
the module path the TorchScript exporter writes into node names (``/blocks/blocks.1/blocks.1.0/...``;
ORT's fusions keep it, e.g. ``.../conv_pw/Conv_output_0_nchwc``). Nodes ORT inserts itself (layout
``ReorderInput``/``ReorderOutput``) join the segment of the node before them.

The gap between a run's wall time and the sum of its node durations is per-node overhead: measured
here (1 thread), 5.7-9.6 us per node for networks of 40 and 230 nodes, with little left for a fixed
per-run part. So each run's gap is shared among its segments in proportion to the nodes each ran.
The profiler also slows the kernels themselves (whole runs 10-40% longer than without it), so
whole-network times come from the plain session, and the probe scales every network's segments to
them (``NetworkTiming.segment_latencies_ms``), as it removes the cost of torch's hooks.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from .registry import LatencyBackend, TimedNetwork, register_backend, segment_boundaries

__all__ = ["OnnxRuntimeBackend", "OrtNetwork", "export_onnx", "OPSET", "INPUT_NAME", "OUTPUT_NAME"]

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "input", "logits"
PROVIDER = "CPUExecutionProvider"
_BLOCK = re.compile(r"/blocks\.(\d+)\.(\d+)/")


def export_onnx(model, example, dynamic_batch: bool = False) -> bytes:
    """``model`` as an ONNX model (bytes) through the TorchScript exporter, which keeps module paths in
    node names (the per-block grouping needs them); ``dynamic_batch`` leaves the batch axis free."""
    import torch

    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")     # the deprecation notice of the TorchScript exporter: chosen on purpose
        torch.onnx.export(model.eval(), (example,), buffer, dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], dynamic_axes=axes)
    return buffer.getvalue()


class OrtNetwork(TimedNetwork):
    """A plain session for whole-network times and, with ``blocks``, a profiled one for segments.

    :meth:`segments` returns run indices of the profiled session; ORT writes its profile only when
    profiling ends (which also stops it), so :meth:`segment_times` reads it once, at the end.
    """

    def __init__(self, onnx_model: bytes, feed: dict, boundaries: list[str], threads: int, blocks: bool) -> None:
        self.feed = feed
        self.segment_of = {name: i for i, name in enumerate(boundaries)}   # blocks.0 -> 0 (front)
        self.back = len(boundaries)
        self._tmp = tempfile.mkdtemp(prefix="hcn-ort-") if blocks else None
        self.plain = self._session(onnx_model, threads, profile=False)
        self.profiled = self._session(onnx_model, threads, profile=True) if blocks else None
        self.walls_ms: list[float] = []            # every profiled run, in order
        self._resolved: list[list[float]] | None = None
        self.gaps_ms: list[float] = []             # per resolved run: wall time minus its nodes' time

    def _session(self, onnx_model: bytes, threads: int, profile: bool):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL   # node events then follow one another
        if profile:
            options.enable_profiling = True
            options.profile_file_prefix = str(Path(self._tmp, "profile"))
        return ort.InferenceSession(onnx_model, options, providers=[PROVIDER])

    @staticmethod
    def _time(session, feed: dict, runs: int) -> list[float]:
        out = []
        for _ in range(runs):
            start = time.perf_counter_ns()
            session.run(None, feed)
            out.append((time.perf_counter_ns() - start) / 1e6)
        return out

    def totals(self, runs: int) -> list[float]:
        return self._time(self.plain, self.feed, runs)

    def segments(self, runs: int) -> list[int]:
        first = len(self.walls_ms)
        self.walls_ms += self._time(self.profiled, self.feed, runs)
        return list(range(first, len(self.walls_ms)))

    def warmup(self, runs: int, blocks: bool) -> None:
        # both sessions: the first runs of either are slow
        self.totals(runs)
        if blocks:
            self.segments(runs)

    def segment_times(self, records: list[int]) -> list[list[float]]:
        if not records:
            return []
        if self._resolved is None:
            self._resolved = self._read_profile()
        return [self._resolved[i] for i in records]

    def _segment(self, node: str, previous: int, seen_block: bool) -> int:
        match = _BLOCK.search(node)
        if match:
            stage, index = match.groups()
            name = f"blocks.{stage}" if stage == "0" else f"blocks.{stage}.{index}"
            return self.segment_of.get(name, self.back)       # the last stage (last conv) is the back
        if node.startswith("/"):                               # stem and bn1 before the blocks, head after
            return self.back if seen_block else 0
        return previous                                        # inserted by ORT: with its predecessor

    def _read_profile(self) -> list[list[float]]:
        """Per profiled run: node time per segment, plus the run's gap shared by node count."""
        import bisect

        path = self.profiled.end_profiling()
        events = json.loads(Path(path).read_text())
        runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                      key=lambda e: e["ts"])
        if len(runs) != len(self.walls_ms):
            raise RuntimeError(f"ORT profile holds {len(runs)} runs, {len(self.walls_ms)} were made")
        starts = [e["ts"] for e in runs]
        nodes = sorted((e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")),
                       key=lambda e: e["ts"])
        out = [[0.0] * (self.back + 1) for _ in runs]
        counts = [[0] * (self.back + 1) for _ in runs]
        state = [(0, False)] * len(runs)                       # (previous segment, a block seen) per run
        for event in nodes:
            r = bisect.bisect_right(starts, event["ts"]) - 1
            if r < 0:
                continue
            previous, seen = state[r]
            segment = self._segment(event["name"], previous, seen)
            out[r][segment] += event["dur"] / 1e3
            counts[r][segment] += 1
            state[r] = (segment, seen or 0 < segment < self.back)
        for r, wall in enumerate(self.walls_ms):
            gap = wall - sum(out[r])
            self.gaps_ms.append(gap)
            share = max(gap, 0.0) / max(sum(counts[r]), 1)
            out[r] = [ms + share * n for ms, n in zip(out[r], counts[r])]
        return out

    def close(self) -> None:
        self.plain = self.profiled = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


@register_backend("onnxruntime")
class OnnxRuntimeBackend(LatencyBackend):
    """ONNX Runtime on the CPU (``CPUExecutionProvider``, all graph optimisations, sequential execution);
    ``threads`` is the session's intra-op thread count."""

    preload = ("torch", "timm", "torch.onnx", "onnx", "onnxruntime")

    @classmethod
    def versions(cls, profile) -> dict:
        import onnx
        import onnxruntime as ort

        return {"onnxruntime": ort.__version__, "onnx": onnx.__version__, "execution_provider": PROVIDER,
                "onnx_opset": OPSET}

    def setup(self) -> None:
        import torch

        torch.set_num_threads(self.profile.resolved_threads())    # the exporter's tracing runs the model

    def load(self, model, example, blocks: bool) -> OrtNetwork:
        onnx_model = export_onnx(model, example)
        return OrtNetwork(onnx_model, {INPUT_NAME: example.numpy()}, segment_boundaries(model),
                          self.profile.resolved_threads(), blocks)
