"""The composition module: recording in, draft 会議録 out. It composes the stages, nothing else.

decode → transcribe → diarize → name voices → assign words to speakers → label roles → write.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import numpy as np

from .agenda import find_headings, load_markers, markers_path
from .audio import load_audio
from .cache import StageCache
from .clean import clean_utterances, load_corrections
from .config import Options
from .errors import KaigirokuError
from .diarize import CACHE_VERSION as DIARIZE_VERSION
from .diarize import CHORUS, Diarization, borrow_diarizer, diarize, name_like_turns, resolve_models
from .fileio import check_writable, sha256_file
from .hooks import Hook, null_hook
from .identify import CACHE_VERSION as IDENTIFY_VERSION
from . import identify
from .identify import Voice, audio_embedder, enroll, load_voice_clips, name_turns, speakers_for, utterance_evidence
from .meeting import Meeting, empty_meeting, load_meeting
from .models import resolve
from .pii import find_pii
from .roles import label_speakers
from .speakers import assign_speakers, single_speaker_turns
from .transcribe import CACHE_VERSION as TRANSCRIBE_VERSION
from .transcribe import transcribe
from .types import Minutes, ModelInfo, SpeakerId, StageTime, Transcript, Turn
from .words import NONE as NO_WORDS
from .words import Accepted, accepted
from .writers import get_writer

logger = logging.getLogger(__name__)


def output_paths(out: Path, formats: tuple[str, ...]) -> dict[str, Path]:
    """OUT.docx → {docx: OUT.docx, json: OUT.json, …}: every format beside the draft."""
    return {fmt: out.with_suffix(f".{fmt}") for fmt in formats}


def default_output(audio_path: Path) -> Path:
    return audio_path.with_suffix(".docx")


class _Clock:
    """Stage times. Stages that overlap (ASR beside the speaker stages) are `record`ed with
    their own durations; `lap` times what ran since the last lap, on the main thread alone."""

    def __init__(self) -> None:
        self.timings: list[StageTime] = []
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings.append(StageTime(stage, now - self._t))
        self._t = now

    def record(self, stage: str, seconds: float) -> None:
        self.timings.append(StageTime(stage, seconds))

    def restart(self) -> None:
        self._t = time.perf_counter()


class _Cancelled(Exception):
    """The speaker stages were told to stop (ASR failed or was interrupted)."""


class _Background:
    """Run `fn(stop)` on a thread; `result()` waits and re-raises what it raised.

    `fn` polls `stop` (through the progress hook, which pyannote calls every batch) so that a
    failure or Ctrl-C during ASR ends the speaker stages within a second or two: the process
    must not exit while torch runs on another thread (it aborts). `cancel()` asks and waits.
    """

    def __init__(self, fn):
        import threading

        self.stop = threading.Event()
        self._value = self._error = None
        self._thread = threading.Thread(target=self._run, args=(fn,), name="speakers", daemon=True)
        self._thread.start()

    def _run(self, fn) -> None:
        try:
            self._value = fn(self.stop)
        except BaseException as e:  # noqa: BLE001 - handed to the main thread as it is
            self._error = e

    def error(self) -> BaseException | None:
        """The error the thread has ended with, if it has (it is not waited for)."""
        return None if self._thread.is_alive() else self._error

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

    def cancel(self, wait: float = 120.0) -> None:
        self.stop.set()
        self._thread.join(wait)


def _stoppable(hook: Hook, stop) -> Hook:
    """The progress hook, raising _Cancelled once `stop` is set (pyannote calls it per batch)."""
    def guarded(step, artifact=None, **kw):
        if stop is not None and stop.is_set():
            raise _Cancelled(step)
        hook(step, artifact, **kw)
    return guarded


# Voices a meeting may hold beyond its listed participants: 一同 and two unlisted guests (a
# colleague answering for the 説明者, a member's substitute) must never be merged by the cap.
UNLISTED_VOICES = 3


def speaker_range(meeting: Meeting) -> tuple[int | None, int | None]:
    """Bounds on the number of voices from the present participants, never a forced count.

    At most the participants and UNLISTED_VOICES more: the cap only stops one voice from being
    split into many. At least two when two or more are present (a committee meeting is never
    one voice), not all of them: a member may say nothing all meeting.
    """
    n = len(meeting.participants)
    if not n:
        return None, None
    return (2 if n >= 2 else None), n + UNLISTED_VOICES


def anonymous_turns(turns: tuple[Turn, ...]) -> tuple[Turn, ...]:
    """Without enrollment, clusters become S1, S2 … in order of first speech (一同 stays)."""
    order = {c: str(SpeakerId("anonymous", i + 1))
             for i, c in enumerate(dict.fromkeys(t.speaker for t in turns if t.speaker != CHORUS))}
    order[CHORUS] = CHORUS
    return tuple(Turn(t.start, t.end, order[t.speaker]) for t in turns)


def vocabulary_for(meeting: Meeting, learned: Accepted) -> tuple[str, ...]:
    """The meeting file's vocabulary and the body's accepted words; the learned ones first, as
    Whisper keeps the end of a prompt that is too long."""
    return tuple(dict.fromkeys(learned.vocabulary + meeting.vocabulary))


def second_voices_of(overlaps: tuple[Turn, ...], turns: tuple[Turn, ...], used: set[str]) -> tuple[Turn, ...]:
    """The second voices worth exporting: a speaker of the draft, not the one already speaking."""
    def speaking(t: Turn) -> str | None:
        mid = (t.start + t.end) / 2
        return next((u.speaker for u in turns if u.start <= mid <= u.end), None)

    return tuple(t for t in overlaps if t.speaker in used and speaking(t) != t.speaker)


def finish_text(utterances, meeting: Meeting, options: Options, speakers, markers=(), learned: Accepted = NO_WORDS):
    """Clean the words into 会議録 text, mark 黒塗り候補, and find the agenda headings (marking
    where an item may start but the draft is not sure). `learned`: the body's accepted
    corrections and words (pipeline/words.py)."""
    utterances = clean_utterances(utterances, options.clean, vocabulary_for(meeting, learned), learned.corrections)
    utterances = find_pii(utterances, meeting, options.pii)
    labels = {s.id: s.label for s in speakers}
    return find_headings(utterances, meeting.info.agenda, markers, labels)


class _Stages:
    """Names the stage a long run failed in, and what is already saved for a resume."""

    def __init__(self, caching: bool):
        self.caching = caching
        self.done: list[str] = []

    @contextmanager
    def run(self, label: str):
        try:
            yield
        except KaigirokuError as e:
            raise KaigirokuError(f"{label}で止まりました: {e.message}{self._saved()}", e.detail) from e
        except MemoryError as e:
            raise KaigirokuError(f"{label}の途中でメモリが足りなくなりました。{self._saved()}"
                                 "他のアプリを閉じてから、同じコマンドをもう一度実行してください。",
                                 "MemoryError") from e
        self.done.append(label)

    def _saved(self) -> str:
        if self.caching and self.done:
            return f"（{'・'.join(self.done)}の結果は保存済みで、同じコマンドで続きから再開します）"
        return ""


def _test_stop(stage: str) -> None:
    """Test hook: KAIGIROKU_STOP_AFTER=transcribe interrupts right after that stage is cached,
    as a Ctrl-C would (tests/test_resume.py)."""
    if os.environ.get("KAIGIROKU_STOP_AFTER") == stage:
        raise KeyboardInterrupt(stage)


def _options_key(options, *skip: str) -> dict:
    """An options dataclass as a cache key, without fields that do not change the result."""
    return {k: v for k, v in asdict(options).items() if k not in skip}


def library_voices(library: Path | None, meeting: Meeting, model_sha256: str) -> tuple[Voice, ...]:
    """The voices the committee library knows for the participants without a `voice:` clip (a
    clip in the meeting file wins), in the meeting file's order."""
    from .voices import voices_for

    if library is None or not meeting.info.body:
        return ()
    bare = [p for p in meeting.participants if p.voice is None]
    known = voices_for(library, meeting.info.body, [p.name for p in bare], model_sha256)
    if known:
        logger.info("voices from the library %s: %s", library, ", ".join(known))
    return tuple(Voice(p, known[p.name]) for p in bare if p.name in known)


