"""The voice library (issue #16): consent, storage, forgetting, and what a corrected result teaches.

Storage tests use made-up vectors; `test_learn_from_the_sample…` runs the real CAM++ model and
Silero VAD on the bundled sample (seconds, no Whisper or pyannote).
"""

from __future__ import annotations

import json
import stat
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipeline import voices
from pipeline.errors import KaigirokuError
from pipeline.fileio import sha256_file
from pipeline.meeting import load_meeting
from pipeline.types import AudioInfo, Minutes, Speaker, Transcript, Turn, Utterance

BODY = "緑川町公民館運営審議会"


def unit(seed: int, dim: int = 192) -> tuple[float, ...]:
    v = np.random.default_rng(seed).standard_normal(dim)
    return tuple(float(x) for x in v / np.linalg.norm(v))


def entry(meeting: str, seed: int, model: str = "m1", learned: str = "2024-10-15T14:00:00+09:00"):
    return voices.VoiceEntry(meeting, learned, 25.0, model, unit(seed))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_nothing_is_learned_without_the_bodys_consent(tmp_path):
    with pytest.raises(KaigirokuError, match="同意"):
        voices.add_entries(tmp_path, BODY, "山本 健一", [entry("a", 1)])
    assert voices.bodies(tmp_path) == []
    # and `learn` refuses before it looks for the recording or loads a model
    result = tmp_path / "OUT.json"
    result.write_text(json.dumps(_minutes(audio="/nowhere.flac").to_dict(), ensure_ascii=False), encoding="utf-8")
    with pytest.raises(KaigirokuError, match="kaigiroku voices consent"):
        voices.learn(result, tmp_path, options=None)


def test_files_are_private_and_forget_removes_every_trace(tmp_path):
    root = tmp_path / "lib"
    voices.set_consent(root, BODY, "第1回で全員同意")
    assert voices.add_entries(root, BODY, "山本 健一", [entry("a", 1), entry("a", 2)]) == 2
    voices.add_entries(root, BODY, "佐藤 由美", [entry("a", 3)])
    voices.set_consent(root, "別の委員会", "")
    voices.add_entries(root, "別の委員会", "山本 健一", [entry("b", 4)])
    files = sorted((root / "voices").glob("*.json"))
    assert len(files) == 2
    assert mode(root) == 0o700 and mode(root / "voices") == 0o700
    assert all(mode(f) == 0o600 for f in files)
    listed = {v.body: {n: len(e) for n, e in v.people.items()} for v in voices.bodies(root)}
    assert listed == {BODY: {"山本 健一": 2, "佐藤 由美": 1}, "別の委員会": {"山本 健一": 1}}

    assert sorted(voices.forget(root, "山本　健一")) == sorted([BODY, "別の委員会"])  # full-width space: same person
    raw = b"".join(f.read_bytes() for f in (root / "voices").glob("*.json"))
    assert "山本".encode() not in raw and "佐藤".encode() in raw
    assert all(mode(f) == 0o600 for f in (root / "voices").glob("*.json"))
    assert voices.forget(root, "山本 健一") == []

    assert voices.delete_body(root, BODY)
    assert [v.body for v in voices.bodies(root)] == ["別の委員会"]
    assert "佐藤".encode() not in b"".join(f.read_bytes() for f in (root / "voices").glob("*.json"))


def test_a_meeting_learned_again_replaces_itself_and_old_meetings_make_room(tmp_path):
    voices.set_consent(tmp_path, BODY)
    opts = voices.LearnOptions(per_person=3)
    for i, day in enumerate(["01", "02", "03"]):
        voices.add_entries(tmp_path, BODY, "石井 真理", [entry(f"m{i}", i, learned=f"2024-{day}-01T10:00:00")], opts)
    voices.add_entries(tmp_path, BODY, "石井 真理", [entry("m2", 9, learned="2024-03-02T10:00:00")], opts)
    kept = voices.load_body(tmp_path, BODY).people["石井 真理"]
    assert [e.meeting for e in kept] == ["m0", "m1", "m2"] and kept[-1].embedding == pytest.approx(unit(9), abs=1e-6)
    voices.add_entries(tmp_path, BODY, "石井 真理", [entry("m3", 10, learned="2024-04-01T10:00:00")], opts)
    assert [e.meeting for e in voices.load_body(tmp_path, BODY).people["石井 真理"]] == ["m1", "m2", "m3"]


