"""The meeting file: what the clerk knows before the meeting (the contract other tools rely on).

```yaml
meeting: {body: 附属機関名, session: 回次, date: 日時, place: 場所, agenda: [次第の行, ...],
          member_labels: letters}      # letters (A委員… by first speech) | plain (委員) | names
participants:
  - {name: 田中 哲, role: 委員長, voice: voices/tanaka.flac}
  - {name: 花岡, role: 説明者, label: 東部公民館長, title: 東部公民館長}
absent: [苫米地 義之]
vocabulary: [おいらせ町, 行政経営アクションプラン]
speakers: {話者1: 田中 哲}           # optional: rename speakers found without enrollment
```

Unknown keys and roles are errors (a typo must not silently drop a participant); `voice`
paths are relative to the meeting file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import KaigirokuError

ROLES = ("委員長", "副委員長", "会長", "副会長", "委員", "事務局", "説明者")
MEMBER_LABEL_STYLES = ("letters", "plain", "names")

_TOP_KEYS = {"meeting", "participants", "absent", "vocabulary", "speakers"}
_MEETING_KEYS = {"body", "session", "date", "place", "agenda", "member_labels"}
_PARTICIPANT_KEYS = {"name", "role", "title", "label", "voice"}


@dataclass(frozen=True)
class Participant:
    name: str
    role: str  # one of ROLES
    title: str | None = None  # 職名, printed in the header (総務課 主任主査)
    label: str | None = None  # overrides the printed speaker label
    voice: Path | None = None  # enrollment clip, absolute after loading

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "title": self.title, "label": self.label,
                "voice": str(self.voice) if self.voice else None}


@dataclass(frozen=True)
class MeetingInfo:
    body: str = ""  # 附属機関名
    session: str = ""  # 回次
    date: str = ""  # 日時
    place: str = ""  # 場所
    agenda: tuple[str, ...] = ()  # 次第及び進行, one line per item
    member_labels: str = "letters"


@dataclass(frozen=True)
class Meeting:
    info: MeetingInfo
    participants: tuple[Participant, ...] = ()
    absent: tuple[str, ...] = ()
    vocabulary: tuple[str, ...] = ()
    speakers: tuple[tuple[str, str], ...] = ()  # (found label, participant name or new label)
    source: str | None = None  # the file it was read from

    def to_dict(self) -> dict[str, Any]:
        i = self.info
        return {
            "meeting": {"body": i.body, "session": i.session, "date": i.date, "place": i.place,
                        "agenda": list(i.agenda), "member_labels": i.member_labels},
            "participants": [p.to_dict() for p in self.participants],
            "absent": list(self.absent),
            "vocabulary": list(self.vocabulary),
            "speakers": dict(self.speakers),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Meeting":
        """Rebuild from OUT.json (already validated when it was written)."""
        m = d.get("meeting") or {}
        return cls(
            info=MeetingInfo(m.get("body", ""), m.get("session", ""), m.get("date", ""),
                             m.get("place", ""), tuple(m.get("agenda", ())),
                             m.get("member_labels", "letters")),
            participants=tuple(
                Participant(p["name"], p["role"], p.get("title"), p.get("label"),
                            Path(p["voice"]) if p.get("voice") else None)
                for p in d.get("participants", ())),
            absent=tuple(d.get("absent", ())),
            vocabulary=tuple(d.get("vocabulary", ())),
            speakers=tuple((d.get("speakers") or {}).items()),
            source=d.get("source"),
        )


def empty_meeting() -> Meeting:
    return Meeting(info=MeetingInfo())


def load_meeting(path: str | Path) -> Meeting:
    """Read and validate a meeting file; every problem is one KaigirokuError line."""
    path = Path(path)
    where = f"会議ファイル {path}"
    if not path.is_file():
        raise KaigirokuError(f"{where} が見つかりません。--meeting のパスを確認してください。",
                             "meeting file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise KaigirokuError(f"{where} を読めません (UTF-8 ではありません)。UTF-8 で保存し直してください。",
                             str(e)) from e
    return replace(parse_meeting(text, where, path.parent), source=str(path))


def parse_meeting(text: str, where: str = "会議ファイル", voices_base: Path | None = None) -> Meeting:
    """Validate meeting-file text (the same checks and messages as `load_meeting`).

    `voices_base`: the folder `voice:` paths are relative to; each clip must exist there. None
    (text posted to a server): the paths are kept as written and never opened — a server must
    not read files that a request names.
    """
    import yaml  # light, but only needed here

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" ({mark.line + 1}行目)" if mark is not None else ""
        raise KaigirokuError(f"{where} の書式に誤りがあります{at}。YAML の字下げ・コロン・引用符を確認してください。",
                             str(e)) from e
    return meeting_from_data(data, where, voices_base)


def meeting_from_data(data: Any, where: str = "会議ファイル", voices_base: Path | None = None) -> Meeting:
    """Validate the meeting file's content as loaded from YAML (or sent as JSON with the same
    fields); `voices_base` as in `parse_meeting`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise KaigirokuError(f"{where} の形式が違います。meeting: / participants: などの項目で書いてください。")
    _check_keys(data, _TOP_KEYS, where)

    info = _meeting_info(data.get("meeting") or {}, where)
    participants = tuple(_participant(p, i, voices_base, where)
                         for i, p in enumerate(_list(data, "participants", where)))
    names = [p.name for p in participants]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise KaigirokuError(f"{where}: 参加者 {dup[0]} が2回書かれています。1回にしてください。")
    absent = tuple(str(a) for a in _list(data, "absent", where))
    vocabulary = tuple(str(v) for v in _list(data, "vocabulary", where))
    speakers = data.get("speakers") or {}
    if not isinstance(speakers, dict):
        raise KaigirokuError(f"{where}: speakers は「話者1: 参加者名」の形で書いてください。")
    return Meeting(info=info, participants=participants, absent=absent, vocabulary=vocabulary,
                   speakers=tuple((str(k), str(v)) for k, v in speakers.items()))


