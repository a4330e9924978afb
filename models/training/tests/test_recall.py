"""recall.py against the golden cases the TypeScript engine also reproduces (test/fixtures/recall-parity.json):
the mixed distributions agree within 1e-5 at every step."""
import json
from pathlib import Path

import numpy as np

from recall import RecallMatcher, RecallOptions, Source

FIXTURE = Path(__file__).resolve().parents[3] / "test" / "fixtures" / "recall-parity.json"


def test_recall_mixture_matches_the_typescript_engine():
    cases = json.loads(FIXTURE.read_text())
    assert len(cases) >= 20
    worst, changed = 0.0, 0
    for c in cases:
        sources = [Source(s["ids"], s.get("distance", 0), s.get("skipFrom"), s.get("skipTo")) for s in c["sources"]]
        m = RecallMatcher(sources, c["context"], RecallOptions.from_ts(c["options"]))
        for step, (p, want, token) in enumerate(zip(c["probs"], c["expected"], c["advance"])):
            got = m.mix(np.asarray(p, dtype=np.float64))
            worst = max(worst, float(np.abs(got - np.asarray(want)).max()))
            changed += bool(np.abs(np.asarray(want) - np.asarray(p)).max() > 1e-3)
            m.advance(token)
    assert worst <= 1e-5, f"largest difference {worst}"
    assert changed > 40


def test_far_files_weigh_less_than_the_document():
    o = RecallOptions(max_order=4)
    p = np.full(10, 0.1)
    near = RecallMatcher([Source([1, 2, 4])], [1, 2], o).mix(p)
    far = RecallMatcher([Source([1, 2, 4], distance=2)], [1, 2], o).mix(p)
    assert near[4] > far[4] > 0.1 and abs(far.sum() - 1) < 1e-9
