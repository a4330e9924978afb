"""Tests of the corpus builder on tiny fake packages: no network, a few seconds.

Packages are laid out in a fake cache exactly as `fetch` leaves them (cache/src/<source>/<key>/ with
a .complete marker), so `build` finds them "already downloaded" and never calls npm or apt-get.
"""
import json
import random
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent.parent / "training")]

import build  # noqa: E402
import filters  # noqa: E402
import licenses  # noqa: E402
import minhash  # noqa: E402
from corpus_io import read_split  # noqa: E402

BSD_DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: foo

Files: *
Copyright: 2020 Someone
License: BSD-3-clause

Files: debian/*
Copyright: 2021 Packager
License: GPL-2+

License: BSD-3-clause
 Redistribution and use in source and binary forms, with or without modification, ...

License: GPL-2+
 This program is free software; see the GNU General Public License.
"""


def code(seed: int, lines: int = 60, lang: str = "ts") -> str:
    """Plausible, varied source text (distinct seeds give dissimilar files)."""
    rnd = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "value", "index", "count", "node", "item", "total",
             "left", "right", "key", "result", "state", "buffer", "offset", "limit", "cache", "entry"]
    out = []
    for i in range(lines):
        a, b, c = (rnd.choice(words) + str(rnd.randrange(1000)) for _ in range(3))
        if lang == "py":
            out.append(f"def {a}_{i}({b}, {c}):\n    return {b} * {rnd.randrange(97)} + {c}\n")
        else:
            out.append(f"export function {a}_{i}({b}: number, {c}: number): number {{\n"
                       f"  return {b} * {rnd.randrange(97)} + {c};\n}}\n")
    return "\n".join(out)


def put(root: Path, rel: str, content) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    (p.write_bytes if isinstance(content, bytes) else p.write_text)(content)


def fake_npm(cache: Path, name: str, version: str, files: dict, license="MIT") -> str:
    root = cache / "src" / "npm" / build.Package("npm", name, version).key
    meta = {"name": name, "version": version}
    if license is not None:
        meta["license"] = license
    put(root, "package.json", json.dumps(meta))
    for rel, text in files.items():
        put(root, rel, text)
    put(root, ".complete", "")
    return f"{name}@{version}"


def fake_deb(cache: Path, name: str, version: str, files: dict, copyright=BSD_DEP5) -> str:
    root = cache / "src" / "debian" / build.Package("debian", name, version).key
    if copyright is not None:
        put(root, f"usr/share/doc/{name}/copyright", copyright)
    for rel, text in files.items():
        put(root, f"usr/lib/python3/dist-packages/{rel}", text)
    put(root, ".complete", "")
    return f"{name}@{version}"


def write_manifest(tmp_path: Path, npm=(), debian=()) -> Path:
    m = tmp_path / "packages.json"
    m.write_text(json.dumps({"npm": list(npm), "debian": list(debian)}))
    return m


# ------------------------------------------------------------------------------------- manifest

def test_manifest_entries_parse_scoped_names_and_debian_epochs():
    p = build.parse_entry("npm", "@effect/platform@0.97.2")
    assert (p.name, p.version, p.group) == ("@effect/platform", "0.97.2", "@effect")
    d = build.parse_entry("debian", "python3-numpy@1:1.24.2-1+deb12u1")
    assert (d.name, d.version) == ("python3-numpy", "1:1.24.2-1+deb12u1")
    assert "/" not in d.key and ":" not in d.key and "/" not in p.key
    assert build.parse_entry("debian", "python3-x@1.0~rc1-1").version == "1.0~rc1-1"
    with pytest.raises(build.BadInput):
        build.parse_entry("debian", "python3-x@>=1.0")


@pytest.mark.parametrize("entry", ["zod", "zod@^3.0.0", "zod@latest", "zod@3.x", "zod@>=1", "@scope/x", "zod@"])
def test_unpinned_or_malformed_entries_are_rejected(entry):
    with pytest.raises(build.BadInput):
        build.parse_entry("npm", entry)


def test_bad_manifest_is_a_clear_error_not_a_crash(tmp_path, capsys):
    bad = tmp_path / "m.json"
    bad.write_text("{not json")
    assert build.main(["--manifest", str(bad), "--out", str(tmp_path / "o"), "--cache", str(tmp_path / "c")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    bad.write_text(json.dumps({"npm": "zod@3"}))
    assert build.main(["--manifest", str(bad), "--out", str(tmp_path / "o"), "--cache", str(tmp_path / "c")]) == 2
    with pytest.raises(SystemExit):
        build.main(["--jobs", "0"])


# ------------------------------------------------------------------------------------- licences

@pytest.mark.parametrize("lic,ok", [
    ("MIT", True), ("Apache-2.0", True), ("(MIT OR GPL-3.0-or-later)", True), ("BSD-3-Clause", True),
    ("0BSD", True), ("Unlicense", True), ("ISC", True), ("MIT AND Zlib", True),
    ("GPL-3.0", False), ("MPL-2.0", False), ("LGPL-2.1-only", False), ("MIT AND GPL-2.0", False),
    ("UNLICENSED", False), ("SEE LICENSE IN LICENSE.md", False), ("Frobnicate-1.0", False),
])
def test_npm_licences(lic, ok):
    recorded, reason = licenses.npm_license({"license": lic})
    assert recorded == lic and (reason is None) == ok


def test_npm_legacy_and_missing_licences():
    assert licenses.npm_license({"licenses": [{"type": "MIT"}]})[1] is None
    assert licenses.npm_license({"license": {"type": "BSD-2-Clause"}})[1] is None
    assert licenses.npm_license({})[1] == "no licence declared"


def test_debian_packaging_licence_is_ignored_but_code_licence_counts():
    names, reason = licenses.debian_licenses(BSD_DEP5)
    assert reason is None and names == ["BSD-3-clause"]
    gpl_file = BSD_DEP5 + "\nFiles: foo/extra.py\nCopyright: x\nLicense: GPL-3+\n"
    assert "not permissive" in licenses.debian_licenses(gpl_file)[1]
    # licence of fonts / C sources does not cover the Python the corpus takes
    fonts = BSD_DEP5 + "\nFiles: foo/fonts/*.ttf src/x.c\nCopyright: x\nLicense: Weird-Font-Licence\n"
    assert licenses.debian_licenses(fonts)[1] is None
    # a vague name is judged by the licence text that follows it
    other = BSD_DEP5 + ("\nFiles: foo/theme.py\nCopyright: x\nLicense: other\n Redistribution and use "
                        "in source and binary forms, with or without modification, are permitted\n")
    assert licenses.debian_licenses(other)[1] is None
    unknown = BSD_DEP5 + "\nFiles: foo/odd.py\nCopyright: x\nLicense: other\n Ask me first.\n"
    assert licenses.debian_licenses(unknown)[1].startswith("unknown licence")
    assert licenses.debian_licenses("This is free-form text, BSD.")[1].startswith("unknown licence")


# -------------------------------------------------------------------------------------- filters

@pytest.mark.parametrize("path,reason", [
    ("src/index.ts", None), ("lib/core.js", None), ("pkg/mod.py", None), ("src/types.d.ts", None),
    ("README.md", "not a source file"), ("lib/index.js.map", "source map"),
    ("node_modules/x/index.js", "vendored"), ("src/vendor/jq.js", "vendored"),
    ("pkg/_vendor/six.py", "vendored"), ("third_party/a.py", "vendored"),
    ("dist/index.js", "bundled (dist/build folder)"), ("umd/x.js", "bundled (dist/build folder)"),
    ("lib/x.min.js", "minified"), ("foo_pb2.py", "generated"), ("src/generated/api.ts", "generated"), ("src/Generated.ts", "generated"),
    ("build/index.js", "bundled (dist/build folder)"), ("scripts/build/x.js", None), ("examples/libs/gui.js", "vendored"),
    ("pkg/tests/libs/test_x.py", None),
])
def test_classify_path(path, reason):
    assert filters.classify_path(path, 1000) == reason


def test_classify_path_size_limits():
    assert filters.classify_path("src/big.ts", 2_000_000) == "huge file (>1 MB)"
    assert filters.classify_path("test/fixtures/data.js", 200_000) == "test fixture data"
    assert filters.classify_path("test/fixtures/small.js", 2_000) is None


def test_binary_and_non_utf8_are_skipped():
    assert filters.decode(b"abc\x00def") == (None, "binary")
    assert filters.decode(b"\xff\xfe caf\xe9") == (None, "not UTF-8")
    assert filters.decode("\ufeffx = 1\r\n".encode()) == ("x = 1\n", None)


@pytest.mark.parametrize("lang,text,reason", [
    ("js", "var a=1;" * 400, "minified (long lines)"),
    ("js", "(function(){" + "a+b;c=d;e(f);\n" * 300 + "})()", "minified (little whitespace)"),
    ("js", "/******/ (() => { // webpackBootstrap\n var x = 1;\n", "bundled"),
    ("js", "(function (root, factory) {\n  if (typeof define === 'function' && define.amd) {\n", "bundled"),
    ("js", '"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\n', "compiled output"),
    ("js", "export const a = 1;\n//# sourceMappingURL=a.js.map\n", "compiled output"),
    ("py", "# Generated by the protocol buffer compiler.  DO NOT EDIT!\nx = 1\n", "generated"),
    ("ts", "// This file was automatically generated.\nexport const x = 1;\n", "generated"),
    ("py", '"""Modules.\n\nThe ideal generated by f over the ring.\n"""\nx = 1\n', None),
    ("py", "TABLE = [\n" + "    123456, 789012, 345678, 901234,\n" * 3000 + "]\n", "data table (mostly numbers)"),
    ("ts", code(1), None), ("py", code(2, lang="py"), None),
])
def test_classify_text(lang, text, reason):
    assert filters.classify_text("x", lang, text) == reason


