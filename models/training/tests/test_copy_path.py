"""The copy path: the ids of the tokens after <hole> travel in the memory, and the head adds a gated bonus
to each distinct one's logit; the null memory adds nothing, the exported graphs match PyTorch, and a run
can add the path to a trained model and train it alone."""
import dataclasses

import numpy as np
import torch

from export import export_model
from onnx_runner import OnnxModel
from tiny import tiny_model
from train import TrainConfig, fim_loss, fim_split, make_optimizer, start_from

SPECIAL = {"eos": 64, "hole": 65, "pad": 66}
C = 40  # more than d_model (32): the tables take two rows each, the second one padded


def with_copy(seed: int = 0):
    model = tiny_model("deltanet", seed=seed, copy_slots=C)
    with torch.no_grad():  # spread the weights so a wrong slot or a missed repeat shows
        model.copy_pos.copy_(torch.linspace(-2.0, 3.0, C))
        model.copy_key.bias.fill_(0.5)
    return model


@torch.no_grad()
def test_the_bonus_goes_once_to_each_distinct_token_after_the_hole():
    model = with_copy()
    plain = tiny_model("deltanet")  # the same weights without the path
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("copy_")})
    assert model.cfg.memory_slots == model.cfg.mem_slots + 3  # 67 ids at 32 to a row
    ctx = torch.tensor([[5, 6, model.hole_id, 7, 8, 7, 9, 8, 7]])  # 7 and 8 repeat after the hole
    mem = model.encode(ctx)  # (1, l + R, D)
    table = mem[0, model.cfg.mem_slots :].flatten()  # (R*D,)
    assert sorted(torch.nonzero(table).flatten().tolist()) == [7, 8, 9]
    w = torch.sigmoid(model.copy_key(model.enc_ln(model.enc_blocks[0](model.wte(ctx))))[0, 3:, 0] + model.copy_pos[:6])
    assert torch.allclose(table[[7, 8, 9]], torch.stack([w[[0, 2, 5]].max(), w[[1, 4]].max(), w[3]]), atol=1e-6)
    ids = torch.randint(0, 64, (1, 6))
    got, _, _ = model(ids, memory=mem)
    fused = model.fuse(model.trunk(ids, model.init_state(), torch.zeros(1, dtype=torch.long))[0], mem)
    diff = got - model.project(fused)  # (1, T, V)
    assert sorted(torch.nonzero(diff[0, -1]).flatten().tolist()) == [7, 8, 9]
    beta = torch.nn.functional.softplus(model.copy_gate(model.ln_f(fused)))[0, -1, 0]
    assert torch.allclose(diff[0, -1, [7, 8, 9]], beta * table[[7, 8, 9]], atol=1e-5)
    # the null memory (a lone <hole>) copies nothing: the decoder alone is the model without the path
    null = model.null_memory(model.hole_id)
    assert not null[0, model.cfg.mem_slots :].any()
    plain_logits, _, _ = plain(ids, memory=plain.null_memory(plain.hole_id))
    assert torch.allclose(model(ids, memory=null)[0], plain_logits, atol=1e-6)


@torch.no_grad()
def test_exported_graphs_copy_like_pytorch(tmp_path):
    model = with_copy(seed=1)
    tok = tmp_path / "tok.json"
    tok.write_text("{}")
    export_model(model, tmp_path / "m", "tiny-copy", tok, SPECIAL)
    onx = OnnxModel(tmp_path / "m")
    assert onx.manifest["memory"]["shape"] == [1, model.cfg.memory_slots, model.cfg.d_model]
    torch.manual_seed(3)
    ids = torch.randint(0, 64, (1, 9))
    for n, at in [(90, 10), (90, 70), (40, 39), (1, 0)]:  # a long suffix, a short one, none, a lone hole
        ctx = torch.randint(0, 64, (1, n))
        ctx[0, at] = model.hole_id
        want = model.encode(ctx)
        got = onx.encode(ctx[0].tolist())
        assert np.abs(got - want.numpy()).max() <= 1e-4, (n, at)
        ref, _, _ = model(ids, memory=want)
        logits, _ = onx.step(ids[0].tolist(), onx.init_state(), got)
        assert np.abs(logits - ref[0, -1].numpy()).max() <= 1e-4, (n, at)
    from shipped import load_shipped

    back, _ = load_shipped(tmp_path / "m")  # training can resume from the shipped path's weights
    for name, p in model.state_dict().items():
        if name.startswith("copy_"):
            assert torch.allclose(back.state_dict()[name], p, atol=1e-6), name


def test_a_run_adds_the_copy_path_and_trains_it_alone(tmp_path):
    model = tiny_model("deltanet")
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"config": dataclasses.asdict(model.cfg), "model": model.state_dict(), "train_info": {"tokens": 10}}, ckpt)
    grown, _ = start_from(ckpt, dataclasses.replace(model.cfg, copy_slots=C))
    kept = grown.state_dict()
    for name, p in model.state_dict().items():
        assert torch.equal(kept[name], p), name
    for n, p in grown.named_parameters():
        p.requires_grad_(n.startswith("copy_"))
    opt = make_optimizer(grown, TrainConfig(), fused=False)
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == 2 * (grown.cfg.d_model + 1) + C
    torch.manual_seed(5)
    x = torch.randint(0, 64, (4, 33))  # (B, T+1)
    x[:, 20:] = x[:, 5:18]  # the span's tokens come again after it: worth copying
    ctx, scored = fim_split(x, TrainConfig(), grown.hole_id, np.random.default_rng(2))
    loss = fim_loss(grown, x, ctx, scored, grown.hole_id)
    loss.backward()
    assert grown.copy_gate.bias.grad is not None and grown.copy_gate.bias.grad.abs() > 0
    assert all(p.grad is None for n, p in grown.named_parameters() if not n.startswith("copy_"))


def test_encoder_stats_tell_what_the_copy_path_saves():
    from encoder_stats import encoder_stats

    model = with_copy()
    torch.manual_seed(4)
    x = torch.randint(0, 64, (6, 41))  # (B, T+1)
    x[:, 25:] = x[:, 9:25]  # the middle comes again after it
    ctx, scored = fim_split(x, TrainConfig(middle_min=0.3, middle_max=0.4), model.hole_id, np.random.default_rng(0))
    stats = encoder_stats(model, x, ctx, scored)
    assert 0 < stats["copy_targets_in_suffix"] <= 1
    assert stats["copy_loss_saved"] != 0
