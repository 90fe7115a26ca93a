"""The files an installed copy needs: found through the package in a clone, and copied into a wheel."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hardcore_nas import UsageError, packaged_file
from orchestrator.config import load_config, packaged_configs

ROOT = Path(__file__).resolve().parents[2]


def test_packaged_files_are_the_repository_files():
    assert packaged_file("cluster.yaml").read_text() == (ROOT / "cluster.yaml").read_text()
    assert set(packaged_configs()) == {p.stem for p in (ROOT / "configs").glob("*.yaml")}
    with pytest.raises(UsageError, match="packaged files"):
        packaged_file("nothing.yaml")


def test_a_packaged_config_loads_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # outside the clone: no configs/ folder here
    assert load_config("cifar").data.startswith("cifar10")
    with pytest.raises(UsageError, match="packaged config: .*default"):
        load_config("no-such-config")


@pytest.mark.slow
def test_the_wheel_carries_configs_cluster_yaml_license_and_type_markers(tmp_path):
    build_existed = (ROOT / "build").exists()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(ROOT)], check=True, timeout=300)
    if not build_existed:       # setuptools builds in the source tree
        shutil.rmtree(ROOT / "build", ignore_errors=True)
    (wheel,) = tmp_path.glob("hardcore_nas-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "hardcore_nas/data/cluster.yaml" in names
    assert {f"hardcore_nas/data/configs/{p.name}" for p in (ROOT / "configs").glob("*.yaml")} <= names
    assert {f"{pkg}/py.typed" for pkg in ("hardcore_nas", "orchestrator", "workers", "supernet", "solvers")} <= names
    assert any(n.endswith("licenses/LICENSE") for n in names)