# ------------------------------------------------------------------------------ package scanning

def test_scan_npm_package_keeps_handwritten_ts_only(tmp_path):
    spec = fake_npm(tmp_path, "@acme/lib", "1.0.0", {
        "src/index.ts": code(1), "src/util.ts": code(2),
        "lib/index.js": "export const x = 1;\n", "lib/index.d.ts": "export declare const x: number;\n",
        "dist/acme.umd.js": "x", "node_modules/dep/index.js": code(3), "README.md": "# hi",
        "src/logo.png.ts": b"\x89PNG\x00\x00",
    })
    pkg = build.parse_entry("npm", spec)
    res = build.scan_package(pkg, tmp_path / "src" / "npm" / pkg.key)
    assert res["skip"] is None and res["license"] == "MIT"
    assert sorted(f["path"] for f in res["files"]) == ["src/index.ts", "src/util.ts"]
    assert res["skipped"]["compiled output (beside its .ts source)"][0] == 1
    assert res["skipped"][".d.ts of a shipped .ts source"][0] == 1
    assert res["skipped"]["not a source file"][0] == 2  # README.md, package.json
    for r in ("vendored", "bundled (dist/build folder)", "binary"):
        assert res["skipped"][r][0] == 1, r


def test_packages_without_licence_or_usable_files_are_skipped(tmp_path):
    a = build.parse_entry("npm", fake_npm(tmp_path, "nolic", "1.0.0", {"a.js": code(1)}, license=None))
    assert build.scan_package(a, tmp_path / "src/npm" / a.key)["skip"] == "no licence declared"
    b = build.parse_entry("npm", fake_npm(tmp_path, "gpl", "1.0.0", {"a.js": code(1)}, license="GPL-3.0"))
    assert "not permissive" in build.scan_package(b, tmp_path / "src/npm" / b.key)["skip"]
    c = build.parse_entry("npm", fake_npm(tmp_path, "bin", "1.0.0", {"a.js": b"\x00\x01", "b.js": "x" * 2_000_001}))
    res = build.scan_package(c, tmp_path / "src/npm" / c.key)
    assert res["skip"] == "no usable source files"
    assert res["skipped"]["binary"][0] == 1 and res["skipped"]["huge file (>1 MB)"][0] == 1
    d = build.parse_entry("debian", fake_deb(tmp_path, "python3-x", "1.0-1", {"x.py": code(1, lang="py")}, copyright=None))
    assert build.scan_package(d, tmp_path / "src/debian" / d.key)["skip"].startswith("no licence")