def test_the_draft_gets_only_known_people_embedded_by_its_own_model(tmp_path):
    voices.set_consent(tmp_path, BODY)
    voices.add_entries(tmp_path, BODY, "小林 明子", [entry("a", 1), entry("b", 2), entry("c", 3, model="old")])
    got = voices.voices_for(tmp_path, BODY, ["小林　明子", "田村 浩"], "m1")
    assert list(got) == ["小林　明子"] and got["小林　明子"].shape == (2, 192)
    assert voices.voices_for(tmp_path, "別の委員会", ["小林 明子"], "m1") == {}
    assert voices.voices_for(tmp_path / "none", BODY, ["小林 明子"], "m1") == {}
    assert voices.digest(got["小林　明子"]) != voices.digest(got["小林　明子"][:1])


def _minutes(audio: str = "meeting.flac", sha: str = "0" * 64) -> Minutes:
    meeting = load_meeting(Path(__file__).parent / "data" / "sample" / "meeting.yaml")
    speakers = (Speaker("P1", "委員長", "山本 健一", "委員長"), Speaker("P5", "説明者", "佐藤 由美", "説明者"),
                Speaker("U1", "発言者不明1"), Speaker("ALL", "一同"), Speaker("E1", "委員", "石井 真理", "委員"))
    utts = (Utterance(0, 10, "P1", (), "a"), Utterance(10, 20, "P5", (), "b"),
            Utterance(20, 30, "P1", (), "c", speaker_uncertain=True), Utterance(30, 40, "U1", (), "d"),
            Utterance(40, 42, "ALL", (), "はい"), Utterance(42, 50, "E1", (), "e"), Utterance(50, 60, "P1", (), "f"))
    turns = tuple(Turn(u.start, u.end, u.speaker) for u in utts)
    return Minutes(AudioInfo(audio, sha, 60.0, 16000, 1), meeting.to_dict(), Transcript("ja", 60.0, ()),
                   speakers, utts, turns=turns, overlaps=(Turn(5, 7, "P5"), Turn(52, 53, "U1")))


def test_what_a_result_teaches_is_each_named_persons_own_voice_alone():
    people, unnamed = voices.named_speech(_minutes())
    by_name = {p.name: p for p in people}
    assert sorted(unnamed) == ["一同", "発言者不明1"]
    yamamoto = by_name["山本 健一"]
    # 0–10 without the second voice at 5–7, 50–60 without 52–53; 20–30 is still flagged
    assert yamamoto.spans == ((0, 5), (7, 10), (50, 52), (53, 60))
    assert yamamoto.unchecked == 1 and yamamoto.overlapped == pytest.approx(3)
    assert by_name["佐藤 由美"].spans == ((10, 20),)
    assert by_name["石井 真理"].spans == ((42, 50),)  # the editor's own attribution counts
    everything = voices.named_speech(_minutes(), voices.LearnOptions(skip_unchecked=False))[0]
    assert next(p for p in everything if p.name == "山本 健一").spans[2] == (20, 30)


def test_outcome_lines_say_what_was_learned_and_why_not():
    assert "学習しました" in voices.Outcome("山本 健一", 2, 41.0, 4, "").line()
    line = voices.Outcome("小林 明子", 0, 12.0, 0, "本人だけの話し声が 12 秒で、20 秒に足りません").line()
    assert line.startswith("小林 明子: 学習しません") and "20 秒" in line


# --- with the real CAM++ model --------------------------------------------------------------

SAMPLE = Path(__file__).parent / "data" / "sample"


@pytest.fixture(scope="module")
def sample_minutes() -> Minutes:
    """The bundled sample's true turns as a corrected result would hold them."""
    truth = json.loads((SAMPLE / "truth.json").read_text(encoding="utf-8"))
    meeting = load_meeting(SAMPLE / "meeting.yaml")
    ids = {p.name: f"P{i + 1}" for i, p in enumerate(meeting.participants)}
    utts = tuple(Utterance(t["start"], t["end"], ids[t["name"]], (), t["spoken"]) for t in truth["turns"])
    speakers = tuple(Speaker(ids[p.name], p.role, p.name, p.role) for p in meeting.participants
                     if ids[p.name] in {u.speaker for u in utts})
    audio = SAMPLE / "meeting.flac"
    return Minutes(AudioInfo(str(audio), sha256_file(audio), 83.5, 16000, 1), meeting.to_dict(),
                   Transcript("ja", 83.5, ()), speakers, utts,
                   turns=tuple(Turn(u.start, u.end, u.speaker) for u in utts))


