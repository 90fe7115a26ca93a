"""What a run has finished, on disk (``<out>/state.json``), so that ``--resume`` can continue it."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from hardcore_nas.checks import check_inside, check_record, read_json, short

__all__ = ["Finetune", "RunState"]


@dataclass(frozen=True)
class Finetune:
    """A finished fine-tune, as the state records it (by architecture)."""
    top1: float
    run_id: str
    model_uri: str
    onnx_model_uri: str


@dataclass
class RunState:
    """Finished members (by key) and fine-tunes (by architecture) of one run of one config."""
    config_hash: str
    parent_run_id: str = ""
    members: dict[str, dict] = field(default_factory=dict)
    finetunes: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, member: type) -> RunState | None:
        """The state at ``path`` (None when there is none), checked: the file lies in its run folder, and
        each member record fits the dataclass ``member`` (its floats may be NaN: not known yet)."""
        if not path.is_file():
            return None
        check_inside(path, path.parent, "run state")
        where = f"run state {path}"
        state = cls(**check_record(read_json(path, "run state", allow_nan=True), cls, where))
        for key, record in state.members.items():
            check_record(record, member, f"{where}: member {short(key)}", nan=True)
        for arch, record in state.finetunes.items():
            check_record(record, Finetune, f"{where}: fine-tune {short(arch)}")
        return state

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)     # a link left there would be written through
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=1))
        tmp.replace(path)