# --------------------------------------------------------------------------------------- dedup

def test_minhash_similarity_behaves():
    base = code(7, lines=80)
    lines = base.split("\n")
    lines[10] = "  return 0; // tweaked"
    near = "\n".join(lines)
    s1, s2, s3 = (minhash.signature(t) for t in (base, near, code(8, lines=80)))
    assert (s1 == s2).mean() >= 0.85 and (s1 == s3).mean() < 0.3
    idx = minhash.LSHIndex()
    idx.add(s1)
    assert idx.near_duplicate_of(s2) == 0 and idx.near_duplicate_of(s3) is None
    assert minhash.exact_key(base) == minhash.exact_key(base.replace("\n", "  \r\n") + "\n\n")


def _scan_all(tmp_path, specs):
    pkgs = [build.parse_entry(src, s) for src, s in specs]
    return pkgs, {p: build.scan_package(p, tmp_path / "src" / p.source / p.key) for p in pkgs}


def test_exact_and_near_duplicates_removed_across_packages(tmp_path):
    shared, tweak = code(11, lines=80), code(11, lines=80).replace("return", "return  ", 1) + "\n// extra\n"
    specs = [("npm", fake_npm(tmp_path, "a", "1.0.0", {"src/x.ts": shared, "src/own.ts": code(12)})),
             ("npm", fake_npm(tmp_path, "b", "1.0.0", {"src/copy.ts": shared + "\n\n", "src/near.ts": tweak,
                                                       "src/mine.ts": code(13)}))]
    pkgs, results = _scan_all(tmp_path, specs)
    from collections import Counter
    skipped, sbytes = Counter(), Counter()
    kept = build.deduplicate(pkgs, results, skipped, sbytes)
    assert sorted((r["pkg"].name, r["path"]) for r in kept) == [("a", "src/own.ts"), ("a", "src/x.ts"), ("b", "src/mine.ts")]
    assert skipped["exact duplicate"] == 1 and skipped["near duplicate"] == 1


