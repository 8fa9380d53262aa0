from pathlib import Path

import pytest

from pipeline.errors import KaigirokuError
from pipeline.meeting import Meeting, load_meeting

GOOD = """\
meeting:
  body: おいらせ町行政経営推進委員会
  session: 令和2年度 第1回
  date: 令和2年9月25日（金曜日）
  place: 庁議室
  agenda: ["14:00 開会", "15:30 閉会"]
participants:
  - {name: 田中 哲, role: 委員長, voice: voices/tanaka.flac}
  - {name: 兼田 敦史, role: 事務局, title: 総務課 主任主査}
  - {name: 花岡, role: 説明者, label: 東部公民館長}
absent: [苫米地 義之]
vocabulary: [おいらせ町]
"""


def write(tmp_path: Path, text: str, clip: bool = True) -> Path:
    if clip:
        (tmp_path / "voices").mkdir(exist_ok=True)
        (tmp_path / "voices" / "tanaka.flac").write_bytes(b"x")
    path = tmp_path / "meeting.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_file_is_read_with_voice_paths_relative_to_it(tmp_path):
    m = load_meeting(write(tmp_path, GOOD))
    assert m.info.body == "おいらせ町行政経営推進委員会"
    assert m.info.agenda == ("14:00 開会", "15:30 閉会")
    assert m.info.member_labels == "letters"
    assert [p.role for p in m.participants] == ["委員長", "事務局", "説明者"]
    assert m.participants[0].voice == (tmp_path / "voices" / "tanaka.flac").resolve()
    assert m.participants[2].label == "東部公民館長"
    assert m.absent == ("苫米地 義之",) and m.vocabulary == ("おいらせ町",)


def test_round_trip_through_dict(tmp_path):
    m = load_meeting(write(tmp_path, GOOD))
    assert Meeting.from_dict(m.to_dict()) == m


@pytest.mark.parametrize("text, expected", [
    (GOOD.replace("role: 説明者", "role: 議長"), "花岡"),                     # unknown role names the person
    (GOOD.replace("absent:", "absnt:"), "absnt"),                             # unknown top-level key
    (GOOD.replace("title: 総務課", "titel: 総務課"), "titel"),                 # unknown participant key
    (GOOD.replace("agenda: [", "agenda: [[", 1), "行目"),                     # YAML syntax error, with the line
    (GOOD.replace("tanaka.flac", "nobody.flac"), "nobody.flac"),              # missing voice clip
    (GOOD.replace("  place:", "  member_labels: numbers\n  place:"), "member_labels"),  # not a style
    (GOOD.replace("花岡", "田中 哲"), "2回"),                                  # duplicate participant
])
def test_bad_files_give_one_clear_line(tmp_path, text, expected):
    with pytest.raises(KaigirokuError) as e:
        load_meeting(write(tmp_path, text))
    assert expected in e.value.message
    assert "\n" not in e.value.message


def test_missing_file(tmp_path):
    with pytest.raises(KaigirokuError, match="見つかりません"):
        load_meeting(tmp_path / "none.yaml")


def test_bench_meeting_file_is_valid():
    bench = Path(__file__).resolve().parents[2] / "shared" / "bench" / "seed_dev" / "meeting.yaml"
    if not bench.is_file():
        pytest.skip("../shared/bench is not beside this checkout")
    m = load_meeting(bench)
    assert len(m.participants) == 12
    assert sum(p.voice is not None for p in m.participants) == 7


def test_dump_reads_back_as_the_same_meeting(tmp_path):
    from pipeline.meeting import dump_meeting

    m = load_meeting(write(tmp_path, GOOD + "speakers: {話者1: 田中 哲}\n"))
    again = tmp_path / "again.yaml"
    again.write_text(dump_meeting(m), encoding="utf-8")
    back = load_meeting(again)
    assert back.info == m.info and back.participants == m.participants  # voices absolute: read from anywhere
    assert (back.absent, back.vocabulary, back.speakers) == (m.absent, m.vocabulary, m.speakers)
