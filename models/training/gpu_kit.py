"""The one-command GPU training kit behind scripts/gpu-train.sh (issue 13).

    pack    (here)  a prefix of the cached token streams that fits, the tokenizer and the test split -> .gpu-train/
    run     (there) deltanet (configs/gpu-default.json, language header) for a wall-clock budget, and
                    linear, softmax, luna, sparse (configs/gpu-compare.json) at one token budget, all at once on
                    the one GPU; then fp16 exports, a short evaluation, one .tar per model folder into $OUT
    import  (here)  the .tar files into models/ (sha256 of every file checked), then what to run next

The lent machine takes a 64 MiB working tree, runs one command for at most 10 minutes and hands back at most
8 files of at most 16 MiB, so every step checks its size or its clock. Settings come from LINEA_GPU_*
variables (Plan.from_env); LINEA_GPU_DRY=1 shrinks shapes, tokens and clocks so the same code runs in seconds
on a CPU (tests/test_gpu_kit.py), which keeps the kit from rotting between GPU loans.
"""
from __future__ import annotations

import dataclasses
import json
import lzma
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from export import sha256

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MiB = 1 << 20
CHUNK = 1_000_000  # tokens compressed at a time; pack stops at a file boundary after the chunk that fills the budget
LZMA_LAG = 3 * MiB // 2  # the compressor holds back up to ~1 MiB of output (measured), so stop this much early
COMPARE = ["linear", "softmax", "luna", "sparse"]
# 128 x 512 tokens a step: a ~7M-parameter model is launch-bound on an H200 at small batches, and five
# processes share the GPU. WSD decays on the clock, so the run stopped by max_minutes still ends decayed.
GPU_TRAIN = ["--schedule=wsd", "--seq_len=512", "--batch_size=128", "--lr=0.002", "--min_lr=0.0002",
             "--warmup_iters=200", "--eval_interval=250", "--eval_batches=16", "--lang_header=true", "--threads=2"]
# A subset of evaluate.py's protocol: its defaults take minutes per model, and this one took 265 s for a
# random 7.2M deltanet at 40 files / 8192 tokens on one core of the 2-core development machine. Five of these
# share 16 cores in the ~2 minutes left after training; the full protocol runs here after import (README).
GPU_EVAL = ["--files=32", "--long-files=0", "--max-tokens=4096", "--cuts=40", "--recall-files=4", "--threads=3"]
# The dry run: tests/test_pipeline.py's shapes, a CPU, seconds.
DRY_MODEL = ["--n_layer=1", "--d_model=32", "--n_head=2", "--chunk_size=16", "--luna_slots=4", "--sparse_block=16",
             "--sparse_summary=4", "--window=12", "--enc_layers=1", "--enc_block=8", "--enc_summary=2", "--mem_slots=4",
             "--max_encoder_tokens=128"]
DRY_TRAIN = ["--schedule=wsd", "--seq_len=32", "--batch_size=2", "--warmup_iters=2", "--eval_interval=5",
             "--eval_batches=1", "--lang_header=true", "--threads=1", "--device=cpu"]
DRY_EVAL = ["--files=3", "--long-files=0", "--max-tokens=256", "--cuts=3", "--recall-files=1", "--threads=1"]


