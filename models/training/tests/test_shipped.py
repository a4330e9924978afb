"""Reading an exported model folder back into PyTorch: every variant's weights round-trip exactly."""
import numpy as np
import pytest
import torch

from export import export_model
from onnx_runner import OnnxModel
from shipped import ShippedError, load_shipped
from tiny import tiny_model

SPECIAL = {"eos": 64, "hole": 65, "pad": 66}


@torch.no_grad()
def test_weights_read_back_from_an_exported_folder(variant, tmp_path):
    model = tiny_model(variant)
    tok = tmp_path / "tok.json"
    tok.write_text("{}")
    export_model(model, tmp_path / variant, "t", tok, SPECIAL, fp16_weights=True)
    back, manifest = load_shipped(tmp_path / variant)
    assert manifest["variant"] == variant
    for (name, p), q in zip(model.state_dict().items(), back.state_dict().values()):
        # float16 storage for the large tensors, float32 for the small ones: each value is one or the other
        assert bool(((q == p) | (q == p.half().float())).all()), name
    ids = torch.randint(0, 64, (1, 40))
    onx = OnnxModel(tmp_path / variant)
    mem = back.encode(torch.tensor([[SPECIAL["hole"]]])) if back.cfg.has_encoder else None
    ref, _, _ = back(ids, memory=mem)
    logits, _ = onx.step(ids[0].tolist()[: back.cfg.graph_chunk], onx.init_state(), onx.null_memory() if mem is not None else None)
    assert np.abs(logits - ref[0, min(40, back.cfg.graph_chunk) - 1].numpy()).max() <= 1e-3


def test_a_folder_that_is_not_a_model_is_refused(tmp_path):
    with pytest.raises(ShippedError, match="not a readable model folder"):
        load_shipped(tmp_path)
