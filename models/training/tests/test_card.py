"""card.py: the model card's tables come from manifests and bench JSON, and the default-eligibility
rule (64k/256 step ratio <= 1.1, state <= 2 MiB at 64k) is applied to the measured figures."""
import json

import card

CARD = """# card
<!-- card:training -->
<!-- /card:training -->
<!-- card:quality -->
<!-- /card:quality -->
<!-- card:latency -->
<!-- /card:latency -->
<!-- card:int8 -->
<!-- /card:int8 -->
<!-- card:ablation -->
<!-- /card:ablation -->
<!-- card:ablation-latency -->
<!-- /card:ablation-latency -->
"""


def manifest(mid, variant, bpb, fixed, per_token):
    return {"id": mid, "variant": variant, "parameters": 2_000_000, "decoder": "decoder", "step": "decoder_step",
            "state_bytes": {"fixed": fixed, "per_token": per_token},
            "metrics": {"bpb": bpb, "line_exact_match": 5.0, "line_edit_similarity": 20.0},
            "training": {"tokens": 3_000_000, "iters": 1465, "seconds": 7200, "device": "cpu", "torch": "2.x",
                         "batch_size": 8, "seq_len": 256}}


def bench_row(mid, variant, ms256, ms64k, state64k):
    pts = [{"context": 256, "stepMs": ms256, "ttfsMs": 16 * ms256, "stateBytes": 1000},
           {"context": 65536, "stepMs": ms64k, "ttfsMs": 16 * ms64k, "stateBytes": state64k}]
    return {"id": mid, "variant": variant, "points": pts, "ratio": ms64k / ms256, "prefillTokPerS": 900}


def test_card_tables(tmp_path):
    shipped, ablation = tmp_path / "models", tmp_path / "ablation"
    for folder, m in [(shipped, manifest("m-softmax", "softmax", 2.0, 0, 4096)),
                      (shipped, manifest("m-delta", "deltanet", 2.1, 80_000, 0)),
                      (ablation, manifest("m-decay", "decay", 2.4, 70_000, 0))]:
        (folder / m["id"]).mkdir(parents=True)
        (folder / m["id"] / "manifest.json").write_text(json.dumps(m))
    bench = {"contexts": [256, 65536], "rows": [bench_row("m-softmax", "softmax", 1.0, 30.0, 4096 * 65536),
                                                 bench_row("m-delta", "deltanet", 2.0, 2.1, 80_000)]}
    abench = {"contexts": [256, 65536], "rows": [bench_row("m-decay", "decay", 1.5, 1.8, 70_000)]}
    (tmp_path / "b.json").write_text(json.dumps(bench))
    (tmp_path / "a.json").write_text(json.dumps(abench))
    (tmp_path / "README.md").write_text(CARD)
    rc = card.main(["--models", str(shipped), "--card", str(tmp_path / "README.md"), "--bench", str(tmp_path / "b.json"),
                    "--ablation", str(ablation), "--ablation-bench", str(tmp_path / "a.json")])
    assert rc == 0
    text = (tmp_path / "README.md").read_text()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| m-")}
    ablation_block = text.split("<!-- card:ablation -->")[1].split("<!-- /card:ablation -->")[0]
    delta = next(line for line in ablation_block.splitlines() if line.startswith("| m-delta"))
    decay = next(line for line in ablation_block.splitlines() if line.startswith("| m-decay"))
    soft = next(line for line in ablation_block.splitlines() if line.startswith("| m-softmax"))
    assert "+5.0%" in delta and delta.rstrip().endswith("yes |")
    assert "1.20" in decay and decay.rstrip().endswith("no |")  # 1.8 / 1.5 > 1.1
    assert soft.rstrip().endswith("no |") and "256.0 MiB" in soft  # a KV cache at 64k
    assert "2.0 h" in text and "3.0M" in text  # training table
    assert "m-softmax" in rows
    # A second run replaces the tables instead of adding to them.
    assert card.main(["--models", str(shipped), "--card", str(tmp_path / "README.md")]) == 0
    assert (tmp_path / "README.md").read_text().count("| m-delta | deltanet | 2.00M") == 1


def test_card_names_a_missing_block(tmp_path, capsys):
    (tmp_path / "README.md").write_text("# no markers\n")
    (tmp_path / "models").mkdir()
    assert card.main(["--models", str(tmp_path / "models"), "--card", str(tmp_path / "README.md")]) == 2
    assert "card:quality" in capsys.readouterr().err


def test_runs_table_shows_the_curve_across_runs():
    m = manifest("m-delta", "deltanet", 1.9, 80_000, 0)
    m["training"]["runs"] = [{"tokens": 3_000_000, "device": "cpu", "seconds": 4000, "metrics": {"bpb": 2.015, "line_exact_match": 11.5}},
                             {"tokens": 2_000_000, "device": "cpu", "seconds": 3600, "schedule": "wsd", "metrics": {"bpb": 1.9, "line_exact_match": 5.0}},
                             {"tokens": 1_000_000, "device": "cpu", "seconds": 1800, "schedule": "wsd", "train_only": "copy_"}]
    table = card.runs_table([m])
    assert "| m-delta | 1 | 3.0M | 3.0M | cosine | cpu, 1.1 h | 2.015 | 11.5 |" in table
    assert "| m-delta | 2 | 2.0M | 5.0M | wsd | cpu, 1.0 h | 1.900 | 5.0 |" in table
    assert "| m-delta | 3 | 1.0M | 6.0M | wsd (copy_ only) | cpu, 0.5 h | 1.900 | 5.0 |" in table


def test_encoder_table_shows_the_diagnostics():
    m = manifest("m-delta", "deltanet", 2.1, 80_000, 0)
    m["config"] = {"suffix_slots": 32, "copy_slots": 256}
    m["metrics"] |= {"bpb_middle_with_encoder": 1.30, "bpb_middle_without_encoder": 1.45,
                     "encoder": {"memory_spread_packed": 0.87, "memory_spread_suffix": 0.9, "encoder_grad_vs_decoder": 0.015,
                                 "fusion_grad_vs_decoder": 0.37, "fusion_attention_entropy": 0.61,
                                 "fusion_attention_on_suffix": 0.8, "fusion_output_moved": 0.12,
                                 "copy_targets_in_suffix": 0.41, "copy_loss_saved": 0.052}}
    old = manifest("m-old", "linear", 2.3, 80_000, 0) | {"config": {}}  # no diagnostics: no row
    table = card.encoder_table([m, old])
    row = next(line for line in table.splitlines() if line.startswith("| m-delta"))
    assert "| 32 / 256 | 1.300 / 1.450 | 0.87 / 0.90 | 1.5e-02 / 3.7e-01 | 0.610 | 0.80 | 0.1200 | 0.41 | 0.052 |" in row
    assert "m-old" not in table


def test_training_table_counts_every_run_and_describes_the_last():
    m = manifest("m-delta", "deltanet", 1.9, 80_000, 0)
    m["training"] |= {"tokens": 1_000_000, "tokens_total": 6_000_000, "iters": 100, "batch_size": 8, "seq_len": 512,
                      "runs": [{"tokens": 5_000_000}, {"tokens": 1_000_000, "train_only": "copy_"}]}
    row = card.training_table([m]).splitlines()[-1]
    assert row.startswith("| m-delta | 6.0M in 2 runs (the last: 1.0M, copy_ only) | 100 | 8 × 512 |")
