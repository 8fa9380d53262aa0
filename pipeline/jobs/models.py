"""The app's and the service's data: SQLAlchemy 2 typed models.

One schema for `kaigiroku app` (SQLite in the data folder) and the shared service
(PostgreSQL); it changes only through the Alembic migrations beside this module, so a later
version upgrades a town's data in place. File paths are stored relative to the data folder:
the folder can move, and a worker on another machine mounts it under another name.

Names end in Row where pipeline already has a class of that name (pipeline.meeting.Meeting,
pipeline.recorder.Recording): the two are converted in `pipeline.jobs.meetings`.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (JSON, Boolean, Date, DateTime, Enum, Float, ForeignKey, Integer, MetaData, String, Text,
                        TypeDecorator, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Constraint names fixed by convention: migrations on SQLite (batch mode) and PostgreSQL can
# then name what they drop or change.
NAMING = {"ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_N_name)s",
          "ck": "ck_%(table_name)s_%(constraint_name)s",
          "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s", "pk": "pk_%(table_name)s"}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime on every database (SQLite keeps no time zone: stored as naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use pipeline.jobs.models.utcnow()")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class MeetingState(str, enum.Enum):
    """What the meeting list shows (issue 14, 会議一覧)."""

    PREPARING = "準備中"
    RECORDING = "録音中"
    WAITING = "原稿作成待ち"
    DRAFTING = "原稿作成中"
    REVIEWING = "校正中"
    DONE = "完了"
    ERROR = "エラー"


class JobState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # the values (Japanese for meetings) are stored, as VARCHAR + CHECK on every database
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=16,
                values_callable=lambda e: [m.value for m in e], validate_strings=True)


class Body(Base):
    """附属機関: a committee or council whose roster carries from meeting to meeting."""

    __tablename__ = "bodies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)  # as printed: 緑川町公民館運営審議会
    kind: Mapped[str] = mapped_column(String(40), default="")  # 委員会, 審議会 … (free text)
    member_labels: Mapped[str] = mapped_column(String(16), default="letters")  # meeting.MEMBER_LABEL_STYLES
    created: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[Member]] = relationship(back_populates="body", order_by="Member.position",
                                                 cascade="all, delete-orphan")
    meetings: Mapped[list[MeetingRow]] = relationship(back_populates="body_row")


class Member(Base):
    """One person of a body's roster (名簿), ticked as present when a meeting is prepared."""

    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("body_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    body_id: Mapped[int] = mapped_column(ForeignKey("bodies.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)  # order in the roster
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))  # meeting.ROLES
    title: Mapped[str | None] = mapped_column(String(100))  # 職名
    label: Mapped[str | None] = mapped_column(String(100))  # overrides the printed label
    voice: Mapped[str | None] = mapped_column(String(500))  # clip, relative to the data folder
    voice_sha256: Mapped[str | None] = mapped_column(String(64))
    # consent to keep the voice for recognising the person (個人情報: a voice print is personal
    # data); without it no clip is kept
    voice_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    voice_consent_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # left the body: kept for old meetings
    created: Mapped[datetime] = mapped_column(default=utcnow)

    body: Mapped[Body] = relationship(back_populates="members")


class MeetingRow(Base):
    """Everything meeting.yaml holds, plus where the meeting stands."""

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    body_id: Mapped[int | None] = mapped_column(ForeignKey("bodies.id", ondelete="SET NULL"), index=True)
    body: Mapped[str] = mapped_column(String(200), default="")  # 附属機関名 as printed in the header
    session: Mapped[str] = mapped_column(String(200), default="")  # 回次
    date: Mapped[str] = mapped_column(String(200), default="")  # 日時, as printed
    held_on: Mapped[date | None] = mapped_column(Date, index=True)  # for search; from `date` when it reads as one
    place: Mapped[str] = mapped_column(String(200), default="")
    agenda: Mapped[list[Any]] = mapped_column(default=list)  # 次第, one line per item
    member_labels: Mapped[str] = mapped_column(String(16), default="letters")
    absent: Mapped[list[Any]] = mapped_column(default=list)
    vocabulary: Mapped[list[Any]] = mapped_column(default=list)
    speakers: Mapped[list[Any]] = mapped_column(default=list)  # [[found label, name], …] in order
    state: Mapped[MeetingState] = mapped_column(_enum(MeetingState, "meeting_state"), default=MeetingState.PREPARING)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    body_row: Mapped[Body | None] = relationship(back_populates="meetings")
    attendees: Mapped[list[Attendee]] = relationship(back_populates="meeting", order_by="Attendee.position",
                                                     cascade="all, delete-orphan")
    recordings: Mapped[list[RecordingRow]] = relationship(back_populates="meeting", order_by="RecordingRow.id",
                                                          cascade="all, delete-orphan")


