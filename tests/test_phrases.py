"""The cleaning rules on phrases from municipal minutes (tests/data/phrases.tsv, issue #12).

Every phrase must come out exactly as written there; a phrase marked `keep` must in addition
keep every kanji numeral it has: no number may turn Arabic where it is a word, a set phrase, an
approximate number, a 和語 count or a name.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.clean import clean_text

PHRASES = Path(__file__).parent / "data" / "phrases.tsv"
KANJI_NUMERALS = re.compile("[〇零一二三四五六七八九十百千万億兆]")


def _load() -> list[tuple[str, str, str, str]]:
    rows = []
    for line in PHRASES.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            source, expected, rule, why = line.split("\t")
            rows.append((source, expected, rule, why))
    return rows


ROWS = _load()


@pytest.mark.parametrize("source, expected, rule, why", ROWS, ids=[r[0] for r in ROWS])
def test_phrase_is_cleaned_as_the_minutes_write_it(source, expected, rule, why):
    assert clean_text(source) == expected, why


@pytest.mark.parametrize("source", [r[0] for r in ROWS if r[2] == "keep"])
def test_kept_numerals_do_not_change(source):
    out = clean_text(source)
    assert KANJI_NUMERALS.findall(out) == KANJI_NUMERALS.findall(source)
    assert re.findall(r"\d", out) == re.findall(r"\d", source)


def test_the_corpus_covers_the_issue():
    sources = {r[0] for r in ROWS}
    assert len(ROWS) >= 150
    assert {r[2] for r in ROWS} == {"convert", "keep", "filler", "punct"}
    issue = ["十分に検討したい", "時間は十分あります", "一時休憩", "一時保育", "一人一人", "第三者", "一目で",
             "十人十色", "数十人", "数百万円", "二三日中に", "三四人", "四日市市", "十日町市", "三日月", "十分注意するよう"]
    assert set(issue) <= sources
    # the guide's forms: 和語の数詞, approximate numbers, names, and counted quantities
    assert {"二つ目の観点として", "二、三日お時間をください", "三、四年はかかると考えております", "八戸市の考え方としては",
            "六戸町と五戸町", "十和田市や三沢市に関しては", "九州や四国の事例", "午後二時から再開します",
            "二時から始めます", "二者択一ではない"} <= sources
