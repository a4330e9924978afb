"""Build Linea's training corpus from pinned, permissively licensed packages.

    python models/corpus/build.py [--out DIR] [--cache DIR] [--jobs N] [--manifest FILE] [--offline]

Reads the manifest (default: packages.json beside this file: npm "name@version" entries for
TypeScript/JavaScript, Debian "package@version" entries for Python), downloads each package with its
registry's ordinary client (`npm pack`, `apt-get download` + `dpkg -x`) into the cache (default
~/.cache/linea/corpus-cache; a rerun downloads nothing again), keeps only permissively licensed
packages and only their handwritten .ts/.js/.py sources (no minified, bundled, compiled, generated,
vendored, binary or huge files, .d.ts capped at 5% of TypeScript), removes exact and near-duplicate
files across all packages, splits by package into train/val/test (~90/5/5 of each language's bytes,
deterministic), and writes DIR/{train,val,test}.jsonl.xz (records: package, version, path, lang,
license, text; see ../training/corpus_io.py) and DIR/summary.json (default DIR:
~/.cache/linea/corpus). Prints the summary. Exit status: 0 done, 1 done but the size targets
(--min-total-mb, --min-share) were missed, 2 bad input.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
for _p in (HERE, HERE.parent / "training"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import filters  # noqa: E402
import licenses  # noqa: E402
import minhash  # noqa: E402
from corpus_io import write_split  # noqa: E402

DEFAULT_MANIFEST = HERE / "packages.json"
DEFAULT_CACHE = Path.home() / ".cache" / "linea" / "corpus-cache"
DEFAULT_OUT = Path.home() / ".cache" / "linea" / "corpus"
LANGS = ("ts", "js", "py")
SPLITS = ("train", "val", "test")
HELD_OUT_SHARE = 0.05  # val and test each get about this share of every language's bytes
DTS_SHARE = 0.05       # .d.ts files are at most this share of TypeScript bytes
SEED = 1234
# Each registry contributes the languages it is here for: Debian's python3-* packages also ship
# JavaScript (Sphinx themes, notebook front-ends) that is almost always vendored or minified.
LANGS_BY_SOURCE = {"npm": {"ts", "js"}, "debian": {"py"}}
FETCH_TIMEOUT_S = 900


class BadInput(Exception):
    """Bad command line or manifest: reported as a one-line message, exit status 2."""


class FetchError(Exception):
    """A package could not be downloaded or unpacked: the package is skipped with this reason."""


@dataclass(frozen=True)
class Package:
    source: str   # "npm" | "debian"
    name: str
    version: str

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def key(self) -> str:
        """File-system-safe, unique name for the cache."""
        return self.spec.replace("/", "+").replace(":", "%3a")

    @property
    def group(self) -> str:
        """Unit of the train/val/test split: the package, or its npm scope ('@effect/cli' ->
        '@effect') so that one monorepo's packages never straddle splits."""
        return self.name.split("/")[0] if self.name.startswith("@") else self.name


# ---------------------------------------------------------------------------------------- manifest

# Ranges and tags instead of one release. Debian versions may contain '~' and '+' ("1.0~rc1-1").
_UNPINNED = {"npm": re.compile(r"^(latest|next|\*|x)$|[\^~<>=*| ]|\.x\b|\.\*", re.I),
             "debian": re.compile(r"[<>=*| ]")}


def parse_entry(source: str, entry: str) -> Package:
    if not isinstance(entry, str) or not entry.strip():
        raise BadInput(f"manifest: {source} entry {entry!r} is not a 'name@version' string")
    entry = entry.strip()
    # npm scoped names start with '@', so the version follows the last '@'; Debian names have none.
    at = entry.rfind("@") if source == "npm" else entry.find("@")
    if at <= 0:
        raise BadInput(f"manifest: {source} entry {entry!r} needs a pinned version: 'name@version'")
    name, version = entry[:at], entry[at + 1:]
    if not version or _UNPINNED[source].search(version):
        raise BadInput(f"manifest: {entry!r}: version {version!r} is not pinned to one release")
    if source == "npm" and not re.fullmatch(r"(@[a-z0-9][\w.-]*/)?[a-z0-9][\w.-]*", name, re.I):
        raise BadInput(f"manifest: {entry!r}: {name!r} is not an npm package name")
    if source == "debian" and not re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", name):
        raise BadInput(f"manifest: {entry!r}: {name!r} is not a Debian package name")
    return Package(source, name, version)


