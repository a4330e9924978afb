"""Licence checks for the corpus builder: is a package's licence permissive?

npm packages declare an SPDX expression in package.json ("license"); Debian packages describe theirs
in /usr/share/doc/<pkg>/copyright, in the machine-readable DEP-5 format. Both are reduced to a set
of licence names and judged together: a package is kept only if every licence it is under (after
choosing the permissive side of an "or") is on the allow-list below. Copyleft (GPL, LGPL, AGPL,
MPL, EPL, ...) and anything we do not recognise are rejected, with the name in the reason.
"""
from __future__ import annotations

import re

# Lower-case names (SPDX ids and Debian's short names) of permissive licences. Kept small on
# purpose: an unrecognised name rejects the package rather than guessing.
PERMISSIVE = {
    "mit", "expat", "mit-0", "x11", "mit/x11", "isc", "0bsd", "bsd", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "bsd-4-clause", "bsd-2", "bsd-3", "bsd-new", "bsd-simplified",
    "apache-2.0", "apache-2", "apache 2.0", "apache", "apache-1.1",
    "psf", "psf-2", "psf-2.0", "python", "python-2.0", "python-2.0.1", "psfl", "cnri-python",
    "unlicense", "zlib", "libpng", "zlib/libpng", "cc0", "cc0-1.0", "public-domain", "publicdomain",
    "wtfpl", "bsl-1.0", "boost", "blueoak-1.0.0", "ncsa", "hpnd", "postgresql", "curl",
    "python-software-foundation", "historical", "unicode-dfs-2016", "unicode-3.0",
    "matplotlib",  # the Matplotlib License: PSF-style, permissive (statsmodels copies some code)
    # Font licences: fonts ship as binary files (never in the corpus) beside the code.
    "ofl-1.1", "bitstream-vera", "sil-ofl-1.1",
}
# Prefixes of copyleft families, so "GPL-2+", "LGPL-2.1-or-later", "MPL-2.0" are named as such.
COPYLEFT = ("gpl", "lgpl", "agpl", "mpl", "epl", "cddl", "eupl", "sspl", "osl", "cecill", "cpal",
            "artistic", "gfdl", "cc-by-sa", "ms-rl")


def _norm(name: str) -> str:
    n = name.strip().strip("()").strip().lower()
    n = re.sub(r"\s+with\s+.*$", "", n)  # "GPL-2+ with exception" -> judged on its base licence
    n = re.sub(r"(\+|-or-later|-only)$", "", n)
    return n


def _judge_name(name: str) -> str | None:
    """None if permissive, else a reason."""
    n = _norm(name)
    if n in PERMISSIVE or re.fullmatch(r"(python|psf|cnri-python)(-[\d.]+)?", n):
        return None
    if n.startswith(COPYLEFT) or n == "unlicensed" or n.startswith("see licen"):
        return f"licence not permissive: {name.strip()}"
    return f"unknown licence: {name.strip() or '(empty)'}"


def _split_top(expr: str, word: str) -> list[str]:
    """Split on ' word ' (case-insensitive) outside parentheses."""
    parts, depth, start, i = [], 0, 0, 0
    pat = re.compile(rf"\s+{word}\s+", re.I)
    while i < len(expr):
        c = expr[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif depth == 0:
            m = pat.match(expr, i)
            if m and i > 0 and expr[i].isspace():
                parts.append(expr[start:i])
                start = i = m.end()
                continue
        i += 1
    parts.append(expr[start:])
    return parts


def judge_expression(expr: str) -> str | None:
    """Judge an SPDX-like expression ('MIT', '(MIT OR GPL-3.0)', 'BSD-3-clause and Expat').
    Returns None when permissive, else the reason. 'or' needs one permissive side, 'and' needs all."""
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")") and _balanced(expr[1:-1]):
        expr = expr[1:-1].strip()
    alts = _split_top(expr, "or")
    if len(alts) > 1:
        reasons = [judge_expression(a) for a in alts]
        return None if any(r is None for r in reasons) else reasons[0]
    parts = [p for p in re.split(r"\s*,\s*", expr)] if "," in expr and "(" not in expr else [expr]
    conj = [q for p in parts for q in _split_top(p, "and")]
    if len(conj) > 1:
        for c in conj:
            r = judge_expression(c)
            if r:
                return r
        return None
    return _judge_name(expr)


def _balanced(s: str) -> bool:
    depth = 0
    for c in s:
        depth += (c == "(") - (c == ")")
        if depth < 0:
            return False
    return depth == 0


