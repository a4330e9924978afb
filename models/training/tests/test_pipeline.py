"""The data pipeline on small inputs: tokenizer trainer, token streams, trainer (FIM split, checkpoint,
resume), evaluator protocol. Seconds, no network."""
import json
import random

import numpy as np
import pytest
import torch

import data
from corpus_io import read_split, write_split
from evaluate import Evaluator, choose_cuts, copy_rule, edit_similarity, levenshtein, mulberry32
from export import export_model, load_checkpoint
from tokenizer import CodeTokenizer, train as train_tokenizer
from train import TrainConfig, fim_split, parse_args, train

PY = "def add(a, b):\n    return a + b\n\n\nclass Box:\n    def __init__(self, value):\n        self.value = value\n"
TS = "export function add(a: number, b: number): number {\n  return a + b;\n}\n\nconst box = { value: 1 };\n"
JS = "function add(a, b) {\n\treturn a + b;\n}\nmodule.exports = { add };\n"


def records(n: int, seed: int):
    rnd = random.Random(seed)
    for i in range(n):
        lang, text = rnd.choice([("py", PY), ("ts", TS), ("js", JS)])
        yield {"package": f"pkg{i % 5}", "version": "1.0.0", "path": f"f{i}.{lang}", "lang": lang, "license": "MIT",
               "text": text.replace("add", f"add{i}").replace("value", f"value{i % 7}")}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    for split, n, seed in (("train", 120, 0), ("val", 20, 1), ("test", 20, 2)):
        write_split(d / f"{split}.jsonl.xz", records(n, seed))
    tok = train_tokenizer((r["text"] for r in read_split(d / "train.jsonl.xz")), 400)
    tok.save(str(d / "tokenizer.json"))
    return d


def test_tokenizer_round_trip_and_code_pieces(corpus):
    tok = CodeTokenizer(corpus / "tokenizer.json")
    assert tok.vocab_size == 400 and (tok.eos, tok.hole, tok.pad) == (397, 398, 399)
    rnd = random.Random(3)
    alphabet = "abcXYZ_ 019()[]{}:;.,=+-*/'\"\t\n\r→é漢😀"
    for _ in range(200):
        s = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 80)))
        assert tok.decode(tok.encode(s)) == s
    pieces = [p for p, _ in tok.tok.pre_tokenizer.pre_tokenize_str("x\n        return y")]
    assert pieces[1] == "Ċ" + "Ġ" * 8, "a newline and its indentation are one piece"
    assert "<|endoftext|>" not in tok.tok.get_vocab(), "special tokens stay out of the BPE vocabulary"


def test_token_streams_keep_files_apart(corpus):
    folder = data.prepare(corpus, corpus / "tokenizer.json")
    tokens, docs = data.load(folder, "val")
    tok = CodeTokenizer(corpus / "tokenizer.json")
    assert len(docs) == 20
    first = docs[0]
    assert tokens[first["offset"] + first["length"]] == tok.eos
    assert tok.decode(list(tokens[first["offset"] : first["offset"] + first["length"]])) == next(read_split(corpus / "val.jsonl.xz"))["text"]
    assert data.prepare(corpus, corpus / "tokenizer.json") == folder  # cached


def test_language_headers_start_every_file(corpus):
    from tokenizer import LANGUAGE_HEADER

    folder = data.prepare(corpus, corpus / "tokenizer.json")
    tokens, docs = data.load(folder, "val")
    tok = CodeTokenizer(corpus / "tokenizer.json")
    stream = data.with_headers(tokens, docs, tok, LANGUAGE_HEADER)
    texts = [r["text"] for r in read_split(corpus / "val.jsonl.xz")]
    # each file reads <|lang|> then its own tokens then <eos>; the plain stream is what is left without them
    pos = 0
    for d, text in zip(docs, texts):
        head = tok.header_ids(LANGUAGE_HEADER, d["lang"])
        assert list(stream[pos : pos + len(head)]) == head and tok.decode(head) == f"<|{d['lang']}|>"
        pos += len(head)
        assert tok.decode(list(stream[pos : pos + d["length"]])) == text and stream[pos + d["length"]] == tok.eos
        pos += d["length"] + 1
    assert pos == len(stream)
    assert tok.header_ids(None, "py") == []


def test_header_languages_are_the_corpus_languages():
    import sys
    from pathlib import Path

    from tokenizer import LANG_BY_EXT, lang_of_path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "corpus"))
    from filters import LANG_BY_EXT as CORPUS_LANG_BY_EXT

    assert LANG_BY_EXT == CORPUS_LANG_BY_EXT
    assert [lang_of_path(p) for p in ("a/b.tsx", "x.PY", "m.mjs", "README.md")] == ["ts", "py", "js", "txt"]


