"""Token streams for training and evaluation, cached next to the corpus (never in the repo).

A split becomes one uint16 array of tokens with <eos> between files, plus per-file metadata (offset,
length, language) so evaluation can report per language and per position in a file.

    python data.py --corpus ~/.cache/linea/corpus --tokenizer models/linea-linear/tokenizer.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from corpus_io import read_split
from tokenizer import CodeTokenizer

SPLITS = ("train", "val", "test")


def cache_dir(corpus: Path, tokenizer_path: Path) -> Path:
    digest = hashlib.sha256(Path(tokenizer_path).read_bytes()).hexdigest()[:12]
    return Path(corpus) / f"tokens-{digest}"


def prepare(corpus: Path, tokenizer_path: Path, splits=SPLITS, batch: int = 256) -> Path:
    """Tokenizes each split once; later calls return the cached folder."""
    tok = CodeTokenizer(tokenizer_path)
    out = cache_dir(corpus, tokenizer_path)
    out.mkdir(parents=True, exist_ok=True)
    for split in splits:
        if (out / f"{split}.meta.json").is_file():
            continue
        docs, pieces, offset, texts, recs = [], [], 0, [], []

        def flush():
            nonlocal offset
            for rec, ids in zip(recs, tok.encode_batch(texts)):
                arr = np.asarray(ids + [tok.eos], dtype=np.uint16)
                pieces.append(arr)
                docs.append({"offset": offset, "length": len(ids), "lang": rec["lang"], "bytes": len(rec["text"].encode("utf-8", "replace")),
                             "package": rec["package"], "path": rec["path"]})
                offset += len(arr)
            texts.clear()
            recs.clear()

        for rec in read_split(Path(corpus) / f"{split}.jsonl.xz"):
            texts.append(rec["text"])
            recs.append(rec)
            if len(texts) >= batch:
                flush()
        flush()
        tokens = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint16)
        np.save(out / f"{split}.npy", tokens)
        (out / f"{split}.meta.json").write_text(json.dumps({"docs": docs, "tokens": int(len(tokens))}))
        print(f"data: {split}: {len(docs):,} files, {len(tokens):,} tokens -> {out}")
    return out


def load(folder: Path, split: str) -> tuple[np.ndarray, list[dict]]:
    tokens = np.load(Path(folder) / f"{split}.npy", mmap_mode="r")
    meta = json.loads((Path(folder) / f"{split}.meta.json").read_text())
    return tokens, meta["docs"]


def with_headers(tokens: np.ndarray, docs: list[dict], tok: CodeTokenizer, header_format: str) -> np.ndarray:
    """The stream with each file's language header in front of it: [h1 doc1 eos h2 doc2 eos ...]."""
    at, values = [], []
    for d in docs:
        ids = tok.header_ids(header_format, d["lang"])
        at += [d["offset"]] * len(ids)
        values += ids
    return np.insert(np.asarray(tokens), np.asarray(at, dtype=np.int64), np.asarray(values, dtype=tokens.dtype))


def token_bytes_table(tok: CodeTokenizer) -> np.ndarray:
    """Bytes each token id stands for (0 for the special tokens): the denominator of bits per byte."""
    return np.asarray([len(tok.token_bytes(i)) for i in range(tok.vocab_size)], dtype=np.int64)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=Path.home() / ".cache/linea/corpus")
    ap.add_argument("--tokenizer", type=Path, required=True)
    args = ap.parse_args(argv)
    try:
        prepare(args.corpus, args.tokenizer)
    except (FileNotFoundError, ValueError) as e:
        print(f"data: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