def test_learn_from_the_sample_keeps_each_voice_nearest_its_own_clip(tmp_path, sample_minutes, options):
    pytest.importorskip("torch")
    from pipeline.campplus import embed_waveform, load_campplus
    from pipeline.identify import SR, load_voice_clips
    from pipeline.models import resolve

    result = tmp_path / "OUT.json"
    # the sample is 83 s: each person speaks 10–30 s, so the 20 s rule is lowered for it
    few = voices.LearnOptions(min_speech=12.0, piece_speech=6.0)
    result.write_text(json.dumps(sample_minutes.to_dict(), ensure_ascii=False), encoding="utf-8")
    voices.set_consent(tmp_path, BODY)
    outcomes = {o.who: o for o in voices.learn(result, tmp_path, options, learn_options=few)}
    assert outcomes["石井 真理"].added == 0 and "足りません" in outcomes["石井 真理"].reason  # 9.9 s of speech
    learned = [n for n, o in outcomes.items() if o.added]
    assert {"山本 健一", "佐藤 由美", "小林 明子"} <= set(learned)
    assert outcomes["佐藤 由美"].added >= 3  # 30 s: several pieces

    model = load_campplus(resolve(options.diarize.embedding, "embedding").path)
    meeting = load_meeting(SAMPLE / "meeting.yaml")
    clips = {c.participant.name: embed_waveform(model, c.samples)
             for c in load_voice_clips(meeting.participants, options.audio, options.identify)}
    assert SR == 16000
    body = voices.load_body(tmp_path, BODY)
    for name in learned:
        for e in body.people[name]:
            sims = {other: float(np.dot(e.embedding, c)) for other, c in clips.items()}
            assert max(sims, key=sims.get) == name, (name, sims)


    # learning the same result again replaces its entries: nothing doubles
    again = voices.learn(result, tmp_path, options, learn_options=few)
    assert {o.who: o.kept for o in again if o.added} == {n: outcomes[n].kept for n in learned}

    # a recording that is not the result's is refused
    other = tmp_path / "other.json"
    other.write_text(json.dumps(replace(sample_minutes, audio=replace(sample_minutes.audio, sha256="f" * 64)).to_dict(),
                                ensure_ascii=False), encoding="utf-8")
    with pytest.raises(KaigirokuError, match="この結果の録音ではありません"):
        voices.learn(other, tmp_path, options, learn_options=few)


def test_cli_learn_says_per_person_what_it_learned(tmp_path, sample_minutes, capsys):
    pytest.importorskip("torch")
    from pipeline.cli import main

    result = tmp_path / "OUT.json"
    result.write_text(json.dumps(sample_minutes.to_dict(), ensure_ascii=False), encoding="utf-8")
    lib = str(tmp_path / "lib")
    assert main(["voices", "learn", str(result), "--library", lib]) == 1  # no consent yet
    assert "kaigiroku voices consent" in capsys.readouterr().err
    voices.set_consent(Path(lib), BODY)
    assert main(["voices", "learn", str(result), "--library", lib]) == 0
    out = capsys.readouterr().out
    assert "佐藤 由美: 学習しました" in out  # 30 s of speech
    assert "石井 真理: 学習しません — 本人だけの話し声が" in out and "20 秒に足りません" in out  # 10 s


def test_cli_consent_list_and_forget(tmp_path, capsys):
    from pipeline.cli import main

    lib = str(tmp_path / "lib")
    assert main(["voices", "consent", BODY, "--library", lib]) == 1  # no --yes: nothing recorded
    assert voices.bodies(tmp_path / "lib") == []
    assert main(["voices", "consent", BODY, "--yes", "--note", "第1回 全員同意", "--voices", lib]) == 0
    voices.add_entries(tmp_path / "lib", BODY, "山本 健一", [entry("a", 1)])
    capsys.readouterr()
    assert main(["voices", "list", "--library", lib]) == 0
    out = capsys.readouterr().out
    assert BODY in out and "第1回 全員同意" in out and "山本 健一: 1 件" in out
    assert main(["voices", "forget", "佐藤 由美", "--library", lib]) == 1
    assert main(["voices", "forget", "山本 健一", "--library", lib]) == 0
    assert main(["voices", "consent", BODY, "--withdraw", "--library", lib]) == 0
    assert voices.bodies(tmp_path / "lib") == []