def test_dts_is_capped_at_five_percent_of_typescript(tmp_path):
    files = {f"src/m{i}.ts": code(100 + i) for i in range(4)}
    files.update({f"types/t{i}.d.ts": code(200 + i, lines=2) for i in range(10)})
    pkgs, results = _scan_all(tmp_path, [("npm", fake_npm(tmp_path, "typed", "1.0.0", files))])
    from collections import Counter
    skipped, sbytes = Counter(), Counter()
    kept = build.deduplicate(pkgs, results, skipped, sbytes)
    ts_all = sum(r["bytes"] for r in kept if r["lang"] == "ts")
    dts = sum(r["bytes"] for r in kept if r["dts"])
    assert 0 < dts <= 0.05 * ts_all and skipped[".d.ts over the 5% cap"] >= 3


# ---------------------------------------------------------------------------------------- split

def test_split_is_by_package_deterministic_and_covers_all_languages():
    records = []
    for lang in build.LANGS:
        for i in range(30):
            pkg = build.Package("npm" if lang != "py" else "debian", f"{lang}pkg{i}", "1.0")
            for j in range(3):
                records.append({"pkg": pkg, "lang": lang, "bytes": 1000 + 37 * i + j})
    scoped = [build.Package("npm", f"@mono/p{i}", "1.0") for i in range(3)]
    records += [{"pkg": p, "lang": "ts", "bytes": 500} for p in scoped]
    a, b = build.assign_splits(records), build.assign_splits(list(reversed(records)))
    assert a == b
    assert len({a[p.group] for p in scoped}) == 1  # one monorepo, one split
    for split in ("val", "test"):
        langs = {r["lang"] for r in records if a[r["pkg"].group] == split}
        assert langs == set(build.LANGS)
    for lang in build.LANGS:
        total = sum(r["bytes"] for r in records if r["lang"] == lang)
        train = sum(r["bytes"] for r in records if r["lang"] == lang and a[r["pkg"].group] == "train")
        assert 0.8 < train / total < 0.95