def run_draft(audio_path: str | Path, meeting_path: str | Path | None, out: str | Path | None,
              options: Options, *, force: bool = False, hook: Hook = null_hook,
              cache: bool = True, library: Path | None = None) -> Minutes:
    """`library`: the committee library folder (pipeline/library.py): its voices name the
    participants without a clip, its accepted words correct and prompt; None: none is used."""
    from .voices import digest

    audio_path = Path(audio_path)
    out = Path(out) if out else default_output(audio_path)
    # Everything that can be checked cheaply is checked before the long stages start:
    # the meeting file, the outputs, the models, the enrollment clips.
    meeting = load_meeting(meeting_path) if meeting_path else empty_meeting()
    outputs = output_paths(out, options.export.formats)
    writers = {fmt: get_writer(fmt) for fmt in outputs}
    for path in outputs.values():
        check_writable(path, force)
    asr_model = resolve(options.transcribe.model, "asr")
    models = [ModelInfo(asr_model.name, asr_model.source, asr_model.path)]
    if options.clean.enabled:
        load_corrections(options.clean.corrections)  # a broken dictionary fails now, not later
    words = accepted(library, meeting.info.body)
    vocabulary = vocabulary_for(meeting, words)
    sidecar = markers_path(audio_path)
    markers = load_markers(sidecar) if sidecar.is_file() else []
    clips, learned = (), ()
    if options.diarize.enabled:
        clips = load_voice_clips(meeting.participants, options.audio, options.identify)
        diarize_models = resolve_models(options.diarize)
        models += [ModelInfo(m.name, m.source, m.path) for m in diarize_models]
        learned = library_voices(library, meeting, diarize_models[1].sha256)
    sources = {**{v.participant.name: "library" for v in learned}, **{c.participant.name: "clip" for c in clips}}
    enrolled = [c.participant for c in clips] + [v.participant for v in learned]
    stages = StageCache.beside(out, enabled=cache)
    step = _Stages(cache)
    clock = _Clock()

    hook("decode")
    audio = load_audio(audio_path, options.audio)
    clock.lap("decode")

    # Every key carries its stage's version and the weights' checksum (a changed stage or model
    # never reuses an old result).
    key = stages.key("transcribe", TRANSCRIBE_VERSION, audio.info.sha256, options.audio, asr_model.sha256,
                     _options_key(options.transcribe, "cpu_threads"), list(vocabulary))

    def speaker_turns(stop=None) -> tuple[tuple[Turn, ...], np.ndarray | None, tuple[Turn, ...]]:
        """Who spoke when, named: (turns, each turn's cosine to each enrolled voice or None,
        second voices heard during the turns)."""
        with ExitStack() as held:  # the diarizer, loaded only if a stage is not cached
            return named_turns(stop, lambda: held.enter_context(borrow_diarizer(options.diarize, diarize_models)))

    def named_turns(stop, get_diarizer) -> tuple[tuple[Turn, ...], np.ndarray | None, tuple[Turn, ...]]:
        progress = _stoppable(hook, stop)
        if not options.diarize.enabled:
            return anonymous_turns(single_speaker_turns(audio.duration)), None, ()
        diarizer = None
        t0 = time.perf_counter()
        dkey = stages.key("diarize", DIARIZE_VERSION, [m.sha256 for m in diarize_models],
                          audio.info.sha256, options.audio, speaker_range(meeting),
                          _options_key(options.diarize, "threads", "segmentation_batch_size",
                                       "embedding_batch_size", "alongside_asr"))
        cached = stages.load("diarize", dkey)
        if cached is not None:
            diarization = Diarization.from_dict(cached)
        else:
            with step.run("話者の区別"):
                hook("load")
                diarizer = get_diarizer()
                diarization = diarize(audio, diarizer, speakers=speaker_range(meeting), hook=progress)
                stages.save("diarize", dkey, diarization.to_dict())
        clock.record("diarize", time.perf_counter() - t0)
        _test_stop("diarize")
        turns = diarization.turns or single_speaker_turns(audio.duration)
        if not enrolled:
            named = anonymous_turns(turns)
            return named, None, name_like_turns(diarization.overlaps, turns, named)
        t0 = time.perf_counter()
        # the library's embeddings by content: a person learned again names the turns again
        ikey = stages.key("identify", IDENTIFY_VERSION, dkey, [(c.participant.name, sha256_file(c.participant.voice)) for c in clips],
                          [(v.participant.name, digest(v.embedding)) for v in learned], identify.LIBRARY_POOL if learned else None,
                          options.identify, [p.name for p in meeting.participants])
        cached = stages.load("identify", ikey)
        if cached is not None:
            turns = tuple(Turn.from_dict(t) for t in cached["turns"])
            evidence = np.array([[np.nan if x is None else x for x in row] for row in cached["evidence"]],
                                dtype=float).reshape(len(turns), len(enrolled))
        else:
            with step.run("話者の照合"):
                diarizer = diarizer or get_diarizer()
                voices = enroll(clips, diarizer.campplus) + learned
                own = diarization.embeddings if diarization.turns else None
                turns, evidence = name_turns(turns, own, diarization.centroids, voices,
                                             meeting.participants, options.identify,
                                             audio_embedder(audio, diarizer.campplus, progress))
                stages.save("identify", ikey, {"turns": [t.to_dict() for t in turns],
                                               "evidence": np.where(np.isnan(evidence), None, evidence).tolist()})
        clock.record("identify", time.perf_counter() - t0)
        return turns, evidence, name_like_turns(diarization.overlaps, diarization.turns, turns)

    # Whisper (2 threads) and pyannote (1 thread) each leave part of a small PC's cores idle:
    # run the speaker stages beside ASR (issue #7: seed_dev end to end 0.20× → see README).
    alongside = options.diarize.enabled and options.diarize.alongside_asr
    speakers_job = _Background(speaker_turns) if alongside else None

    asr_hook = hook
    if speakers_job:
        # A failure of the speaker stages (memory, disk) is told while ASR runs, not an hour later
        # when ASR ends. ASR goes on to the end and is cached, so the rerun after the fix redoes
        # only the speaker stages; the error itself ends the draft once ASR is saved.
        told = []

        def asr_hook(step, artifact=None, **kw):
            error = speakers_job.error()
            if error is not None and not told and not isinstance(error, KeyboardInterrupt):
                told.append(error)
                # a KaigirokuError from the stage already names it ("話者の区別で止まりました: …")
                what = getattr(error, "message", None) or f"話者の区別・照合が止まりました: {error!r}"
                logger.error("%s 音声認識は最後まで続けて保存します（中断すると音声認識もやり直しです）。", what)
            hook(step, artifact, **kw)

    t0 = time.perf_counter()
    try:
        cached = stages.load("transcribe", key)
        if cached is not None:
            transcript = Transcript.from_dict(cached)
        else:
            with step.run("音声認識"):
                transcript = transcribe(audio, asr_model, options.transcribe, vocabulary, asr_hook)
                stages.save("transcribe", key, transcript.to_dict())
        clock.record("transcribe", time.perf_counter() - t0)
        _test_stop("transcribe")
    except BaseException:
        if speakers_job:  # stop the speaker stages before the error ends the process
            speakers_job.cancel()
        raise
    if not any(True for _ in transcript.words()):
        logger.warning("%s: 発言が見つかりませんでした。原稿は見出しだけになります。", audio_path)

    t0 = time.perf_counter()
    turns, evidence, overlaps = speakers_job.result() if speakers_job else speaker_turns()
    if speakers_job:  # how long the speaker stages ran on after ASR had finished
        clock.record("speakers_wait", time.perf_counter() - t0)
    clock.restart()
    speakers = speakers_for(turns, meeting.participants, sources)
    utterances = assign_speakers(transcript, turns, options.speakers)
    if evidence is not None:
        utterances = utterance_evidence(utterances, turns, evidence, enrolled,
                                        meeting.participants, options.identify)
    used = {u.speaker for u in utterances}
    speakers = label_speakers(tuple(s for s in speakers if s.id in used), utterances, meeting)
    utterances, headings = finish_text(utterances, meeting, options, speakers, markers, words)
    clock.lap("clean")

    minutes = Minutes(
        audio=audio.info,
        meeting=meeting.to_dict(),
        transcript=transcript,
        speakers=speakers,
        utterances=utterances,
        turns=tuple(t for t in turns if t.speaker in used),
        overlaps=second_voices_of(overlaps, turns, used),
        headings=headings,
        models=tuple(models),
        timings=tuple(clock.timings),
        created=datetime.now().astimezone().isoformat(timespec="seconds"),
    )
    with step.run("書き出し"):
        for fmt, path in outputs.items():
            hook("write", path)
            writers[fmt](minutes, path, options.export)
    return minutes