@dataclass
class Plan:
    kit: Path = Path(".gpu-train")  # what pack writes and the machine call carries
    corpus: Path = Path("~/.cache/linea/corpus").expanduser()
    tokenizer: Path = Path("models/linea-deltanet/tokenizer.json")
    train_mb: float = 40.0  # compressed training tokens to ship (~0.54 bytes/token: ~75M tokens)
    train_tokens: int = 0  # or at most this many (0: the budget decides)
    val_tokens: int = 1_000_000  # train.py only draws eval_batches random windows from it
    limit_mb: float = 64.0  # the working tree the machine takes, kit included
    result_mb: float = 16.0  # each file that comes back
    max_results: int = 8  # files that come back
    default_config: Path = HERE / "configs/gpu-default.json"
    compare_config: Path = HERE / "configs/gpu-compare.json"
    compare: list[str] = field(default_factory=lambda: list(COMPARE))
    minutes: float = 6.5  # training clock of every run (train.py --max_minutes)
    default_tokens: int = 2_000_000_000  # an upper bound only: the clock stops deltanet
    compare_tokens: int = 100_000_000  # the comparisons' equal budget (the clock is only a safety net)
    train_args: list[str] = field(default_factory=lambda: list(GPU_TRAIN))
    model_args: list[str] = field(default_factory=list)  # model keys over both configs (the dry run's tiny shape)
    eval_args: list[str] = field(default_factory=lambda: list(GPU_EVAL))
    deadline_s: float = 570.0  # the whole run, under the machine's 600 s per command
    work: Path | None = None  # unpacked data, checkpoints, exports (default: KIT/work)
    out: Path | None = None  # results (default: $OUT, else KIT/results)

    @classmethod
    def from_env(cls, env=os.environ) -> Plan:
        p = cls()
        if env.get("LINEA_GPU_DRY") == "1":
            p = dataclasses.replace(p, train_mb=1.0, val_tokens=100_000, minutes=1.0, default_tokens=640,
                                    compare_tokens=640, train_args=list(DRY_TRAIN), model_args=list(DRY_MODEL),
                                    eval_args=list(DRY_EVAL), deadline_s=600.0)
        kinds = {"kit": Path, "corpus": Path, "tokenizer": Path, "train_mb": float, "train_tokens": int, "val_tokens": int,
                 "limit_mb": float, "result_mb": float, "default_config": Path, "compare_config": Path, "minutes": float,
                 "default_tokens": int, "compare_tokens": int, "deadline_s": float, "work": Path, "out": Path}
        names = {"default_config": "CONFIG", "deadline_s": "DEADLINE", "default_tokens": "TOKENS"}
        for key, kind in kinds.items():
            raw = env.get("LINEA_GPU_" + names.get(key, key.upper()))
            if raw:
                setattr(p, key, Path(raw).expanduser() if kind is Path else kind(raw))
        if env.get("LINEA_GPU_VARIANTS") is not None:
            p.compare = env["LINEA_GPU_VARIANTS"].split()
        p.train_args += shlex.split(env.get("LINEA_GPU_TRAIN_ARGS", ""))  # later keys win in train.py
        if env.get("LINEA_GPU_EVAL_ARGS"):
            p.eval_args = shlex.split(env["LINEA_GPU_EVAL_ARGS"])
        p.work = p.work or p.kit / "work"
        p.out = p.out or Path(env.get("OUT") or p.kit / "results")
        return p


def folder_bytes(d: Path) -> int:
    return sum(f.stat().st_size for f in d.rglob("*") if f.is_file())


def tree_bytes(root: Path = ROOT) -> tuple[int, int]:
    """Bytes of the working tree the machine copies (tracked + untracked, not ignored), and of models/linea-*."""
    try:
        names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                               capture_output=True, check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        print("gpu-train: not a git checkout; counting the kit alone", file=sys.stderr)
        return 0, 0
    total = models = 0
    for n in filter(None, names):
        f = root / n
        if f.is_file():  # tracked files deleted from the tree do not travel
            total += f.stat().st_size
            models += f.stat().st_size if n.startswith("models/linea-") else 0
    return total, models


# ---- pack (here) ----------------------------------------------------------------------------------------
def pack_split(folder: Path, split: str, kit: Path, max_tokens: int, max_bytes: float) -> dict:
    """A prefix of the split's token stream, whole files only, xz-compressed, with its metadata."""
    import data

    tokens, docs = data.load(folder, split)
    ends = np.asarray([d["offset"] + d["length"] + 1 for d in docs], dtype=np.int64)  # each file ends with <eos>
    cap = max_tokens or len(tokens)
    comp, n, written = lzma.LZMACompressor(preset=6), 0, 0
    with open(kit / f"{split}.tokens.xz", "wb") as f:
        while n < len(docs) and not (n and max_bytes and written >= max_bytes - LZMA_LAG):
            start = int(ends[n - 1]) if n else 0
            k = max(n + 1, int(np.searchsorted(ends, min(start + CHUNK, cap), side="right")))
            if ends[k - 1] > cap:
                break
            written += f.write(comp.compress(np.ascontiguousarray(tokens[start : ends[k - 1]]).tobytes()))
            n = k
        f.write(comp.flush())
    if not n:
        raise ValueError(f"{split}: no whole file fits in {cap} tokens")
    meta = {"docs": docs[:n], "tokens": int(ends[n - 1])}
    (kit / f"{split}.meta.json.xz").write_bytes(lzma.compress(json.dumps(meta).encode()))
    return {"tokens": meta["tokens"], "files": n, "of_tokens": int(len(tokens)), "of_files": len(docs), "dtype": str(tokens.dtype)}