def npm_license(pkg: dict) -> tuple[str, str | None]:
    """(licence as recorded, reason to skip or None) from a parsed package.json."""
    lic = pkg.get("license")
    if isinstance(lic, dict):
        lic = lic.get("type")
    if not lic and isinstance(pkg.get("licenses"), list):  # legacy form: [{"type": "MIT"}, ...]
        names = [x.get("type") if isinstance(x, dict) else str(x) for x in pkg["licenses"]]
        lic = " OR ".join(n for n in names if n)
    if not isinstance(lic, str) or not lic.strip():
        return "", "no licence declared"
    return lic.strip(), judge_expression(lic)


# Phrases of well-known licence texts, for DEP-5 paragraphs that name their licence vaguely
# ("other", "BSD-like", an empty name followed by the full text).
_COPYLEFT_TEXT = re.compile(r"GNU (Lesser |Library |Affero )?General Public|Mozilla Public License|"
                            r"Eclipse Public License|Common Development and Distribution", re.I)
_PERMISSIVE_TEXT = re.compile(
    r"Redistribution and use in source and binary forms|Permission is hereby granted, free of charge|"
    r"Permission to use, copy, modify|Permission to copy, use, modify|Apache License,? Version 2|"
    r"Python Software Foundation|\bPSF\b|placed in(to)? the public domain|in the public domain|"
    r"provided ['\"]as-is['\"], without any express or implied warranty|Boost Software License|"
    r"may be freely copied,\s+modified,\s+and\s+redistributed|"
    r"Redistributions of source code must retain the above copyright", re.I)
# Files: patterns that cannot hold Python code (fonts, C, styles, images...): their licences do
# not cover anything the corpus takes from the package.
_NON_PY = re.compile(r"\.(?!py\b|pyi\b)[A-Za-z0-9]{1,5}$|(^|/)(fonts?|docs?|images?|icons|css|_static)/", re.I)


def judge_text(text: str) -> str | None:
    """Classify a licence by its text: None (permissive) or a reason."""
    # Permissive phrases first: the Python licence (permissive) tells the GPL's history in passing.
    if _PERMISSIVE_TEXT.search(text):
        return None
    if _COPYLEFT_TEXT.search(text):
        return "licence not permissive: text names a GNU/MPL/EPL licence"
    return "unknown licence"


def debian_licenses(copyright_text: str) -> tuple[list[str], str | None]:
    """Licence names of a DEP-5 copyright file and the reason to skip (or None).

    Only paragraphs that can cover the Python files the corpus takes are judged: Files: lists all
    under debian/ (the packaging, often GPL even for BSD software) or all non-Python files (fonts,
    C sources, CSS) are ignored. A licence is judged by its name, and where the name is not a known
    one ("other", empty, "BSD-like"), by its text (inline or in a stand-alone License: paragraph).
    """
    paras = [p for p in re.split(r"\n\s*\n", copyright_text.replace("\r\n", "\n")) if p.strip()]
    if not paras or not re.search(r"^Format:\s*\S+", paras[0], re.M | re.I):
        return [], "unknown licence: copyright file is not machine-readable (DEP-5)"
    texts: dict[str, str] = {}
    for p in paras:  # stand-alone licence texts, by name
        if not re.search(r"^Files:", p, re.M | re.I):
            lic = _field_block(p, "License")
            name, _, text = lic.partition("\n")
            if name.strip():
                texts.setdefault(name.strip().lower(), text)
    names: list[str] = []
    reason = None
    for i, p in enumerate(paras):
        if not re.search(r"^License:", p, re.M | re.I):
            continue
        if re.search(r"^Files:", p, re.M | re.I):
            files = re.findall(r"\S+", _field_block(p, "Files"))
            if files and all(f.startswith("debian/") or _NON_PY.search(f) for f in files):
                continue
        elif i != 0:
            continue
        name, _, text = _field_block(p, "License").partition("\n")
        name = name.strip()
        r = judge_expression(name) if name else "unknown licence"
        if r and r.startswith("unknown licence"):
            full = name + "\n" + text + "\n" + texts.get(name.lower(), "")
            r2 = judge_text(full)
            if r2 != "unknown licence":
                r = r2
            if r is None and not name:
                name = "(licence text, permissive)"
        names.append(name or "(empty)")
        reason = reason or (r and (r if r != "unknown licence" else f"unknown licence: {name or '(empty)'}"))
    if not names:
        return [], "no licence declared in copyright file"
    return sorted(set(names)), reason


def _field_block(para: str, field: str) -> str:
    """The value of a (possibly multi-line, continuation-indented) field."""
    m = re.search(rf"^{field}:[ \t]*(.*(?:\n[ \t]+.*)*)", para, re.M | re.I)
    return m.group(1) if m else ""
