"""Reading and writing corpus splits: one xz-compressed JSON-lines file per split.

Each record: {"package", "version", "path", "lang" (ts|js|py), "license", "text"}.
"""
from __future__ import annotations

import json
import lzma
from pathlib import Path
from typing import Iterable, Iterator


def read_split(path: str | Path) -> Iterator[dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"corpus split not found: {path} (build it with models/corpus/build.py)")
    with lzma.open(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not a JSON record ({e})") from None


def write_split(path: str | Path, records: Iterable[dict]) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with lzma.open(path, "wt", encoding="utf-8", preset=6) as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
            n += 1
    return n