def pack(p: Plan) -> int:
    import data

    folder = data.prepare(p.corpus, p.tokenizer, splits=("train", "val"))  # cached: returns at once
    test = p.corpus / "test.jsonl.xz"
    if not test.is_file():
        raise FileNotFoundError(f"{test} not found: evaluate.py needs the test split")
    for old in ("work", "results"):  # leftovers of a local dry run would travel with the kit
        shutil.rmtree(p.kit / old, ignore_errors=True)
    p.kit.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(p.tokenizer, p.kit / "tokenizer.json")
    shutil.copyfile(test, p.kit / "test.jsonl.xz")
    splits = {"train": pack_split(folder, "train", p.kit, p.train_tokens, p.train_mb * MiB),
              "val": pack_split(folder, "val", p.kit, p.val_tokens, 0)}
    (p.kit / "kit.json").write_text(json.dumps({"format": 1, "cache": folder.name, "splits": splits,
                                                "tokenizer_sha256": sha256(p.kit / "tokenizer.json")}, indent=2) + "\n")
    kit, (tree, models) = folder_bytes(p.kit), tree_bytes()
    tr = splits["train"]
    print(f"gpu-train: {p.kit}/ {kit / MiB:.1f} MiB: {tr['tokens']:,} of {tr['of_tokens']:,} training tokens "
          f"({tr['files']:,} files), {splits['val']['tokens']:,} validation tokens, the test split, the tokenizer")
    print(f"gpu-train: + working tree {tree / MiB:.1f} MiB (models/linea-* {models / MiB:.1f} MiB) "
          f"= {(kit + tree) / MiB:.1f} MiB of the {p.limit_mb:g} MiB the machine takes")
    limit = p.limit_mb * MiB
    if kit + tree <= limit:
        return 0
    if kit + tree - models <= limit:
        print(f"gpu-train: fits without the shipped models ({(kit + tree - models) / MiB:.1f} MiB; run does not need "
              "them): move them out for the call\n  mkdir -p ../linea-aside && mv models/linea-* ../linea-aside/\n"
              "after it, import puts the trained ones into models/ (the old ones stay in ../linea-aside)")
        return 0
    for f in ("kit.json", "train.tokens.xz", "train.meta.json.xz"):  # so a kit that does not fit is never carried
        (p.kit / f).unlink(missing_ok=True)
    print(f"gpu-train: refused: {(kit + tree - models) / MiB:.1f} MiB even without models/linea-* is over "
          f"{p.limit_mb:g} MiB; lower LINEA_GPU_TRAIN_MB (now {p.train_mb:g})", file=sys.stderr)
    return 1


# ---- run (there) ----------------------------------------------------------------------------------------
def unpack(p: Plan) -> tuple[Path, Path]:
    """KIT -> WORK/corpus/tokens-<sha>/{train,val}.{npy,meta.json} (train.py's cache) + test.jsonl.xz."""
    info = json.loads((p.kit / "kit.json").read_text())
    tok = p.work / "tokenizer.json"
    shutil.copyfile(p.kit / "tokenizer.json", tok)
    corpus = p.work / "corpus"
    cache = corpus / info["cache"]
    cache.mkdir(parents=True)
    shutil.copyfile(p.kit / "test.jsonl.xz", corpus / "test.jsonl.xz")
    for split, s in info["splits"].items():
        tokens = np.frombuffer(lzma.decompress((p.kit / f"{split}.tokens.xz").read_bytes()), dtype=s["dtype"])
        if len(tokens) != s["tokens"]:
            raise ValueError(f"{split}: {len(tokens)} tokens unpacked, the kit says {s['tokens']}")
        np.save(cache / f"{split}.npy", tokens)
        (cache / f"{split}.meta.json").write_bytes(lzma.decompress((p.kit / f"{split}.meta.json.xz").read_bytes()))
    import data

    if data.cache_dir(corpus, tok) != cache:  # else train.py would look for the raw corpus, which is not here
        raise ValueError(f"the kit's tokenizer does not hash to {info['cache']}")
    return corpus, tok


def start(cmd: list, log: Path, threads: int = 0) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1") | ({"OMP_NUM_THREADS": str(threads)} if threads else {})
    with open(log, "w") as f:
        return subprocess.Popen([str(c) for c in cmd], stdout=f, stderr=subprocess.STDOUT, env=env)


def wait_all(procs: dict, until: float) -> dict:
    """Return codes; whatever runs past `until` is stopped (a training run keeps its last checkpoint)."""
    while any(q.poll() is None for q in procs.values()) and time.time() < until:
        time.sleep(0.2)
    for q in procs.values():
        if q.poll() is None:
            q.terminate()
    for q in procs.values():
        try:
            q.wait(15)
        except subprocess.TimeoutExpired:
            q.kill()
            q.wait()
    return {v: q.returncode for v, q in procs.items()}


