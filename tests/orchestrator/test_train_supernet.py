"""``hardcore-nas train-supernet`` end to end on the digits (half-width tiny space, one epoch per stage)."""
import json

from orchestrator.cli import main

QUICK = ["--space", "tiny", "--width-multiplier", "0.5", "--epochs-heaviest", "1", "--epochs-supernet", "1",
         "--random-subnets", "1"]


def test_missing_data_path_is_one_line_naming_the_path(tmp_path, capsys):
    missing = tmp_path / "no-cifar-here"
    assert main(["train-supernet", "--data", f"cifar10:{missing}", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert str(missing) in err and len(err.splitlines()) == 1


def test_trains_both_stages_then_reuses_them(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["train-supernet", *QUICK, "--out", str(out)]) == 0
    first = capsys.readouterr().out
    assert "heaviest: trained" in first and "supernet: trained" in first
    for name in ("heaviest", "supernet"):
        assert (out / f"{name}.safetensors").is_file()
        assert json.loads((out / f"{name}.json").read_text())["data"] == "digits"
    metrics = json.loads((out / "metrics.json").read_text())
    assert [s["name"] for s in metrics["subnets"]] == ["lightest", "heaviest", "random1"]
    assert all(0.0 <= s[key] <= 100.0 for s in metrics["subnets"]
               for key in ("test_top1", "test_top1_bn_recalibrated"))

    assert main(["train-supernet", *QUICK, "--out", str(out), "--random-subnets", "0"]) == 0
    second = capsys.readouterr().out
    assert "heaviest: loaded" in second and "supernet: loaded" in second
    assert json.loads((out / "metrics.json").read_text())["heaviest"] == metrics["heaviest"]

    # A checkpoint of another space is refused with one line, not retrained over.
    assert main(["train-supernet", "--space", "tiny", "--epochs-heaviest", "1", "--out", str(out)]) == 2
    assert "not for 'tiny'" in capsys.readouterr().err
