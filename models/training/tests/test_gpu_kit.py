"""The GPU training kit's dry run: pack -> run -> import through scripts/gpu-train.sh on a tiny corpus, on the
CPU, in seconds (LINEA_GPU_DRY=1), so the command meant for a lent GPU machine cannot rot between loans."""
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from corpus_io import read_split, write_split
from test_pipeline import records
from tokenizer import train as train_tokenizer

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("gpu-kit")
    corpus = d / "corpus"
    for split, n, seed in (("train", 120, 0), ("val", 20, 1), ("test", 20, 2)):
        write_split(corpus / f"{split}.jsonl.xz", records(n, seed))
    tok = train_tokenizer((r["text"] for r in read_split(corpus / "train.jsonl.xz")), 400)
    tok.save(str(corpus / "tokenizer.json"))
    return d


def kit(tiny, cmd, *args, **env):
    base = {"LINEA_PY": sys.executable, "LINEA_GPU_DRY": "1", "LINEA_GPU_KIT": str(tiny / "kit"),
            "LINEA_GPU_CORPUS": str(tiny / "corpus"), "LINEA_GPU_TOKENIZER": str(tiny / "corpus/tokenizer.json"),
            "LINEA_GPU_LIMIT_MB": "100000", "LINEA_GPU_VARIANTS": "linear", "OUT": str(tiny / "out")}
    return subprocess.run(["bash", str(ROOT / "scripts/gpu-train.sh"), cmd, *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, **base, **env}, timeout=300)


def test_pack_refuses_a_kit_over_the_limit(tiny):
    r = kit(tiny, "pack", LINEA_GPU_LIMIT_MB="0.01")
    assert r.returncode == 1 and "refused" in r.stderr, r.stdout + r.stderr
    assert not (tiny / "kit/kit.json").exists(), "a kit that does not fit is not left to be carried"


def test_dry_run_pack_run_import(tiny):
    r = kit(tiny, "pack")
    assert r.returncode == 0, r.stdout + r.stderr
    info = json.loads((tiny / "kit/kit.json").read_text())
    assert info["splits"]["train"]["tokens"] == info["splits"]["train"]["of_tokens"] > 0  # all of a tiny corpus
    # a token cap ships a prefix of whole files
    r = kit(tiny, "pack", LINEA_GPU_TRAIN_TOKENS="1000", LINEA_GPU_KIT=str(tiny / "kit2"))
    capped = json.loads((tiny / "kit2/kit.json").read_text())["splits"]["train"]
    assert r.returncode == 0 and 0 < capped["tokens"] <= 1000 and capped["files"] < capped["of_files"]

    r = kit(tiny, "run")
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    out = tiny / "out"
    assert sorted(f.name for f in out.iterdir()) == ["gpu-train-logs.tar.xz", "gpu-train.json", "linea-deltanet.tar", "linea-linear.tar"]
    summary = json.loads((out / "gpu-train.json").read_text())
    assert summary["models"]["linear"]["reached_budget"] and summary["models"]["linear"]["tokens"] == 640
    with tarfile.open(out / "gpu-train-logs.tar.xz") as tf:
        assert "logs/deltanet.train.log" in tf.getnames()

    models = tiny / "models"
    r = kit(tiny, "import", out, models)
    assert r.returncode == 0, r.stdout + r.stderr
    for v in ("deltanet", "linear"):
        man = json.loads((models / f"linea-{v}/manifest.json").read_text())
        assert man["variant"] == v and man["languageHeader"] == "<|{}|>"
        assert man["metrics"]["bpb"] > 0 and "line_exact_match" in man["metrics"]
        assert man["training"]["tokens"] == 640
    assert "npm run bench" in r.stdout and "card.py" in r.stdout and "test:engine" in r.stdout
    assert not list(models.glob(".*")), "no staging folder left behind"
