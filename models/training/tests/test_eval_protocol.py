"""evaluate.py's line-completion protocol against test/fixtures/eval-protocol.json, which the TypeScript
`linea eval` reproduces too (test/engine/evalProtocol.test.ts): the same files in the same order, the
same cuts, the same edit similarity."""
import json
from pathlib import Path

import pytest

from evaluate import choose_cuts, edit_similarity, list_dir
from tokenizer import CodeTokenizer

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = json.loads((ROOT / "test" / "fixtures" / "eval-protocol.json").read_text())


def test_file_order_and_cuts_match_the_typescript_protocol(tmp_path):
    tok_path = ROOT / GOLDEN["tokenizer"]
    if not tok_path.is_file():
        pytest.skip(f"{tok_path} is absent")
    for name, text in GOLDEN["files"].items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    files = list_dir(tmp_path)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == GOLDEN["order"]
    texts = [f.read_text() for f in files]
    cuts = choose_cuts([f.relative_to(tmp_path).as_posix() for f in files], texts, CodeTokenizer(tok_path), GOLDEN["n"], GOLDEN["seed"])
    assert [{"file": c["file"], "offset": c["offset"], "target": c["target"]} for c in cuts] == GOLDEN["cuts"]
    for s in GOLDEN["similarity"]:
        assert edit_similarity(s["pred"], s["target"]) == pytest.approx(s["value"], abs=1e-9)
