"""What the fault-injection tests saw, written to a results file when ``HCN_FAULTS_REPORT`` names one
(``make fault-test`` writes ``benchmarks/results/faults.md``)."""
from __future__ import annotations

import os
import platform
import time
from collections import defaultdict
from pathlib import Path

_ROWS: dict[tuple[str, str], list[dict]] = defaultdict(list)


def record_fault(fault: str, injection: str, survived: str, extra_s: float | None, lost: str) -> None:
    """One injection of ``fault``: what survived, the extra wall time it cost, what was lost."""
    _ROWS[fault, injection].append({"survived": survived, "extra_s": extra_s, "lost": lost})


NOTES = "<!-- notes: kept when the table above is written again -->"


def write_report(path: str | Path) -> None:
    """The table of every recorded fault; what stands below :data:`NOTES` in an existing file stays."""
    if not _ROWS:
        return
    path = Path(path)
    notes = path.read_text().partition(NOTES)[2] if path.is_file() else ""
    lines = [
        "# Faults injected, and what survived",
        "",
        f"Written by `make fault-test` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.node()}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}). Each row is "
        "one kind of fault, injected for real (processes killed by PID, files damaged on disk, no mocks of Ray "
        "or MLflow); *extra time* is the wall time the fault cost against the same work unbroken, measured in "
        "the same session (median over the injections).",
        "",
        "| fault | how it was injected | times | what survived | extra time | lost |",
        "|---|---|---|---|---|---|",
    ]
    for (fault, injection), rows in _ROWS.items():
        extras = sorted(r["extra_s"] for r in rows if r["extra_s"] is not None)
        extra = f"{extras[len(extras) // 2]:+.0f} s" if extras else "-"
        survived = "; ".join(dict.fromkeys(r["survived"] for r in rows))
        lost = "; ".join(dict.fromkeys(r["lost"] for r in rows))
        lines.append(f"| {fault} | {injection} | {len(rows)} | {survived} | {extra} | {lost} |")
    path.write_text("\n".join(lines) + f"\n\n{NOTES}{notes or chr(10)}")