def test_fim_split_hides_scored_tokens_from_the_encoder():
    x = torch.arange(1000, 1000 + 65).repeat(3, 1)  # (B, T+1), every token distinct
    tc = TrainConfig(middle_min=0.2, middle_max=0.4)
    for seed in range(20):
        ctx, scored = fim_split(x, tc, hole=7, rng=np.random.default_rng(seed))
        targets = x[0, 1:][scored]  # the tokens predicted with the memory
        assert len(targets) > 0 and (ctx[0] == 7).sum() == 1
        assert not set(targets.tolist()) & set(ctx[0].tolist()), "the encoder saw a token it is scored on"
        assert ctx.shape[1] == x.shape[1] - len(targets) + 1


def test_trainer_runs_checkpoints_and_resumes(corpus, tmp_path, capsys):
    args = [f"--out={tmp_path / 'run'}", f"--corpus={corpus}", f"--tokenizer={corpus / 'tokenizer.json'}",
            "--variant=decay", "--n_layer=1", "--d_model=32", "--n_head=2", "--enc_layers=1", "--mem_slots=4",
            "--seq_len=32", "--batch_size=2", "--max_tokens=640", "--eval_interval=5", "--eval_batches=1",
            "--warmup_iters=2", "--threads=1"]
    mc, tc, out = parse_args(args)
    ckpt = train(mc, tc, out, log=lambda *_: None)
    state = torch.load(ckpt)
    assert state["iter"] == 10 and state["tokens"] == 640 and state["train_info"]["final"]
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert any("val_bpb" in r and np.isfinite(r["val_bpb"]) for r in log)
    assert all(np.isfinite(r["loss"]) for r in log if "loss" in r)
    mc2, tc2, _ = parse_args(args[:-4] + ["--max_tokens=1280", "--eval_interval=5", "--eval_batches=1", "--warmup_iters=2", "--threads=1"])
    ckpt = train(mc2, tc2, out, log=lambda *_: None)
    assert torch.load(ckpt)["iter"] == 20, "the second run resumed from step 10"
    model, _ = load_checkpoint(ckpt)
    assert model.cfg.variant == "decay"


def test_training_continues_from_a_shipped_folder_with_wsd(corpus, tmp_path):
    from export import export_model, load_checkpoint as load
    from train import lr_at

    args = [f"--corpus={corpus}", f"--tokenizer={corpus / 'tokenizer.json'}", "--variant=deltanet", "--n_layer=1",
            "--d_model=32", "--n_head=2", "--enc_layers=1", "--mem_slots=4", "--seq_len=32", "--batch_size=2",
            "--eval_interval=5", "--eval_batches=1", "--warmup_iters=2", "--threads=1"]
    mc, tc, out = parse_args(args + [f"--out={tmp_path / 'a'}", "--max_tokens=640"])
    model, ckpt = load(train(mc, tc, out, log=lambda *_: None))
    folder = tmp_path / "shipped"
    export_model(model, folder, "m", corpus / "tokenizer.json", ckpt["special"], {"training": ckpt["train_info"]}, fp16_weights=True)
    mc2, tc2, out2 = parse_args(args + [f"--out={tmp_path / 'b'}", "--max_tokens=320", f"--init_from={folder}", "--schedule=wsd", "--lang_header=true"])
    state = torch.load(train(mc2, tc2, out2, log=lambda *_: None))
    info = state["train_info"]
    assert info["language_header"] == "<|{}|>", "export copies it into the manifest, so inference sends the header too"
    assert info["tokens"] == 320 and info["tokens_total"] == 960
    assert [r["tokens"] for r in info["runs"]] == [640, 320] and info["runs"][1]["schedule"] == "wsd"
    # wsd: flat after the warm-up, then a linear decay over the last decay_frac of the steps to min_lr
    lrs = [lr_at(i, 100, tc2) for i in range(100)]
    assert lrs[2] == tc2.lr and lrs[80] == pytest.approx(tc2.lr) and lrs[81] < tc2.lr and abs(lrs[99] - (tc2.min_lr + (tc2.lr - tc2.min_lr) / 20)) < 1e-12
    # a wall-clock cap decays on time: at 90% of max_minutes the lr is halfway down whatever the step
    assert lr_at(10, 100, tc2, 0.79) == tc2.lr and abs(lr_at(10, 100, tc2, 0.9) - (tc2.min_lr + tc2.lr) / 2) < 1e-12
    assert lr_at(10, 100, tc2, 1.0) == tc2.min_lr
    with pytest.raises(ValueError, match="another model config"):
        mc3, tc3, out3 = parse_args(args + [f"--out={tmp_path / 'c'}", "--d_model=64", f"--init_from={folder}"])
        train(mc3, tc3, out3, log=lambda *_: None)


def test_unknown_training_keys_are_refused():
    with pytest.raises(ValueError, match="unknown key --lrate"):
        parse_args(["--out=x", "--lrate=1"])
    with pytest.raises(ValueError, match="batch_size should be int"):
        parse_args(["--out=x", "--batch_size=big"])


