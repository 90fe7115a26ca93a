"""What the measuring process's state does to latency: plain processes against the tuned allocator.

Times the same networks (timm's ``hardcorenas_a`` at 224x224 and the ``imagenet`` space's lightest and
heaviest; the ``tiny`` space's lightest and heaviest at 32x32), 1 thread, batch 1, on torch and ONNX
Runtime, in four ways, ``--rounds`` times each, side by side in interleaved order:

- ``plain script``: ``python -c`` in a new process with nothing set, the model loaded and timed as a
  user's script does (the reference for the ``plain`` condition);
- ``tuned script``: the same with the ``tuned`` condition's environment;
- ``probe plain`` / ``probe tuned``: the probe (:func:`workers.latency.measure_networks`) with a profile
  in that condition, one network per call.

Writes ``benchmarks/results/latency_process.md``. The machine must be otherwise idle::

    flock /tmp/hcn-cpu.lock .venv/bin/python benchmarks/process_conditions.py
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from supernet.arch import Architecture, timm_arch_def  # noqa: E402
from supernet.space import get_space  # noqa: E402
from workers.devices import DeviceProfile  # noqa: E402
from workers.latency import Protocol, condition_env, cpu_model, default_num_classes, measure_networks  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PROTOCOL = Protocol(warmup=10, repeats=30, runs_per_visit=5, rewarm=2)
BACKENDS = {"torch": "torch-cpu", "onnxruntime": "onnxruntime"}

# A user's script: build the network, warm it up, time it; the statistic is the probe's lower quartile.
SCRIPT = """
import sys, time, numpy as np, torch
from supernet.arch import Architecture
from supernet.space import get_space
from supernet.timm_models import build_timm_model
space_name, arch, backend, classes, warmup, repeats, quantile = sys.argv[1:8]
space = get_space(space_name)
torch.set_num_threads(1)
model = build_timm_model(Architecture.from_string(arch, space), int(classes)).eval()
x = torch.rand(1, 3, space.input_size, space.input_size)
if backend == "torch":
    def run():
        with torch.inference_mode():
            model(x)
else:
    import onnxruntime as ort
    from workers.backends.onnxruntime import export_onnx
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(export_onnx(model, x), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x.numpy()}
    def run():
        session.run(None, feed)
for _ in range(int(warmup)):
    run()
times = []
for _ in range(int(repeats)):
    tic = time.perf_counter(); run(); times.append((time.perf_counter() - tic) * 1e3)
print(np.quantile(times, float(quantile)))
"""


def networks() -> list[tuple[str, str, Architecture]]:
    imagenet, tiny = get_space("imagenet"), get_space("tiny")
    return [("hardcorenas_a", "imagenet", Architecture.from_arch_def(timm_arch_def("hardcorenas_a"), imagenet)),
            ("imagenet lightest", "imagenet", Architecture.lightest(imagenet)),
            ("imagenet heaviest", "imagenet", Architecture.heaviest(imagenet)),
            ("tiny lightest", "tiny", Architecture.lightest(tiny)),
            ("tiny heaviest", "tiny", Architecture.heaviest(tiny))]


def script_ms(space: str, arch: Architecture, backend: str, process: str) -> float:
    profile = DeviceProfile("bench", BACKENDS[backend], 1, 1, process)
    classes = default_num_classes(get_space(space))
    out = subprocess.run([sys.executable, "-c", SCRIPT, space, str(arch), backend, str(classes),
                          str(PROTOCOL.warmup), str(PROTOCOL.repeats), str(PROTOCOL.run_quantile)],
                         env=condition_env(profile), capture_output=True, text=True, timeout=600, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def probe_ms(space: str, arch: Architecture, backend: str, process: str) -> float:
    profile = DeviceProfile("bench", BACKENDS[backend], 1, 1, process)
    (timing,) = measure_networks(get_space(space), [arch], profile, PROTOCOL, default_num_classes(get_space(space)))
    return timing.latency_ms(PROTOCOL.run_quantile)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    args = parser.parse_args()
    load_before, rows = os.getloadavg(), []
    for r in range(args.rounds):
        for name, space, arch in networks():
            for backend in args.backends:
                for process in ("plain", "tuned"):
                    for how, fn in (("script", script_ms), ("probe", probe_ms)):
                        ms = fn(space, arch, backend, process)
                        rows.append({"round": r, "network": name, "backend": backend, "process": process,
                                     "how": how, "ms": ms})
                        print(f"round {r} {name:<18} {backend:<12} {process:<6} {how:<7} {ms:8.3f} ms", flush=True)
    frame = pd.DataFrame(rows)
    frame.to_csv(RESULTS / "latency_process.csv", index=False)
    write_report(frame, load_before, os.getloadavg(), args.rounds)
    return 0


def write_report(frame: pd.DataFrame, load_before, load_after, rounds: int) -> None:
    wide = frame.pivot_table(index=["network", "backend"], columns=["process", "how"], values="ms",
                             aggfunc="median")
    spread = frame.groupby(["network", "backend", "process", "how"]).ms.agg(lambda v: np.ptp(v) / np.median(v))
    lines = [
        "# Latency depends on the measuring process: plain against tuned, script against probe",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, no GPU ({platform.platform()}); "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after. 1 thread, batch 1; each figure is the median over {rounds} rounds "
        f"(interleaved) of the lower quartile of {PROTOCOL.repeats} runs after {PROTOCOL.warmup} warm-up runs.",
        "",
        "- **script**: a new `python -c` process that builds the network and times it as a user's script "
        "does, with nothing set (`plain`) or with the `tuned` condition's environment.",
        "- **probe**: `workers.latency.measure_networks` with a profile in that condition (the path tables "
        "and certification take: a child forked from a launcher started in the condition).",
        "",
        "| network | backend | plain script | probe plain | probe / script | tuned script | probe tuned "
        "| plain / tuned (scripts) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (network, backend), row in wide.iterrows():
        ps, pp = row[("plain", "script")], row[("plain", "probe")]
        ts, tp = row[("tuned", "script")], row[("tuned", "probe")]
        lines.append(f"| {network} | {backend} | {ps:.3f} | {pp:.3f} | {pp / ps:.3f} | {ts:.3f} | {tp:.3f} "
                     f"| {ps / ts:.3f} |")
    lines += ["", "Range over the rounds / median, per cell (how much the level moves from one process to the next):",
              "", "| network | backend | process | how | range / median |", "|---|---|---|---|---|"]
    lines += [f"| {n} | {b} | {p} | {h} | {v:.1%} |" for (n, b, p, h), v in spread.items()]
    lines += ["", "Rows: `latency_process.csv`."]
    (RESULTS / "latency_process.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