def load_manifest(path: Path) -> list[Package]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"manifest not found: {path}") from None
    except json.JSONDecodeError as e:
        raise BadInput(f"manifest {path} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or not set(data) & {"npm", "debian"}:
        raise BadInput(f"manifest {path}: expected an object with 'npm' and/or 'debian' lists")
    pkgs: list[Package] = []
    for source in ("npm", "debian"):
        entries = data.get(source, [])
        if not isinstance(entries, list):
            raise BadInput(f"manifest {path}: '{source}' must be a list of 'name@version' strings")
        pkgs += [parse_entry(source, e) for e in entries]
    dup = [k for k, n in Counter((p.source, p.spec) for p in pkgs).items() if n > 1]
    if dup:
        raise BadInput(f"manifest {path}: listed twice: {', '.join(s for _, s in dup)}")
    if not pkgs:
        raise BadInput(f"manifest {path} lists no packages")
    return pkgs


# ---------------------------------------------------------------------------------------- fetching

def _run(cmd: list[str], cwd: Path) -> None:
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S,
                           stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise FetchError(f"{cmd[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise FetchError(f"{' '.join(cmd[:2])} timed out after {FETCH_TIMEOUT_S} s") from None
    if r.returncode != 0:
        lines = [l for l in (r.stderr or r.stdout).splitlines() if l.strip()]
        err = [l for l in lines if re.search(r"\berr|\bE:", l, re.I)] or lines
        raise FetchError(f"{' '.join(cmd[:2])} failed: {(err[-1] if err else 'exit %d' % r.returncode)[:200]}")


def _extract_tgz(tgz: Path, dest: Path) -> None:
    """Unpack an npm tarball without its top folder ('package/'), regular files only, never
    outside dest (tar member names are untrusted)."""
    try:
        with tarfile.open(tgz, "r:gz") as tar:
            for m in tar:
                if not m.isfile():
                    continue
                parts = [p for p in m.name.replace("\\", "/").split("/") if p not in ("", ".")]
                if len(parts) < 2 or ".." in parts:
                    continue
                out = dest.joinpath(*parts[1:])
                out.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                with open(out, "wb") as f:
                    shutil.copyfileobj(src, f)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise FetchError(f"cannot unpack {tgz.name}: {e}") from None


def fetch(pkg: Package, cache: Path, offline: bool = False) -> Path:
    """Path of the unpacked package (npm: the package folder; Debian: the file-system root of the
    .deb). Downloads and unpacks only what the cache lacks."""
    dest = cache / "src" / pkg.source / pkg.key
    if (dest / ".complete").exists():
        return dest
    if offline:
        raise FetchError("not in the cache (--offline)")
    dl = cache / pkg.source
    dl.mkdir(parents=True, exist_ok=True)
    ext = ".tgz" if pkg.source == "npm" else ".deb"
    archive = dl / (pkg.key + ext)
    if not archive.exists():
        tmp = Path(tempfile.mkdtemp(dir=dl, prefix=".dl-"))
        try:
            if pkg.source == "npm":
                _run(["npm", "pack", pkg.spec, "--pack-destination", str(tmp), "--ignore-scripts",
                      "--silent"], cwd=tmp)
            else:
                _run(["apt-get", "download", f"{pkg.name}={pkg.version}"], cwd=tmp)
            got = sorted(tmp.glob("*" + ext))
            if len(got) != 1:
                raise FetchError(f"download produced {len(got)} {ext} files")
            os.replace(got[0], archive)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    work = dest.with_name(dest.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(dest, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        if pkg.source == "npm":
            _extract_tgz(archive, work)
        else:
            _run(["dpkg", "-x", str(archive), str(work)], cwd=work)
    except FetchError:
        shutil.rmtree(work, ignore_errors=True)
        archive.unlink(missing_ok=True)  # a corrupt download must not stick in the cache
        raise
    (work / ".complete").write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
    os.replace(work, dest)
    return dest


# ---------------------------------------------------------------------------------------- scanning

def package_license(pkg: Package, root: Path) -> tuple[str, str | None]:
    """(licence as recorded, reason to skip the package or None)."""
    if pkg.source == "npm":
        pj = root / "package.json"
        try:
            data = json.loads(pj.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "", "no readable package.json"
        return licenses.npm_license(data if isinstance(data, dict) else {})
    doc = root / "usr" / "share" / "doc" / pkg.name
    cp = doc / "copyright"
    if doc.is_symlink() or not cp.is_file():
        return "", "no licence: no /usr/share/doc/%s/copyright in the package" % pkg.name
    names, reason = licenses.debian_licenses(cp.read_text(encoding="utf-8", errors="replace"))
    return " AND ".join(names), reason


def scan_package(pkg: Package, root: Path) -> dict:
    """Judge a fetched package and read its usable files.

    Returns {"license", "skip" (package-level reason or None), "files": [{path, lang, dts, text,
    bytes, key, sig}], "skipped": {reason: [files, bytes]}}.
    """
    lic, reason = package_license(pkg, root)
    result = {"license": lic, "skip": reason, "files": [], "skipped": {}}
    if reason:
        return result
    skipped: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    cands = []
    allowed = LANGS_BY_SOURCE[pkg.source]
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in sorted(filenames):
            full = Path(dirpath) / fn
            rel = full.relative_to(root).as_posix()
            if rel == ".complete":
                continue
            st = full.lstat()
            if full.is_symlink():
                r = "symlink"
            else:
                r = filters.classify_path(rel, st.st_size)
                if r is None and filters.lang_of(rel) not in allowed:
                    r = f"not {'/'.join(sorted(allowed))} (not taken from {pkg.source})"
            if r is None:
                text, r = filters.decode(full.read_bytes())
                if r is None:
                    lang = filters.lang_of(rel)
                    r = filters.classify_text(rel, lang, text)
            if r:
                skipped[r][0] += 1
                skipped[r][1] += st.st_size
                continue
            cands.append((rel, lang, text))
    # Compiled twins: a package that ships foo.ts and also lib/foo.js or foo.d.ts ships the build
    # output of its own sources; keep the .ts.
    ts_stems = {filters.stem(p) for p, l, _ in cands if l == "ts" and not filters.is_dts(p)}
    twins = filters.format_twins([p for p, l, _ in cands if l in ("js", "ts")])
    for rel, lang, text in cands:
        dts = filters.is_dts(rel)
        nbytes = len(text.encode("utf-8"))
        if filters.stem(rel) in ts_stems and (lang == "js" or dts):
            r = "compiled output (beside its .ts source)" if lang == "js" else ".d.ts of a shipped .ts source"
            skipped[r][0] += 1
            skipped[r][1] += nbytes
            continue
        if rel in twins:
            skipped["same module in another format folder"][0] += 1
            skipped["same module in another format folder"][1] += nbytes
            continue
        result["files"].append({"path": rel, "lang": lang, "dts": dts, "text": text, "bytes": nbytes,
                                "key": minhash.exact_key(text), "tkey": minhash.template_key(text),
                                "sig": minhash.signature(text)})
    result["skipped"] = dict(skipped)
    if not result["files"]:
        result["skip"] = "no usable source files"
    return result


def _fetch_and_scan(args: tuple[Package, Path, bool]) -> dict:
    pkg, cache, offline = args
    try:
        root = fetch(pkg, cache, offline)
    except FetchError as e:
        return {"license": "", "skip": f"download failed: {e}", "files": [], "skipped": {}}
    try:
        return scan_package(pkg, root)
    except Exception as e:  # noqa: BLE001 - one bad package must not stop the build
        return {"license": "", "skip": f"scan failed: {type(e).__name__}: {e}", "files": [], "skipped": {}}


# ---------------------------------------------------------------------------------- dedup and split

def deduplicate(pkgs: list[Package], results: dict[Package, dict], skipped: Counter,
                skipped_bytes: Counter) -> list[dict]:
    """Drop exact then near duplicates across all packages, first occurrence wins in (name,
    version, path) order; cap .d.ts files. Returns the surviving records (with package info)."""
    seen: set[str] = set()
    index = minhash.LSHIndex()
    kept: list[dict] = []
    for pkg in sorted(pkgs, key=lambda p: (p.name, p.version, p.source)):
        res = results[pkg]
        if res["skip"]:
            continue
        for f in sorted(res["files"], key=lambda f: f["path"]):
            reason = None
            if f["key"] in seen:
                reason = "exact duplicate"
            elif f["tkey"] in seen:
                reason = "duplicate up to string literals"
            elif f["sig"] is not None and index.near_duplicate_of(f["sig"]) is not None:
                reason = "near duplicate"
            if reason:
                skipped[reason] += 1
                skipped_bytes[reason] += f["bytes"]
                continue
            seen.update((f["key"], f["tkey"]))
            if f["sig"] is not None:
                index.add(f["sig"])
            kept.append({**f, "pkg": pkg, "license": res["license"]})
    ts_src = sum(f["bytes"] for f in kept if f["lang"] == "ts" and not f["dts"])
    budget = ts_src * DTS_SHARE / (1 - DTS_SHARE)
    # Round-robin over packages (each package's files in hash order) so that one package with
    # thousands of declaration files (aws-sdk's clients/*.d.ts) cannot fill the budget alone.
    queues: dict[Package, list[dict]] = defaultdict(list)
    for f in sorted((f for f in kept if f["dts"]), key=lambda f: f["key"]):
        queues[f["pkg"]].append(f)
    order = sorted(queues, key=lambda p: (p.name, p.version, p.source))
    used, drop, rnd = 0, set(), 0
    while any(len(queues[p]) > rnd for p in order):
        for p in order:
            if len(queues[p]) <= rnd:
                continue
            f = queues[p][rnd]
            if used + f["bytes"] <= budget:
                used += f["bytes"]
            else:
                drop.add(id(f))
                skipped[".d.ts over the 5% cap"] += 1
                skipped_bytes[".d.ts over the 5% cap"] += f["bytes"]
        rnd += 1
    return [f for f in kept if id(f) not in drop]


def assign_splits(records: list[dict]) -> dict[str, str]:
    """Split group -> 'train' | 'val' | 'test'.

    Each group (package or npm scope) belongs to its majority language. Per language, groups are
    visited in the order of a hash of their name and go to val, then test, until each holds ~5% of
    that language's bytes; a group that would overshoot a held-out split by half its target stays
    in train. If no group fits, the smallest goes, so every split has every language."""
    by_group: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        by_group[r["pkg"].group][r["lang"]] += r["bytes"]
    lang_groups: dict[str, list[str]] = defaultdict(list)
    for g, c in by_group.items():
        lang_groups[max(LANGS, key=lambda l: (c[l], -LANGS.index(l)))].append(g)
    split_of: dict[str, str] = {}
    for lang in LANGS:
        groups = sorted(lang_groups[lang], key=lambda g: hashlib.sha256(f"linea-split:{g}".encode()).hexdigest())
        size = {g: sum(by_group[g].values()) for g in groups}
        target = HELD_OUT_SHARE * sum(size.values())
        filled = {"val": 0, "test": 0}
        for g in groups:
            split_of[g] = "train"
            for s in ("val", "test"):
                if filled[s] < target and filled[s] + size[g] <= 1.5 * target:
                    split_of[g] = s
                    filled[s] += size[g]
                    break
        for s in ("val", "test"):
            if not filled[s]:
                rest = sorted((g for g in groups if split_of[g] == "train"), key=lambda g: (size[g], g))
                if len(rest) > 1:  # never empty train
                    split_of[rest[0]] = s
                    filled[s] += size[rest[0]]
    return split_of


# ------------------------------------------------------------------------------------------- build

def build(manifest: Path, cache: Path, out: Path, jobs: int = 2, offline: bool = False,
          min_total_mb: float = 200.0, min_share: float = 0.20, log=print) -> dict:
    pkgs = load_manifest(manifest)
    cache.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    log(f"{len(pkgs)} packages in {manifest}; cache {cache}")
    results: dict[Package, dict] = {}
    # Downloads wait on the network, not the CPU: more threads than cores for those.
    with cf.ThreadPoolExecutor(max(4, 2 * jobs)) as ex:
        futs = {ex.submit(fetch, p, cache, offline): p for p in pkgs}
        for n, fut in enumerate(cf.as_completed(futs), 1):
            p = futs[fut]
            try:
                fut.result()
            except Exception as e:  # noqa: BLE001 - one bad package must not stop the build
                results[p] = {"license": "", "skip": f"download failed: {e}", "files": [], "skipped": {}}
                log(f"  [{n}/{len(pkgs)}] {p.spec}: {results[p]['skip']}")
    log(f"fetched in {time.time() - t0:.0f} s; scanning with {jobs} job(s)")
    todo = [p for p in pkgs if p not in results]
    pool = cf.ProcessPoolExecutor(jobs) if jobs > 1 else None
    try:
        mapper = pool.map(_fetch_and_scan, [(p, cache, True) for p in todo], chunksize=1) if pool \
            else map(_fetch_and_scan, [(p, cache, True) for p in todo])
        for n, (p, res) in enumerate(zip(todo, mapper), 1):
            results[p] = res
            if n % 25 == 0 or n == len(todo):
                log(f"  scanned {n}/{len(todo)} ({time.time() - t0:.0f} s)")
    finally:
        if pool:
            pool.shutdown()

    skipped, skipped_bytes = Counter(), Counter()
    for res in results.values():
        for r, (n, b) in res["skipped"].items():
            skipped[r] += n
            skipped_bytes[r] += b
    records = deduplicate(pkgs, results, skipped, skipped_bytes)
    split_of = assign_splits(records)
    by_split: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for r in records:
        by_split[split_of[r["pkg"].group]].append(r)

    out.mkdir(parents=True, exist_ok=True)
    log(f"deduplicated ({time.time() - t0:.0f} s); writing {out}")

    def write(split: str) -> int:
        rs = sorted(by_split[split], key=lambda r: (r["pkg"].name, r["pkg"].version, r["path"]))
        random.Random(SEED).shuffle(rs)
        tmp = out / f".{split}.jsonl.xz.partial"
        n = write_split(tmp, ({"package": r["pkg"].name, "version": r["pkg"].version, "path": r["path"],
                               "lang": r["lang"], "license": r["license"], "text": r["text"]} for r in rs))
        os.replace(tmp, out / f"{split}.jsonl.xz")
        return n

    with cf.ThreadPoolExecutor(len(SPLITS)) as ex:  # lzma releases the GIL while compressing
        list(ex.map(write, SPLITS))

    summary = summarise(pkgs, results, records, split_of, skipped, skipped_bytes, min_total_mb, min_share)
    summary["manifest"] = str(manifest)
    summary["output"] = {s: str(out / f"{s}.jsonl.xz") for s in SPLITS}
    summary["seconds"] = round(time.time() - t0)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    log(format_summary(summary))
    return summary


def summarise(pkgs, results, records, split_of, skipped, skipped_bytes, min_total_mb, min_share) -> dict:
    lang_bytes, lang_files = Counter(), Counter()
    pkg_bytes: dict[Package, Counter] = defaultdict(Counter)
    splits = {s: {"packages": set(), "files": 0, "bytes": 0, "by_lang": Counter()} for s in SPLITS}
    for r in records:
        lang_bytes[r["lang"]] += r["bytes"]
        lang_files[r["lang"]] += 1
        pkg_bytes[r["pkg"]][r["lang"]] += r["bytes"]
        s = splits[split_of[r["pkg"].group]]
        s["packages"].add(r["pkg"].spec)
        s["files"] += 1
        s["bytes"] += r["bytes"]
        s["by_lang"][r["lang"]] += r["bytes"]
    total = sum(lang_bytes.values())
    pkg_files = Counter(r["pkg"] for r in records)
    detail, skipped_pkgs = [], []
    for p in pkgs:
        res = results[p]
        reason = res["skip"] or (None if pkg_bytes.get(p) else "all files were duplicates")
        row = {"package": p.name, "version": p.version, "source": p.source, "license": res["license"],
               "files": pkg_files[p],
               "bytes": dict(pkg_bytes.get(p, {})), "split": split_of.get(p.group) if not reason else None}
        if reason:
            row["skipped"] = reason
            skipped_pkgs.append({"package": p.spec, "source": p.source, "reason": reason})
        detail.append(row)
    share = {l: (lang_bytes[l] / total if total else 0.0) for l in LANGS}
    met = total >= min_total_mb * 1e6 and all(share[l] >= min_share for l in LANGS)
    return {
        "packages": {"listed": len(pkgs), "kept": len(pkgs) - len(skipped_pkgs), "skipped": len(skipped_pkgs)},
        "files": {"total": len(records), "by_lang": {l: lang_files[l] for l in LANGS}},
        "bytes": {"total": total, "by_lang": {l: lang_bytes[l] for l in LANGS},
                  "share": {l: round(share[l], 4) for l in LANGS},
                  "dts": sum(r["bytes"] for r in records if r["dts"])},
        "splits": {s: {"packages": len(v["packages"]), "files": v["files"], "bytes": v["bytes"],
                       "by_lang": {l: v["by_lang"][l] for l in LANGS}} for s, v in splits.items()},
        "skipped_files": {r: {"files": skipped[r], "bytes": skipped_bytes[r]}
                          for r in sorted(skipped, key=lambda r: (-skipped[r], r))},
        "skipped_packages": skipped_pkgs,
        "package_reasons": dict(Counter(re.sub(r":.*", "", s["reason"]) for s in skipped_pkgs)),
        "targets": {"min_total_bytes": int(min_total_mb * 1e6), "min_share": min_share, "met": met},
        "package_detail": detail,
    }


def format_summary(s: dict) -> str:
    mb = lambda b: f"{b / 1e6:8.1f} MB"  # noqa: E731
    lines = [f"packages: {s['packages']['kept']} kept, {s['packages']['skipped']} skipped "
             f"of {s['packages']['listed']}",
             f"files: {s['files']['total']}  bytes: {mb(s['bytes']['total'])}"]
    for l in LANGS:
        lines.append(f"  {l}: {s['files']['by_lang'][l]:7d} files {mb(s['bytes']['by_lang'][l])} "
                     f"({100 * s['bytes']['share'][l]:.1f}%)")
    lines.append(f"  .d.ts: {mb(s['bytes']['dts'])}")
    for name, v in s["splits"].items():
        langs = "  ".join(f"{l} {v['by_lang'][l] / 1e6:.1f}" for l in LANGS)
        lines.append(f"split {name:5s}: {v['packages']:4d} packages {v['files']:7d} files "
                     f"{mb(v['bytes'])}  (MB: {langs})")
    lines.append("skipped files by reason:")
    for r, v in list(s["skipped_files"].items())[:20]:
        lines.append(f"  {v['files']:7d} files {mb(v['bytes'])}  {r}")
    if s["skipped_packages"]:
        lines.append("skipped packages:")
        for sp in s["skipped_packages"]:
            lines.append(f"  {sp['package']}: {sp['reason']}")
    t = s["targets"]
    lines.append(f"targets (>= {t['min_total_bytes'] / 1e6:.0f} MB, each language >= "
                 f"{100 * t['min_share']:.0f}%): {'met' if t['met'] else 'NOT MET'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, help="pinned package list (%(default)s)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (%(default)s)")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="download cache (%(default)s)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel workers (%(default)s)")
    ap.add_argument("--offline", action="store_true", help="use only the cache; skip missing packages")
    ap.add_argument("--min-total-mb", type=float, default=200.0, help="size target (%(default)s)")
    ap.add_argument("--min-share", type=float, default=0.20, help="min share of each language (%(default)s)")
    a = ap.parse_args(argv)
    if a.jobs < 1:
        ap.error("--jobs must be at least 1")
    if not 0 <= a.min_share <= 1 / len(LANGS):
        ap.error(f"--min-share must be between 0 and {1 / len(LANGS):.3f}")
    for name in ("out", "cache"):
        p = getattr(a, name).expanduser()
        if p.exists() and not p.is_dir():
            ap.error(f"--{name} {p} exists and is not a folder")
        setattr(a, name, p)
    try:
        s = build(a.manifest, a.cache, a.out, a.jobs, a.offline, a.min_total_mb, a.min_share)
    except BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0 if s["targets"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