def test_split_falls_back_to_smallest_package_when_none_fits():
    records = [{"pkg": build.Package("npm", f"big{i}", "1"), "lang": "js", "bytes": 1000 + i} for i in range(4)]
    s = build.assign_splits(records)
    assert sorted(s.values()) == ["test", "train", "train", "val"]


# ----------------------------------------------------------------------------------- end to end

def test_build_end_to_end_from_cache(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    npm, deb = [], []
    for i in range(6):
        npm.append(fake_npm(cache, f"tspkg{i}", "1.0.0", {f"src/m{j}.ts": code(1000 * i + j) for j in range(3)}))
        npm.append(fake_npm(cache, f"jspkg{i}", "2.0.0", {f"lib/m{j}.js": code(5000 + 1000 * i + j).replace(": number", "")
                                                          for j in range(3)}, license="BSD-3-Clause"))
        deb.append(fake_deb(cache, f"python3-p{i}", "1.0-1", {f"p{i}/m{j}.py": code(9000 + 100 * i + j, lang="py")
                                                             for j in range(3)}))
    npm.append("not-downloaded@1.0.0")
    manifest = write_manifest(tmp_path, npm, deb)
    logs = []
    s = build.build(manifest, cache, out, jobs=1, offline=True, min_total_mb=0.01, min_share=0.2, log=logs.append)
    assert s["targets"]["met"]
    assert s["packages"] == {"listed": 19, "kept": 18, "skipped": 1}
    assert s["skipped_packages"][0]["reason"].startswith("download failed: not in the cache")
    recs = {split: list(read_split(out / f"{split}.jsonl.xz")) for split in build.SPLITS}
    assert sum(len(r) for r in recs.values()) == s["files"]["total"] == 54
    r0 = recs["train"][0]
    assert set(r0) == {"package", "version", "path", "lang", "license", "text"}
    by_pkg = {}
    for split, rs in recs.items():
        for r in rs:
            by_pkg.setdefault(r["package"], set()).add(split)
        assert {r["lang"] for r in rs} == {"ts", "js", "py"}
    assert all(len(v) == 1 for v in by_pkg.values())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["bytes"]["total"] == s["bytes"]["total"]
    assert "targets" in "\n".join(logs)
    # deterministic: a rerun writes the same bytes
    first = {p.name: p.read_bytes() for p in out.glob("*.jsonl.xz")}
    build.build(manifest, cache, out, jobs=1, offline=True, min_total_mb=0, min_share=0, log=lambda *_: None)
    assert first == {p.name: p.read_bytes() for p in out.glob("*.jsonl.xz")}


def test_format_twins_keep_one_copy_per_module():
    paths = ["modules/each.js", "cjs/each.js", "amd/each.js", "lib/languages/go.js", "es/languages/go.js",
             "src/a/index.ts", "src/b/index.ts", "test/each.js"]
    assert filters.format_twins(paths) == {"cjs/each.js", "amd/each.js", "lib/languages/go.js"}


def test_files_differing_only_in_strings_are_duplicates(tmp_path):
    stub = 'function warn() {{\n  console.log("use highlight.js/lib/languages/{0} instead");\n}}\nmodule.exports = require("./{0}.js");\n'
    specs = [("npm", fake_npm(tmp_path, "hl", "1.0.0", {f"lib/{n}.js.js": stub.format(n) for n in ("go", "rust", "kotlin")}))]
    pkgs, results = _scan_all(tmp_path, specs)
    from collections import Counter
    skipped, sbytes = Counter(), Counter()
    kept = build.deduplicate(pkgs, results, skipped, sbytes)
    assert len(kept) == 1 and skipped["duplicate up to string literals"] == 2