def run(p: Plan) -> int:
    t0 = time.time()
    if not (p.kit / "kit.json").is_file():
        raise FileNotFoundError(f"{p.kit}/kit.json not found: run `bash scripts/gpu-train.sh pack` first and carry {p.kit}")
    for d in ("corpus", "runs", "models", "logs"):  # a rerun must not resume an old checkpoint
        shutil.rmtree(p.work / d, ignore_errors=True)
    p.work.mkdir(parents=True, exist_ok=True)
    p.out.mkdir(parents=True, exist_ok=True)
    corpus, tok = unpack(p)
    logs = p.work / "logs"
    logs.mkdir()
    py, phases = sys.executable, {"unpack": round(time.time() - t0, 1)}
    plan = {"deltanet": (p.default_config, p.default_tokens)} | {v: (p.compare_config, p.compare_tokens) for v in p.compare}
    # every run at once: one GPU, 16 cores; each runs until its tokens or the clock run out
    procs = {v: start([py, HERE / "train.py", f"--model={cfg}", f"--variant={v}", f"--out={p.work / 'runs' / v}",
                       f"--corpus={corpus}", f"--tokenizer={tok}", f"--max_tokens={tokens}", f"--max_minutes={p.minutes}",
                       *p.train_args, *p.model_args], logs / f"{v}.train.log")
             for v, (cfg, tokens) in plan.items()}
    # + start-up and the final save, but never into the time export and evaluation need
    codes = {"train": wait_all(procs, min(t0 + p.minutes * 60 + 120, t0 + p.deadline_s - 60))}
    phases["train"] = round(time.time() - t0, 1)
    print(f"gpu-train: training over at {phases['train']} s, exit codes {codes['train']}", flush=True)
    threads = max(1, (os.cpu_count() or 1) // len(plan))
    ckpts = {v: p.work / "runs" / v / "ckpt.pt" for v in plan if (p.work / "runs" / v / "ckpt.pt").is_file()}
    folders = {v: p.work / "models" / f"linea-{v}" for v in ckpts}
    codes["export"] = wait_all({v: start([py, HERE / "export.py", "--checkpoint", ckpts[v], "--tokenizer", tok, "--out", folders[v]],
                                         logs / f"{v}.export.log", threads) for v in ckpts},
                                min(time.time() + 180, t0 + p.deadline_s - 40))
    phases["export"] = round(time.time() - t0, 1)
    done = {v: f for v, f in folders.items() if codes["export"][v] == 0}
    codes["evaluate"] = wait_all({v: start([py, HERE / "evaluate.py", "--model", f, "--corpus", corpus, "--update-manifest",
                                            *p.eval_args], logs / f"{v}.evaluate.log", threads) for v, f in done.items()},
                                 t0 + p.deadline_s - 20)  # 20 s for the tar files
    phases["evaluate"] = round(time.time() - t0, 1)
    summary = {"gpu": gpu_name(), "phases_s": phases, "plan": {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(p).items()},
               "kit": json.loads((p.kit / "kit.json").read_text())["splits"], "models": {}}
    for v in plan:
        row = {"planned_tokens": plan[v][1], "config": plan[v][0].name} | {k: c.get(v) for k, c in codes.items()}
        try:  # an evaluation stopped by the deadline while writing could leave a torn manifest
            man = json.loads((done[v] / "manifest.json").read_text()) if v in done else None
        except json.JSONDecodeError:
            man, row["error"] = None, "manifest.json unreadable"
        if man:
            tr = man.get("training", {})
            row |= {"parameters": man["parameters"], "tokens": tr.get("tokens"), "seconds": round(tr.get("seconds", 0), 1),
                    "tok_per_s": round(tr["tokens"] / max(tr["seconds"], 1e-9)) if tr.get("tokens") else None,
                    "reached_budget": tr.get("tokens", 0) >= plan[v][1], "metrics": man.get("metrics", {})}
            tar = p.out / f"linea-{v}.tar"
            with tarfile.open(tar, "w") as tf:
                tf.add(done[v], arcname=done[v].name)
            row["tar_bytes"] = tar.stat().st_size
            if tar.stat().st_size > p.result_mb * MiB:
                row["error"] = f"{tar.name} is over {p.result_mb:g} MiB and would not come back"
                tar.unlink()
        summary["models"][v] = row
    with tarfile.open(p.out / "gpu-train-logs.tar.xz", "w:xz") as tf:
        tf.add(logs, arcname="logs")
        for v in plan:
            if (p.work / "runs" / v / "log.jsonl").is_file():
                tf.add(p.work / "runs" / v / "log.jsonl", arcname=f"logs/{v}.log.jsonl")
    for phase, rcs in codes.items():  # what went wrong, in the command's output as well as in the logs
        for v, rc in rcs.items():
            if rc != 0:
                tail = (logs / f"{v}.{phase}.log").read_text(errors="replace").splitlines()[-15:]
                print(f"gpu-train: {v} {phase} exited {rc}:", *tail, sep="\n  ")
    summary["seconds"] = round(time.time() - t0, 1)
    (p.out / "gpu-train.json").write_text(json.dumps(summary, indent=2) + "\n")
    results = sorted(f.name for f in p.out.iterdir())
    for v, row in summary["models"].items():
        m = row.get("metrics", {})
        print(f"gpu-train: {v}: " + (f"{row['parameters']:,} parameters, {row['tokens']:,} tokens, {row['tok_per_s']:,} tok/s, "
                                     f"bpb {m.get('bpb')}, line EM {m.get('line_exact_match')} " if "parameters" in row else
                                     "no model ") + row.get("error", ""))
    print(f"gpu-train: {len(results)} files in {p.out} after {summary['seconds']} s: {', '.join(results)}")
    ok = len(results) <= p.max_results and all(r.get("tar_bytes") and "error" not in r and r.get("evaluate") == 0
                                               for r in summary["models"].values())
    return 0 if ok else 1


def gpu_name() -> str | None:
    try:
        import torch

        return torch.cuda.get_device_name() if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001 - a summary field, never a reason to fail
        return None


# ---- import (here) --------------------------------------------------------------------------------------
def import_results(results: Path, models: Path) -> int:
    tars = sorted(results.glob("linea-*.tar"))
    if not tars:
        raise FileNotFoundError(f"no linea-*.tar in {results}")
    models.mkdir(parents=True, exist_ok=True)
    for t in tars:
        name = t.name[: -len(".tar")]
        with tarfile.open(t) as tf:
            members = tf.getmembers()
            bad = [m.name for m in members if not (m.isfile() or m.isdir()) or ".." in Path(m.name).parts
                   or Path(m.name).parts[0] != name]
            if bad:
                raise ValueError(f"{t.name}: unexpected entries {bad[:3]}")
            staging = models / f".{name}.importing"
            shutil.rmtree(staging, ignore_errors=True)
            tf.extractall(staging, members=members)
        man = json.loads((staging / name / "manifest.json").read_text())
        wrong = [f for f, d in man["files"].items() if sha256(staging / name / f) != d["sha256"]]
        if wrong:
            shutil.rmtree(staging)
            raise ValueError(f"{t.name}: sha256 differs for {', '.join(wrong)}")
        shutil.rmtree(models / name, ignore_errors=True)
        (staging / name).rename(models / name)
        staging.rmdir()
        m, tr = man.get("metrics", {}), man.get("training", {})
        print(f"imported {models / name}: {man['parameters']:,} parameters, {tr.get('tokens', 0):,} tokens on "
              f"{tr.get('gpu') or tr.get('device')}, bpb {m.get('bpb', '-')} on {m.get('eval_files', 0)} files, "
              f"line EM {m.get('line_exact_match', '-')}" + ("" if m else "  (not evaluated)"))
    summary = results / "gpu-train.json"
    if summary.is_file():
        s = json.loads(summary.read_text())
        short = [v for v, r in s["models"].items() if r.get("reached_budget") is False and v != "deltanet"]
        if short:
            print(f"note: {', '.join(short)} stopped on the clock before their token budget: the comparison is unequal")
    print(f"""
next, here (the GPU run's figures are a short subset of the evaluation):
  for m in {models}/linea-*/; do .venv/bin/python models/training/evaluate.py --model "$m" --update-manifest; done
  .venv/bin/python models/training/fixtures.py           # golden files incl. the shipped tokenizer's vectors
  npm run test:engine                                    # TypeScript parity tests against the shipped models
  .venv/bin/python -m pytest -q -p no:warnings models/training/tests
  npm run bench -- --out bench-results.json              # latency of every shipped model
  .venv/bin/python models/training/card.py --bench bench-results.json   # models/README.md tables""")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cmd = argv[0] if argv else ""
    try:
        if cmd == "pack":
            return pack(Plan.from_env())
        if cmd == "run":
            return run(Plan.from_env())
        if cmd == "import" and len(argv) in (2, 3):
            return import_results(Path(argv[1]), Path(argv[2] if len(argv) == 3 else ROOT / "models"))
    except (FileNotFoundError, ValueError) as e:
        print(f"gpu-train: {e}", file=sys.stderr)
        return 2
    print("usage: gpu_kit.py pack | run | import RESULTS_DIR [MODELS_DIR]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
