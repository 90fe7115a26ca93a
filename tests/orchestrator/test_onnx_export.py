"""Every family member is also logged as ONNX: the tracker's helper, loaded back in ONNX Runtime."""
import mlflow
import numpy as np
import onnxruntime as ort
import torch

from orchestrator.tracking import Tracker
from supernet.arch import Architecture
from supernet.space import get_space
from supernet.timm_models import build_timm_model


def test_logged_onnx_model_matches_torch_in_onnx_runtime(tmp_path):
    space = get_space("tiny")
    model = build_timm_model(Architecture.random(space, np.random.default_rng(0)), 10).eval()
    example = np.random.default_rng(1).random((2, space.in_chans, space.input_size, space.input_size),
                                              dtype=np.float32)
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "onnx", str(tmp_path / "artifacts"))
    run_id = tracker.child("fine-tune")
    uri = tracker.log_onnx_model(run_id, model, example)
    tracker.end(run_id)

    info = mlflow.models.get_model_info(uri)
    assert list(info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, *example.shape[1:]]
    session = ort.InferenceSession(mlflow.onnx.load_model(uri).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    x = np.concatenate([example, example[:1]])          # another batch size than the example's
    (out,) = session.run(None, {"input": x})
    with torch.no_grad():
        np.testing.assert_allclose(out, model(torch.from_numpy(x)).numpy(), atol=1e-4)