def test_evaluator_protocol_matches_the_typescript_one(corpus, tmp_path):
    # mulberry32: the same numbers as seededRandom() in src/engine/core/sampling.ts
    r = mulberry32(0)
    assert [r(), r(), r()] == [0.26642920868471265, 0.0003297457005828619, 0.2232720274478197]
    assert levenshtein("kitten", "sitting") == 3
    assert edit_similarity(" return x ", "return x") == 100.0 and edit_similarity("", "abc") == 0.0
    tok = CodeTokenizer(corpus / "tokenizer.json")
    texts = [r["text"] for r in read_split(corpus / "test.jsonl.xz")]
    names = [f"f{i}" for i in range(len(texts))]
    cuts = choose_cuts(names, texts, tok, 10, seed=1)
    assert cuts == choose_cuts(names, texts, tok, 10, seed=1) and len(cuts) == 10
    for c in cuts:
        text = texts[c["index"]]
        line_end = text.find("\n", c["offset"])
        assert c["target"] == text[c["offset"] : line_end if line_end >= 0 else None] and c["target"].strip()


def test_copy_rule_matches_the_typescript_one():
    # the cases of test/engine/recall.test.ts's copy rule test
    assert copy_rule("x = foo(a, b)\ny = 2\nz = foo(") == "a, b)"
    assert copy_rule("abc\nxyz") == ""
    assert copy_rule("ab\nq ab x\nab") == " x"
    assert copy_rule("") == ""


def test_evaluator_on_an_exported_model(corpus, tmp_path):
    from tiny import tiny_model

    tok = CodeTokenizer(corpus / "tokenizer.json")
    model = tiny_model("linear", vocab_size=tok.vocab_size)
    export_model(model, tmp_path / "m", "m", corpus / "tokenizer.json", tok.special)
    ev = Evaluator(tmp_path / "m", threads=1)
    recs = list(read_split(corpus / "test.jsonl.xz"))[:4]
    res = ev.bpb(recs, 2000)
    assert res["bpb"] > 0 and set(res["bpb_by_language"]) <= {"py", "ts", "js"}
    # recall: a file that repeats itself loses bits to the mixture; alone is bpb's own figure
    twice = [dict(r, text=r["text"] * 3) for r in recs[:2]]
    rec = ev.bpb_recall(twice, 96)
    assert rec["recall_bpb_with"] < 0.8 * rec["recall_bpb_alone"]
    assert rec["recall_bpb_alone"] == pytest.approx(ev.bpb([dict(r, text=tok.decode(tok.encode(r["text"])[:96])) for r in twice], 96)["bpb"], abs=2e-3)
    names, texts = [r["path"] for r in recs], [r["text"] for r in recs]
    assert set(ev.lines(names, texts, 4, 0, recall=True)) == {"recall_line_exact_match", "recall_line_edit_similarity"}
    assert ev.copy_lines(names, texts, 4, 0)["copy_line_exact_match"] >= 0
    # a line written before is copied (the random model alone would not), never the cursor's own next token
    text = "def f(a, b):\n    total = add(a, b) * 2\n    return total\n\n\ndef f(a, b):\n    total = add(a, b) * 2\n"
    cut = text.rindex(" add(")  # a pre-token boundary, as the protocol cuts
    assert ev.complete_line(text, cut, "py", recall=True)[0] == " add(a, b) * 2"
    # bits per byte from the all-positions graph equals the step-by-step next-token loss
    ids = tok.encode(recs[0]["text"])[:20]
    nats = ev.token_nats(ids)
    state, stream = ev.m.init_state(), [tok.eos] + ids
    for i in range(len(ids)):
        logits, state = ev.m.step([stream[i]], state, ev.null)
        lse = np.log(np.exp(logits - logits.max()).sum()) + logits.max()
        assert abs((lse - logits[stream[i + 1]]) - nats[i]) < 1e-3
    # a model trained with a language header reads <eos> <|ts|> first; only the file's tokens are scored
    from tokenizer import LANGUAGE_HEADER

    export_model(model, tmp_path / "h", "h", corpus / "tokenizer.json", tok.special, {"languageHeader": LANGUAGE_HEADER})
    evh = Evaluator(tmp_path / "h", threads=1)
    head = tok.header_ids(LANGUAGE_HEADER, "ts")
    nats = evh.token_nats(ids, lang="ts")
    state, stream = evh.m.init_state(), [tok.eos] + head + ids
    assert len(nats) == len(ids) and len(head) > 0
    for j in range(len(stream) - 1):
        logits, state = evh.m.step([stream[j]], state, evh.null)
        if j >= len(head):  # logits after the whole lead predict the file's first token
            lse = np.log(np.exp(logits - logits.max()).sum()) + logits.max()
            assert abs((lse - logits[stream[j + 1]]) - nats[j - len(head)]) < 1e-3
