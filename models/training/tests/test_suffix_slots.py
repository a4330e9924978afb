"""Suffix slots: the encoder's states of the tokens right after <hole> follow the packed memory, in PyTorch
and in the exported graph alike, and a run can add them to a model trained without them."""
import dataclasses

import numpy as np
import pytest
import torch

from export import export_model
from model import LineaModel
from onnx_runner import OnnxModel
from tiny import tiny_model
from train import start_from

SPECIAL = {"eos": 64, "hole": 65, "pad": 66}
S = 5


@torch.no_grad()
def test_exported_encoder_takes_the_tokens_after_the_hole(tmp_path):
    model = tiny_model("deltanet", suffix_slots=S)
    assert model.hole_id == SPECIAL["hole"]
    tok = tmp_path / "tok.json"
    tok.write_text("{}")
    export_model(model, tmp_path / "m", "tiny-suffix", tok, SPECIAL)
    onx = OnnxModel(tmp_path / "m")
    assert onx.manifest["memory"]["shape"] == [1, model.cfg.mem_slots + S, model.cfg.d_model]
    torch.manual_seed(3)
    # the hole early, mid, two tokens before the end (3 slots past it), last, alone
    for n, at in [(90, 10), (90, 50), (40, 37), (40, 39), (1, 0)]:
        ctx = torch.randint(0, 64, (1, n))
        ctx[0, at] = model.hole_id
        want = model.encode(ctx)  # (1, l + S, D)
        got = onx.encode(ctx[0].tolist())
        assert got.shape == tuple(want.shape)
        assert np.abs(got - want.numpy()).max() <= 1e-4, (n, at)
        past = max(0, at + 1 + S - n)  # slots with no token behind them
        if past:
            assert torch.equal(want[0, -past:], model.suffix_none[S - past :])
        if at + 1 < n:
            x = model.enc_ln(model.enc_blocks[0](model.wte(ctx)))  # (1, N, D)
            assert torch.allclose(want[0, model.cfg.mem_slots], x[0, at + 1] + model.suffix_pos[0], atol=1e-6)
    # the decoder reads the longer memory
    ids = torch.randint(0, 64, (1, 12))
    ctx = torch.randint(0, 64, (1, 30))
    ctx[0, 7] = model.hole_id
    ref, _, _ = model(ids, memory=model.encode(ctx))
    logits, _ = onx.step(ids[0].tolist(), onx.init_state(), onx.encode(ctx[0].tolist()))
    assert np.abs(logits - ref[0, -1].numpy()).max() <= 1e-4


def test_a_run_adds_suffix_slots_and_keeps_every_other_weight(tmp_path):
    model = tiny_model("deltanet")
    ckpt = tmp_path / "ckpt.pt"
    info = {"tokens": 100, "tokens_total": 300, "runs": [{"tokens": 200}, {"tokens": 100}]}
    torch.save({"config": dataclasses.asdict(model.cfg), "model": model.state_dict(), "train_info": info}, ckpt)
    grown, before = start_from(ckpt, dataclasses.replace(model.cfg, suffix_slots=S))
    assert isinstance(grown, LineaModel) and grown.cfg.suffix_slots == S
    assert before["tokens_total"] == 300 and len(before["runs"]) == 2
    kept = grown.state_dict()
    for name, p in model.state_dict().items():
        assert torch.equal(kept[name], p), name
    assert kept["suffix_pos"].shape == (S, model.cfg.d_model)
    with pytest.raises(ValueError, match="another model config"):
        start_from(ckpt, dataclasses.replace(model.cfg, d_model=64))


def test_encoder_stats_tell_a_memory_that_carries_the_window():
    from encoder_stats import encoder_stats
    from train import TrainConfig, fim_split

    model = tiny_model("deltanet", suffix_slots=S)
    torch.manual_seed(4)
    x = torch.randint(0, 64, (6, 41))  # (B, T+1)
    ctx, scored = fim_split(x, TrainConfig(), model.hole_id, np.random.default_rng(0))
    stats = encoder_stats(model, x, ctx, scored)
    assert stats["memory_spread_packed"] > 0.01 and stats["memory_spread_suffix"] > 0.01
    assert 0 < stats["fusion_attention_on_suffix"] < 1 and 0 < stats["fusion_attention_entropy"] <= 1
    assert stats["encoder_grad_vs_decoder"] > 0 and stats["fusion_output_moved"] > 0
    same = x[:1].expand_as(x).clone()  # six copies of one window: nothing to tell apart
    ctx, scored = fim_split(same, TrainConfig(), model.hole_id, np.random.default_rng(0))
    assert encoder_stats(model, same, ctx, scored)["memory_spread_packed"] < 1e-5


def test_the_memory_parameters_can_learn_faster():
    from train import MEMORY_PARAMS, TrainConfig, make_optimizer

    model = tiny_model("deltanet", suffix_slots=S)
    opt = make_optimizer(model, TrainConfig(memory_lr_mult=3.0), fused=False)
    names = {id(p): n for n, p in model.named_parameters()}
    fast = {names[id(p)] for g in opt.param_groups if g["lr_mult"] == 3.0 for p in g["params"]}
    assert fast == {n for n in names.values() if n.startswith(MEMORY_PARAMS)}
    assert "suffix_pos" in fast and "fusion.0.q.weight" in fast and "blocks.0.mixer.qkv.weight" not in fast
    assert sum(len(g["params"]) for g in opt.param_groups) == len(names)
