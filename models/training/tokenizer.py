"""Byte-level BPE for code (Hugging Face `tokenizers`), saved as tokenizer.json for the TypeScript engine.

Pre-tokenization keeps what code repeats: a newline with the indentation after it is one piece (so BPE
learns "\\n    " and "\\n\\t\\t" as single tokens), identifiers take one leading space, punctuation runs
stay together ("=>", "();", "===") and numbers are separate. Only ASCII whitespace classes are used
because Rust's onig and JavaScript disagree about \\s on a few Unicode spaces.

The special tokens are not in the BPE vocabulary (so a file that contains "<|endoftext|>" is still
plain text): ids bpe_size, bpe_size+1, bpe_size+2 are eos, hole, pad.

    python tokenizer.py train --input train.jsonl.xz --vocab 8192 --out tokenizer.json
    python tokenizer.py encode --tokenizer tokenizer.json "def f(x):"
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Iterable, Iterator

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

PRETOKENIZE = (
    r"\r?\n[ \t]*"  # newline + indentation
    r"|[ ]?[\p{L}_$][\p{L}\p{N}_$]*"  # identifier / word, with one leading space
    r"|[ ]?\p{N}+"  # number
    r"|[ ]?[^ \t\r\n\f\v\p{L}\p{N}_$]+"  # punctuation run (and any other symbol)
    r"|[ \t\f\v]+(?![^ \t\f\v\r\n])"  # whitespace not followed by a word: all of it
    r"|[ \t\f\v]+"  # whitespace before a word: all but the space the word takes
    r"|\r"
)
N_SPECIAL = 3
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean(text: str) -> str:
    """Lone UTF-16 surrogates become U+FFFD, as TextEncoder does on the TypeScript side."""
    return _SURROGATE.sub("\ufffd", text)


def new_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    return tok


def train(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """vocab_size counts the special tokens too: the BPE gets vocab_size - 3 entries (256 of them bytes)."""
    if not 256 + N_SPECIAL < vocab_size <= 65536:
        raise ValueError(f"vocab size {vocab_size} must be in 260..65536")
    tok = new_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - N_SPECIAL,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator((clean(t) for t in texts), trainer=trainer)
    return tok


class CodeTokenizer:
    """The tokenizer the trainer, evaluator and fixtures use: encode/decode plus the special ids."""

    def __init__(self, path: str | Path):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"tokenizer not found: {path}")
        self.tok = Tokenizer.from_file(str(path))
        self.bpe_size = self.tok.get_vocab_size()
        self.eos, self.hole, self.pad = self.bpe_size, self.bpe_size + 1, self.bpe_size + 2
        self.vocab_size = self.bpe_size + N_SPECIAL

    @property
    def special(self) -> dict:
        return {"eos": self.eos, "hole": self.hole, "pad": self.pad}

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(clean(text), add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch([clean(t) for t in texts], add_special_tokens=False)]

    def header_ids(self, header_format: str | None, lang: str) -> list[int]:
        """The language header a stream starts with after <eos> (none when the model was trained without one)."""
        return self.encode(header_format.format(lang)) if header_format else []

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode([i for i in ids if i < self.bpe_size], skip_special_tokens=False)

    def token_bytes(self, i: int) -> bytes:
        """The exact bytes of one token (a token can be part of a UTF-8 sequence)."""
        if i >= self.bpe_size:
            return b""
        table = {c: b for b, c in _byte_table().items()}
        return bytes(table[c] for c in self.tok.id_to_token(i))


# The header that names a file's language at the start of its token stream: training puts it after each
# <eos>, inference after the one leading <eos>. Language names are the corpus's (py, js, ts); the engine
# maps VS Code language ids and file extensions onto them (src/engine/core/languageHeader.ts).
LANGUAGE_HEADER = "<|{}|>"
LANG_BY_EXT = {".ts": "ts", ".tsx": "ts", ".mts": "ts", ".cts": "ts", ".js": "js", ".jsx": "js", ".mjs": "js", ".cjs": "js", ".py": "py"}


def lang_of_path(path: str) -> str:
    """The header language of a file name (the corpus's lang_of; a test keeps the two tables equal)."""
    p = path.lower()
    return next((lang for ext, lang in LANG_BY_EXT.items() if p.endswith(ext)), "txt")


def _byte_table() -> dict[int, str]:
    """GPT-2's bytes_to_unicode: the printable stand-in for each byte in byte-level BPE."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _read_texts(path: Path) -> Iterator[str]:
    from corpus_io import read_split  # local import: only the CLI needs the corpus reader

    for record in read_split(path):
        yield record["text"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train a tokenizer on a corpus split")
    t.add_argument("--input", required=True, type=Path)
    t.add_argument("--vocab", type=int, default=8192)
    t.add_argument("--out", required=True, type=Path)
    e = sub.add_parser("encode", help="print the ids of a string")
    e.add_argument("--tokenizer", required=True, type=Path)
    e.add_argument("text")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "train":
            tok = train(_read_texts(args.input), args.vocab)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            tok.save(str(args.out))
            print(f"wrote {args.out}: {tok.get_vocab_size()} BPE tokens + {N_SPECIAL} special")
        else:
            print(CodeTokenizer(args.tokenizer).encode(args.text))
    except (FileNotFoundError, ValueError) as err:
        print(f"tokenizer: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