class Attendee(Base):
    """A participant of one meeting (meeting.yaml `participants:`), linked to the roster when known."""

    __tablename__ = "attendees"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    title: Mapped[str | None] = mapped_column(String(100))
    label: Mapped[str | None] = mapped_column(String(100))
    voice: Mapped[str | None] = mapped_column(String(500))  # this meeting's clip, relative to the data folder
    # `voice:` as an imported file wrote it: kept for the export, never opened by the server
    voice_as_written: Mapped[str | None] = mapped_column(String(500))

    meeting: Mapped[MeetingRow] = relationship(back_populates="attendees")
    member: Mapped[Member | None] = relationship()


class RecordingRow(Base):
    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(500))  # relative to the data folder
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)  # None while recording
    duration: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16), default="uploaded")  # recorded | uploaded | recovered
    created: Mapped[datetime] = mapped_column(default=utcnow)

    meeting: Mapped[MeetingRow] = relationship(back_populates="recordings")


class Job(Base):
    """One draft of one recording: what a worker does and what the page shows (issue 14 §6, 15)."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="draft")
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"))
    # recording sha256 + hash of the options and the meeting: a done key is never drafted again
    key: Mapped[str] = mapped_column(String(160), index=True)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)  # load_options overrides, e.g. the model
    state: Mapped[JobState] = mapped_column(_enum(JobState, "job_state"), default=JobState.QUEUED, index=True)
    stage: Mapped[str] = mapped_column(String(40), default="")  # Japanese, as the progress bar names it
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0–1, only moves forward within a run
    eta_s: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)  # the one Japanese line
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # runs started (a dead worker's included)
    worker: Mapped[str | None] = mapped_column(String(200))  # host:pid of the worker running it
    heartbeat: Mapped[datetime | None] = mapped_column(index=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[str | None] = mapped_column(String(500))  # the draft .docx, relative to the data folder
    created: Mapped[datetime] = mapped_column(default=utcnow)
    started: Mapped[datetime | None]
    finished: Mapped[datetime | None]

    meeting: Mapped[MeetingRow] = relationship()
    recording: Mapped[RecordingRow] = relationship()


class User(Base):
    """An account of the shared service (issue 15); the single-PC app has none."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin | editor | recorder
    body_id: Mapped[int | None] = mapped_column(ForeignKey("bodies.id", ondelete="SET NULL"))
    password_hash: Mapped[str | None] = mapped_column(String(200))  # Argon2
    token_hash: Mapped[str | None] = mapped_column(String(200), index=True)  # API token, hashed
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who recorded, edited, exported or deleted what, and when (issue 15)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(200), default="", index=True)  # e.g. meeting:12
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the client's address (login attempts are limited per address as well as per account)
    address: Mapped[str | None] = mapped_column(String(64), index=True)


class LoginSession(Base):
    """A browser's login to the shared service (pipeline.web.login): kept here rather than in a
    signed cookie so that logout and `kaigiroku users disable` end it at once, on every server
    process. Only hashes are stored: a copy of the database opens no session."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the cookie's value
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))  # sent back by the pages in X-CSRF-Token
    address: Mapped[str | None] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    expires: Mapped[datetime] = mapped_column(index=True)  # absolute end, whatever the activity

    user: Mapped[User] = relationship()


class WorkerRow(Base):
    """A draft worker process that is alive, seen by its heartbeat (issue 15: /healthz and the
    job list say which worker runs what). Written by the worker every few seconds; a row
    whose `seen` is old is a worker that died (kill -9, power cut) and is pruned later."""

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)  # host:pid, as Job.worker names it
    host: Mapped[str] = mapped_column(String(200), default="")
    device: Mapped[str] = mapped_column(String(16), default="cpu")  # cpu | cuda
    model: Mapped[str] = mapped_column(String(200), default="")  # the ASR model it loaded at start
    threads: Mapped[int] = mapped_column(Integer, default=1)  # drafts it runs at once
    started: Mapped[datetime] = mapped_column(default=utcnow)
    seen: Mapped[datetime] = mapped_column(default=utcnow, index=True)