def dump_meeting(meeting: Meeting) -> str:
    """The meeting file's text (what `load_meeting`/`parse_meeting` read back to `meeting`).
    Voice paths are written as they are held (absolute after loading); empty fields are left out."""
    import yaml

    i = meeting.info
    data: dict[str, Any] = {"meeting": {"body": i.body, "session": i.session, "date": i.date, "place": i.place,
                                        "agenda": list(i.agenda), "member_labels": i.member_labels}}
    data["participants"] = [{k: v for k, v in p.to_dict().items() if v is not None} for p in meeting.participants]
    for key, value in (("absent", meeting.absent), ("vocabulary", meeting.vocabulary)):
        if value:
            data[key] = list(value)
    if meeting.speakers:
        data["speakers"] = dict(meeting.speakers)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False)


def _check_keys(d: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(map(str, d)) - allowed)
    if unknown:
        raise KaigirokuError(
            f"{where}: 不明な項目「{unknown[0]}」があります。使える項目: {', '.join(sorted(allowed))}。")


def _list(d: dict, key: str, where: str) -> list:
    value = d.get(key) or []
    if not isinstance(value, list):
        raise KaigirokuError(f"{where}: {key} は「- 」で始まる一覧で書いてください。")
    return value


def _meeting_info(m: Any, where: str) -> MeetingInfo:
    if not isinstance(m, dict):
        raise KaigirokuError(f"{where}: meeting: の下に body, session, date, place, agenda を書いてください。")
    _check_keys(m, _MEETING_KEYS, f"{where} の meeting")
    style = str(m.get("member_labels", "letters"))
    if style not in MEMBER_LABEL_STYLES:
        raise KaigirokuError(f"{where}: member_labels「{style}」は使えません。"
                             f"{' / '.join(MEMBER_LABEL_STYLES)} のどれかにしてください。")
    agenda = m.get("agenda") or []
    if not isinstance(agenda, list):
        raise KaigirokuError(f"{where}: agenda は「- 」で始まる一覧で書いてください。")
    return MeetingInfo(body=_text(m.get("body")), session=_text(m.get("session")),
                       date=_text(m.get("date")), place=_text(m.get("place")),
                       agenda=tuple(_text(a) for a in agenda), member_labels=style)


def _participant(p: Any, index: int, base: Path | None, where: str) -> Participant:
    if not isinstance(p, dict) or not p.get("name"):
        raise KaigirokuError(f"{where}: participants の{index + 1}人目に name がありません。")
    name = _text(p["name"])
    who = f"{where} の参加者 {name}"
    _check_keys(p, _PARTICIPANT_KEYS, who)
    role = _text(p.get("role"))
    if role not in ROLES:
        raise KaigirokuError(f"{who}: 役割「{role}」は使えません。{'、'.join(ROLES)} のどれかにしてください。")
    voice = None
    if p.get("voice") and base is None:
        voice = Path(str(p["voice"]))  # as written: not opened (see parse_meeting)
    elif p.get("voice"):
        voice = (base / str(p["voice"])).resolve()
        if not voice.is_file():
            raise KaigirokuError(f"{who}: 声の録音 {voice} が見つかりません。voice のパス"
                                 f"（会議ファイルからの相対パス）を確認してください。")
    return Participant(name=name, role=role, title=_opt(p.get("title")), label=_opt(p.get("label")),
                       voice=voice)


def _text(v: Any) -> str:
    return "" if v is None else str(v).strip()


def _opt(v: Any) -> str | None:
    return None if v is None or str(v).strip() == "" else str(v).strip()
