"""Agenda headings on a test set of announcements and non-announcements (issue 12).

tests/data/headings.yaml holds the cases: Whisper's drafts of seed_dev and the sample, their
truth texts, meetings that start mid-agenda (after the break, a second day) with the mishearings
Whisper makes, and sentences that name an item without announcing it. A heading is right when
its title and place are those expected; precision must be 1.0 (a wrong heading is worse than
none: the editor can add one in a click, but must read everything to find a wrong one).
"""

from pathlib import Path

import pytest
import yaml

from pipeline.agenda import find_headings
from pipeline.types import Utterance

CASES = yaml.safe_load((Path(__file__).parent / "data" / "headings.yaml").read_text(encoding="utf-8"))
# Measured when this set was built (issue 12). Enrolled: 61 of the 62 true headings found (平会,
# read タイラカイ, is missed). Without enrollment only the strongest forms count (pipeline.agenda):
# 7 of 12 (the others are marks instead). Recall below these means a rule got weaker; precision
# below 1.0 that a rule got wrong.
RECALL_FLOOR = {"enrolled": 0.98, "without enrollment": 0.5}


def run(case):
    utts = [Utterance(10.0 * i, 10.0 * i + 8, label, (), text) for i, (label, text) in enumerate(case["utterances"])]
    labels = {label: label for label, _ in case["utterances"]}
    out, headings = find_headings(utts, CASES["agendas"][case["agenda"]], labels=labels)
    marks = [(i, m.note) for i, u in enumerate(out) for m in u.marks if m.kind == "heading"]
    return headings, marks


def expected(lines):
    return [(int(line.split(" ", 1)[0]), line.split(" ", 1)[1]) for line in lines or ()]


def matches(got, want):
    """(before, title) against an expected (before, start of the title)."""
    return got[0] == want[0] and got[1].startswith(want[1])


def score(case):
    headings, _ = run(case)
    got = [(h.before, h.title) for h in headings]
    want = expected(case["headings"])
    right = sum(any(matches(g, w) for w in want) for g in got)
    found = sum(any(matches(g, w) for g in got) for w in want)
    return right, len(got), found, len(want)


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["name"] for c in CASES["cases"]])
def test_case(case):
    headings, marks = run(case)
    got = [(h.before, h.title) for h in headings]
    want = expected(case["headings"])
    wrong = [g for g in got if not any(matches(g, w) for w in want)]
    assert not wrong, f"headings where nothing was announced: {wrong}"
    assert all(h.source == "agenda" for h in headings)
    assert [h.before for h in headings] == sorted(h.before for h in headings)
    if "marks" in case:
        assert [m for m in marks if any(matches(m, w) for w in expected(case["marks"]))] == marks
        assert all(any(matches(m, w) for m in marks) for w in expected(case["marks"]))


def anonymous(case):
    """Made without enrollment: nobody is known to chair (話者1 …)."""
    return all(label.startswith("話者") for label, _ in case["utterances"])


def measure(cases):
    right = total = found = wanted = 0
    for case in cases:
        r, t, f, w = score(case)
        right, total, found, wanted = right + r, total + t, found + f, wanted + w
    return right, total, found, wanted


def test_precision_and_recall(capsys):
    lines = []
    for what, cases in (("enrolled", [c for c in CASES["cases"] if not anonymous(c)]),
                        ("without enrollment", [c for c in CASES["cases"] if anonymous(c)])):
        right, total, found, wanted = measure(cases)
        announcing = sum(bool(c["headings"]) for c in cases)
        lines.append(f"headings, {what}: {len(cases)} cases ({announcing} with announcements), precision "
                     f"{right / max(1, total):.3f} ({right}/{total}), recall {found / max(1, wanted):.3f} ({found}/{wanted})")
        assert right == total, what  # precision 1.0: never a wrong heading
        assert found / max(1, wanted) >= RECALL_FLOOR[what], what
    with capsys.disabled():
        print("\n" + "\n".join(lines))


def test_the_set_covers_what_the_issue_asks():
    names = " ".join(c["name"] for c in CASES["cases"])
    texts = " ".join(t for c in CASES["cases"] for _, t in c["utterances"])
    assert len(CASES["cases"]) >= 40
    assert sum(not c["headings"] for c in CASES["cases"]) >= 15  # non-announcements
    for heard in ("編解", "閉界", "再会", "案件のに", "案件位置"):
        assert heard in texts
    assert "second half" in names and "second day" in names