def run_export(result_path: str | Path, out: str | Path, options: Options, *,
               meeting_path: str | Path | None = None, formats: tuple[str, ...] | None = None,
               force: bool = False, reclean: bool = False) -> Minutes:
    """Rebuild outputs from a saved OUT.json: no decoding, ASR or diarization.

    With a meeting file, its header fields and `speakers:` renames (話者1: 田中 哲) apply. The
    saved text is kept as it is (an editor may have corrected it) unless `reclean` asks to
    derive it again from the raw words with the current cleaning options.
    """
    import json
    from dataclasses import replace

    result_path, out = Path(result_path), Path(out)
    try:
        minutes = Minutes.from_dict(json.loads(result_path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise KaigirokuError(f"結果ファイル {result_path} が見つかりません。`kaigiroku draft` が書いた .json を指定してください。") from None
    except (ValueError, KeyError, TypeError) as e:
        raise KaigirokuError(f"{result_path} は kaigiroku の結果ファイルとして読めません。`kaigiroku draft` が書いた .json を指定してください。",
                             f"{type(e).__name__}: {e}") from e
    meeting = load_meeting(meeting_path) if meeting_path else (
        Meeting.from_dict(minutes.meeting) if minutes.meeting else empty_meeting())
    outputs = output_paths(out, formats or options.export.formats)
    writers = {fmt: get_writer(fmt) for fmt in outputs}
    for path in outputs.values():
        if path.resolve() != result_path.resolve():
            check_writable(path, force)
    # Labels are recomputed from who each voice is; anonymous voices keep their ids.
    bare = tuple(replace(s, label=s.id) for s in minutes.speakers)
    minutes = replace(minutes, meeting=meeting.to_dict(),
                      speakers=label_speakers(bare, minutes.utterances, meeting))
    if reclean:
        utterances, headings = finish_text(minutes.utterances, meeting, options, minutes.speakers)
        minutes = replace(minutes, utterances=utterances, headings=headings)
    for fmt, path in outputs.items():
        if path.resolve() == result_path.resolve() and not force:
            continue  # never rewrite the source result unless asked
        writers[fmt](minutes, path, options.export)
    return minutes
