"""What a run has finished, on disk (``<out>/state.json``), so that ``--resume`` can continue it."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RunState"]


@dataclass
class RunState:
    """Finished members (by key) and fine-tunes (by architecture) of one run of one config."""
    config_hash: str
    parent_run_id: str = ""
    members: dict[str, dict] = field(default_factory=dict)
    finetunes: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> RunState | None:
        return cls(**json.loads(path.read_text())) if path.is_file() else None

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=1))
        tmp.replace(path)
