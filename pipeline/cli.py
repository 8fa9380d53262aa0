"""`kaigiroku` command line. The only module that configures logging and prints.

The privacy environment (offline hub, pyannote telemetry off) is applied before any stage can
import faster-whisper, huggingface_hub or pyannote.audio.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from . import __version__
from .errors import KaigirokuError
from .privacy import apply_offline_env

logger = logging.getLogger("kaigiroku")


def _output_arguments(parser: argparse.ArgumentParser, default_formats: str) -> None:
    """What `draft` and `export` share: the config, the formats, overwriting, the public variant."""
    parser.add_argument("--config", type=Path, help="設定ファイル（configs/default.yaml の一部を上書き）")
    parser.add_argument("--format", action="append", dest="formats", metavar="FMT",
                        help=f"出力形式（docx, json, txt, srt, vtt, rttm; 複数可）。{default_formats}")
    parser.add_argument("--force", action="store_true", help="既にある出力ファイルを上書きする")
    parser.add_argument("--public", action="store_true", help="公開用: 印や時刻を付けない原稿にする")


def _library_argument(parser: argparse.ArgumentParser) -> None:
    """The committee library (voices/ and words/): one data folder, see pipeline/library.py."""
    parser.add_argument("--library", "--voices", dest="library", type=Path, metavar="DIR",
                        help="学習データのフォルダ（附属機関ごとの声と語の修正。既定: ~/kaigiroku/library）")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kaigiroku", description="会議の録音から会議録の原稿（.docx）を作ります。すべてこのPCの中で処理します。")
    p.add_argument("--version", action="version", version=f"kaigiroku {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="詳しいログ（英語の詳細を含む）")
    p.add_argument("--allow-network", action="store_true",
                   help="モデルをネットワーク（Hugging Face Hub）から取ることを許す。既定はオフライン")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("draft", help="録音から会議録の原稿を作る")
    d.add_argument("audio", type=Path, help="録音ファイル (wav, flac, mp3, m4a, ogg …)")
    d.add_argument("--meeting", type=Path, help="会議ファイル (meeting.yaml)")
    d.add_argument("-o", "--output", type=Path, help="原稿の .docx（既定: 録音と同じ場所・同じ名前）。同じ名前の .json も書きます")
    d.add_argument("--model", help="音声認識モデル: 内蔵モデル名 (whisper-base) かローカルのフォルダ")
    d.add_argument("--device", choices=("cpu", "cuda"), help="計算に使う装置")
    d.add_argument("--threads", type=int, help="CPU のスレッド数")
    _output_arguments(d, "既定は設定ファイルの export.formats")
    d.add_argument("--no-cache", action="store_true",
                   help="途中結果（出力先の .kaigiroku-cache/）を使わず、保存もしない")
    _library_argument(d)
    d.add_argument("--no-library", action="store_true",
                   help="学習データ（声と語の修正）を使わない。既定では ~/kaigiroku/library があれば使います")

    e = sub.add_parser("export", help="保存した結果 (.json) から原稿などを作り直す（音声認識はしない）")
    e.add_argument("result", type=Path, help="`kaigiroku draft` が書いた .json")
    e.add_argument("-o", "--output", type=Path, required=True, help="書き出す .docx（同じ名前で他の形式も）")
    e.add_argument("--meeting", type=Path, help="会議ファイル（見出しの情報と speakers: の名前の付け替え）")
    _output_arguments(e, "既定は docx")
    e.add_argument("--reclean", action="store_true",
                   help="保存された文を使わず、認識結果の語から今の設定で整え直す（編集した文は失われます）")

    r = sub.add_parser("record", help="会議を録音する（FLAC）。m・数字キーで見出し、Ctrl-C で終了")
    r.add_argument("output", type=Path, help="録音ファイル (.flac)")
    r.add_argument("--device", help="入力機器の番号か名前（kaigiroku devices で確認）。既定はシステムの既定の入力")
    r.add_argument("--channels", type=int, help="チャンネル数（既定: 機器の入力すべて）")
    r.add_argument("--samplerate", type=int, help="サンプリング周波数 Hz（既定: 機器の既定）")
    r.add_argument("--duration", type=float, help="この秒数で録音を終える")
    r.add_argument("--meeting", type=Path, help="会議ファイル（数字キー 1–9 が次第の議題の見出しになる）")
    r.add_argument("--config", type=Path, help="設定ファイル")
    r.add_argument("--force", action="store_true", help="既にある録音を上書きする")
    r.add_argument("--then-draft", action="store_true", help="録音を止めたら続けて原稿を作る")

    sub.add_parser("devices", help="録音に使える入力機器の一覧")

    v = sub.add_parser("recover", help="途中で止まった録音（.rec.pcm）を FLAC にする")
    v.add_argument("output", type=Path, help="録音ファイルの名前 (OUT.flac) か OUT.flac.rec.pcm")
    v.add_argument("--force", action="store_true", help="既にある OUT.flac を置き換える")

    w = sub.add_parser("review", help="ブラウザで録音を聞きながら原稿を直す（このPCの中だけで動きます）")
    w.add_argument("result", type=Path, help="`kaigiroku draft` が書いた .json（直すと自動で保存されます）")
    w.add_argument("--port", type=int, default=0, help="使うポート番号（既定: 空いている番号）")
    w.add_argument("--no-browser", action="store_true", help="ブラウザを開かない（表示されたアドレスを自分で開く）")
    w.add_argument("--audio", type=Path, help="録音ファイル（既定: 結果ファイルに記録された録音）")

    a = sub.add_parser("app", help="会議の準備・録音の取り込み・原稿作成・校正・Word 出力をブラウザで行う（このPCの中だけで動きます）")
    a.add_argument("--data", type=Path, help="データフォルダ（既定: ~/kaigiroku）")
    a.add_argument("--port", type=int, default=0, help="使うポート番号（既定: 空いている番号）")
    a.add_argument("--no-browser", action="store_true", help="ブラウザを開かない（表示されたアドレスを自分で開く）")
    a.add_argument("--model", help="原稿作成に使う音声認識モデル（既定: 設定ファイルの transcribe.model）")

    from .jobs.users import add_parser as add_users_parser

    add_users_parser(sub)  # kaigiroku users …: the shared service's accounts (pipeline/jobs/users.py)

    from .cli_service import add_parsers

    add_parsers(sub)  # server, worker (issue 15)

    m = sub.add_parser("models", help="モデルの一覧と状態（チェックサム）、強いモデルの取り込み (import) と取得 (get)")
    m.add_argument("--prepare", action="store_true", help="分割されたモデルを組み立てて確認する")
    # Optional actions: `kaigiroku models` and `kaigiroku models --prepare` (Makefile, setup.sh) list.
    ma = m.add_subparsers(dest="models_action", metavar="ACTION")
    mi = ma.add_parser("import", help="USB などのモデル（CTranslate2 形式の Whisper のフォルダか .tar.gz/.zip）を取り込む")
    mi.add_argument("path", type=Path, help="モデルのフォルダか、それを固めた .tar.gz/.tgz/.zip（SHA256SUMS があれば照合）")
    mi.add_argument("--name", required=True, help="取り込んだモデルの名前（--model NAME で使う）")
    mi.add_argument("--force", action="store_true", help="同じ名前のモデルを入れ替える")
    mg = ma.add_parser("get", help="カタログのモデルか Hugging Face の CTranslate2 Whisper を取得する（--allow-network）")
    mg.add_argument("model", metavar="NAME", help="カタログの名前（large-v3-turbo, kotoba-whisper-v2.0）か `組織/名前`")
    # SUPPRESS: not given here keeps the value of `kaigiroku --allow-network models get …`.
    mg.add_argument("--allow-network", action="store_true", default=argparse.SUPPRESS,
                    help="ネットワークからの取得を許す（必須）")
    mg.add_argument("--revision", help="Hugging Face の版（ブランチ・タグ・コミット。既定: カタログの固定版か main）")
    mg.add_argument("--name", help="このPCでの名前（既定: カタログの名前か、id の後半）")
    mg.add_argument("--force", action="store_true", help="同じ名前のモデルを入れ替える")
    mg.add_argument("--trust-unverified", action="store_true",
                    help="カタログにチェックサムのないファイルを Hugging Face の一覧だけで確かめて登録する")
    vo = sub.add_parser("voices", help="附属機関ごとに学習した声（同意した附属機関だけ）: learn, list, forget, consent")
    va = vo.add_subparsers(dest="voices_action", metavar="ACTION", required=True)
    vl = va.add_parser("learn", help="直した結果 (.json) の出席者の声を学習する（本人だけの話し声が20秒以上の人）")
    vl.add_argument("result", type=Path, help="`kaigiroku draft` が書き、レビュー画面で直した .json")
    vl.add_argument("--audio", type=Path, help="録音ファイル（既定: 結果ファイルに記録された録音）")
    vl.add_argument("--config", type=Path, help="設定ファイル（原稿を作ったときと同じもの）")
    vi = va.add_parser("list", help="学習した声の一覧（附属機関・人ごとの件数）")
    vi.add_argument("--body", help="この附属機関だけ")
    vf = va.add_parser("forget", help="ある人の声をすべて消す")
    vf.add_argument("name", help="出席者の名前（会議ファイルと同じ書き方）")
    vf.add_argument("--body", help="この附属機関からだけ消す（既定: すべての附属機関から）")
    vc = va.add_parser("consent", help="附属機関の声の学習に同意があったことを記録する（--withdraw で取り消し、声も消す）")
    vc.add_argument("body", help="附属機関名（会議ファイルの meeting: body: と同じ）")
    vc.add_argument("--yes", action="store_true", help="委員の同意を得たことを確認した")
    vc.add_argument("--note", default="", help="同意の記録（いつ・どの会議で・どのように）")
    vc.add_argument("--withdraw", action="store_true", help="同意を取り消し、この附属機関の声をすべて消す")
    for action in (vl, vi, vf, vc):
        _library_argument(action)

    wo = sub.add_parser("words", help="編集者が直した語を附属機関ごとに集め、2回以上の会議で直したものを修正辞書の候補にする")
    wa = wo.add_subparsers(dest="words_action", metavar="ACTION", required=True)
    wc = wa.add_parser("collect", help="直した結果 (.json) から、認識結果 → 編集者の語の組を集める")
    wc.add_argument("result", type=Path, help="レビュー画面で直した .json")
    wc.add_argument("--config", type=Path, help="設定ファイル（原稿を作ったときと同じもの）")
    wl = wa.add_parser("list", help="候補（2回以上の会議で直した語）と、採用・不採用にした語の一覧")
    wl.add_argument("--all", action="store_true", help="1回だけ直した語も表示する")
    wy = wa.add_parser("accept", help="候補を採用する（次の原稿から修正と語彙に使う）")
    wn = wa.add_parser("reject", help="候補を採用しない（以後、候補に出さない）")
    for action in (wy, wn):
        action.add_argument("wrong", help="認識結果の語（直す前）")
        action.add_argument("right", nargs="?", help="直した後の語（同じ語の直し方が複数あるとき）")
    for action in (wc, wl, wy, wn):
        action.add_argument("--body", help="附属機関名（既定: 結果ファイルの meeting.body、学習データに1つだけならそれ）")
        _library_argument(action)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    apply_offline_env(allow_network=args.allow_network)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s" if args.verbose else "%(message)s")
    try:
        if args.command == "draft":
            from .memory import limit_malloc_arenas

            limit_malloc_arenas()  # before any model starts its threads
            return _draft(args)
        if args.command == "export":
            return _export(args)
        if args.command == "models":
            return _models(args)
        if args.command == "record":
            return _record(args)
        if args.command == "devices":
            return _devices(args)
        if args.command == "recover":
            return _recover(args)
        if args.command == "review":
            return _review(args)
        if args.command == "app":
            return _app(args)
        if args.command in ("server", "worker"):
            from .cli_service import run

            return run(args)
        if args.command == "voices":
            return _voices(args)
        if args.command == "words":
            return _words(args)
        if args.command == "users":
            from .jobs.users import run as run_users

            return run_users(args)
    except KaigirokuError as e:
        print(f"エラー: {e.message}", file=sys.stderr)
        if args.verbose and e.detail:
            print(f"  detail: {e.detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("中断しました。出力ファイルは書かれていません。終わった段階の結果は出力先の .kaigiroku-cache/ に"
              "保存されているので、同じコマンドで続きから再開できます。", file=sys.stderr)
        return 130
    except MemoryError:
        print("エラー: メモリが足りません。他のアプリを閉じるか、短い録音に分けてください。", file=sys.stderr)
        return 1
    return 2


def _draft(args) -> int:
    from .config import load_options
    from .draft import run_draft
    from .progress import RichProgress

    overrides = {"transcribe": {"model": args.model, "device": args.device, "cpu_threads": args.threads},
                 "export": {"formats": tuple(args.formats) if args.formats else None,
                            "public": True if args.public else None}}
    if args.device:
        overrides["diarize"] = {"device": args.device}
    if args.device == "cuda":
        overrides["transcribe"]["compute_type"] = "float16"
    options = load_options(args.config, overrides)
    library = _draft_library(args)
    started = time.perf_counter()
    with RichProgress() as progress:
        minutes = run_draft(args.audio, args.meeting, args.output, options, force=args.force,
                            hook=progress, cache=not args.no_cache, library=library)
    out = args.output or args.audio.with_suffix(".docx")
    total = time.perf_counter() - started  # stages overlap: their times do not add up
    print(f"原稿を書きました: {out}（{len(minutes.utterances)} 発言、録音 {minutes.audio.duration / 60:.1f} 分、"
          f"処理 {total / 60:.1f} 分）")
    from_library = [s.name for s in minutes.speakers if s.voice_source == "library"]
    if from_library:
        print(f"学習した声で名前を付けた人: {'、'.join(from_library)}（{library}）")
    return 0


def _draft_library(args) -> Path | None:
    """The library a draft reads: --library, else the default folder when it exists."""
    from .library import default_library

    if args.no_library:
        return None
    if args.library is not None:
        if not args.library.is_dir():
            raise KaigirokuError(f"学習データのフォルダ {args.library} がありません。--library のパスを確認してください。")
        return args.library
    return default_library() if default_library().is_dir() else None


def _export(args) -> int:
    from .config import load_options
    from .draft import run_export

    options = load_options(args.config, {"export": {"public": True if args.public else None}})
    formats = tuple(args.formats) if args.formats else ("docx",)
    minutes = run_export(args.result, args.output, options, meeting_path=args.meeting,
                         formats=formats, force=args.force, reclean=args.reclean)
    print(f"書き出しました: {args.output}（{len(minutes.utterances)} 発言）")
    return 0


def _record(args) -> int:
    from .config import load_options
    from .recorder.terminal import TerminalView, record

    options = load_options(args.config, {"record": {"sample_rate": args.samplerate,
                                                    "channels": args.channels}}).record
    try:
        with TerminalView(options.status_interval) as view:
            result = record(args.output, options, device=args.device, duration=args.duration,
                            meeting=args.meeting, force=args.force, hook=view)
    except KeyboardInterrupt:  # only possible before capture starts: record() handles Ctrl-C itself
        print("録音を始める前に中断しました。何も書かれていません。", file=sys.stderr)
        return 130
    print(result.summary())
    if args.then_draft:  # the draft of the recording just made (its markers become headings)
        from .draft import run_draft
        from .memory import limit_malloc_arenas
        from .progress import RichProgress

        # as `kaigiroku draft` does, but only once the recording is closed: the recorder's
        # threads allocate while audio arrives and should not queue on a shared arena. Whisper's
        # and torch's threads start after this, so they are capped.
        limit_malloc_arenas()
        with RichProgress() as progress:
            minutes = run_draft(result.path, args.meeting, None, load_options(args.config), hook=progress)
        print(f"原稿を書きました: {result.path.with_suffix('.docx')}（{len(minutes.utterances)} 発言）")
    return 0


def _devices(args) -> int:
    from .recorder import list_devices

    devices = list_devices()
    if not devices:
        print("録音に使える入力機器がありません。マイク・オーディオインターフェースの接続を確認してください。",
              file=sys.stderr)
        return 1
    print("  番号  入力ch  既定Hz  名前（* は既定の入力）")
    for d in devices:
        print(f"{'*' if d.is_default else ' '} {d.index:>4}  {d.channels:>6}  {d.default_rate:>6.0f}  {d.name} ({d.hostapi})")
    return 0


def _recover(args) -> int:
    from .recorder import recover

    out = recover(args.output, force=args.force)
    print(f"録音を FLAC にしました: {out}")
    return 0


def _review(args) -> int:
    from .web.review import prepare, serve, url_for

    options, sock, minutes = prepare(args.result, args.port, args.audio)
    print(f"レビュー画面: {url_for(options)}", flush=True)
    if options.audio is None:
        print(f"注意: 録音ファイル {args.audio or minutes.audio.path} が見つかりません。文の修正はできますが、再生はできません"
              "（--audio で録音を指定できます）。", flush=True)
    print("このアドレスはこのPCの中だけで開けます。終えるときは Ctrl-C を押してください（直した内容は保存済みです）。", flush=True)
    try:
        serve(options, sock, open_browser=not args.no_browser)
    except KeyboardInterrupt:  # uvicorn stops cleanly on Ctrl-C, then re-raises it
        pass
    print("レビュー画面を閉じました。", flush=True)
    return 0


def _app(args) -> int:
    from .web.app import prepare_app, serve, url_for

    server, sock = prepare_app(args.data, args.port, args.model)
    print(f"kaigiroku app: {url_for(server)}", flush=True)
    print(f"データフォルダ: {server.context.data.root}", flush=True)
    print("このアドレスはこのPCの中だけで開けます。終えるときは Ctrl-C を押してください（作成中の原稿は次の起動で続きから作ります）。",
          flush=True)
    try:
        serve(server, sock, open_browser=not args.no_browser)
    except KeyboardInterrupt:  # uvicorn stops cleanly on Ctrl-C, then re-raises it
        pass
    print("kaigiroku app を終了しました。", flush=True)
    return 0


def _library(args) -> Path:
    from .library import default_library

    return args.library or default_library()


def _voices(args) -> int:
    from . import voices
    from .library import normalise

    root = _library(args)
    if args.voices_action == "learn":
        from .config import load_options

        print(f"学習データ: {root}")
        outcomes = voices.learn(args.result, root, load_options(args.config), audio=args.audio)
        for o in outcomes:
            print(o.line())
        learned = sum(1 for o in outcomes if o.added)
        print(f"{learned} 人の声を学習しました。" if learned else "学習した声はありません。")
        return 0
    if args.voices_action == "list":
        shown = [v for v in voices.bodies(root) if not args.body or v.body == normalise(args.body)]
        if not shown:
            print(f"学習した声はありません（{root}）。")
            return 0
        for v in shown:
            consent = f"同意 {v.consent['given']} {v.consent.get('note', '')}".rstrip() if v.consent else "同意なし"
            print(f"{v.body}（{consent}）")
            for name, entries in sorted(v.people.items()):
                meetings = len({e.meeting for e in entries})
                print(f"  {name}: {len(entries)} 件（{meetings} 回の会議、最後 {max(e.learned for e in entries)[:10]}）")
        return 0
    if args.voices_action == "forget":
        found = voices.forget(root, args.name, args.body)
        if not found:
            print(f"{args.name} の声はありません（{root}）。", file=sys.stderr)
            return 1
        print(f"{args.name} の声を消しました: {'、'.join(found)}")
        return 0
    if args.withdraw:
        removed = voices.delete_body(root, args.body)
        print(f"「{args.body}」の同意を取り消し、学習した声をすべて消しました。" if removed
              else f"「{args.body}」の学習データはありません。")
        return 0
    if not args.yes:
        print("声の特徴は個人情報です。附属機関の委員の同意を得てから --yes を付けて実行してください"
              "（学習した声はこのPCの中だけに置かれ、forget でいつでも消せます）。", file=sys.stderr)
        return 1
    voices.set_consent(root, args.body, args.note)
    print(f"「{args.body.strip()}」の声の学習への同意を記録しました（{root}）。")
    return 0


def _words(args) -> int:
    from . import words
    from .library import normalise

    root = _library(args)
    if args.words_action == "collect":
        from .config import load_options

        body, pairs = words.collect(args.result, root, load_options(args.config).clean, args.body)
        print(f"「{body}」: 直した語 {len(pairs)} 組（{root}）")
        for p in pairs:
            state = {"accepted": "採用済み", "rejected": "不採用"}.get(p.status) or (
                "候補" if p.offered else f"{len(p.meetings)} 回目")
            print(f"  {p.wrong} → {p.right}（{state}）")
        offered = [p for p in pairs if p.offered]
        if offered:
            print(f"候補が {len(offered)} 組あります。`kaigiroku words list` で確認し、accept か reject を実行してください。")
        return 0
    known = words.bodies(root)
    body = normalise(args.body) if args.body else (known[0] if len(known) == 1 else None)
    if body is None:
        print(f"附属機関を --body で指定してください（学習データにある附属機関: {'、'.join(known) or 'なし'}）。", file=sys.stderr)
        return 1
    if args.words_action == "list":
        pairs = words.load_pairs(root, body)
        shown = [p for p in pairs if args.all or p.offered or p.status != "seen"]
        if not shown:
            print(f"「{body}」に候補はありません（同じ直しが2回以上の会議にあると候補になります）。")
            return 0
        print(f"「{body}」")
        for p in sorted(shown, key=lambda p: (p.status, -len(p.meetings))):
            state = {"accepted": "採用", "rejected": "不採用"}.get(p.status) or ("候補" if p.offered else "1回")
            print(f"  [{state}] {p.wrong} → {p.right}（{len(p.meetings)} 回の会議）")
        return 0
    chosen = words.decide(root, body, args.wrong, args.right,
                          "accepted" if args.words_action == "accept" else "rejected")
    if chosen.status == "accepted":
        print(f"採用しました: {chosen.wrong} → {chosen.right}（次の原稿から、辞書にない語のときだけ直し、語彙にも使います）")
    else:
        print(f"採用しません: {chosen.wrong} → {chosen.right}")
    return 0


def _models(args) -> int:
    from .models import catalog, prepare, registry, status

    if args.models_action == "import":
        return _models_import(args)
    if args.models_action == "get":
        return _models_get(args)
    if args.prepare:
        for name, entry in registry().items():
            if "assemble_to" in entry:
                prepare(name, entry)
    rows = status()
    for r in rows:
        size = f"{r.size / 1e6:.1f} MB" if r.size else "-"
        print(f"{r.name:28} {r.kind:13} {r.source:9} {r.state:16} {size:>9}  {r.path}")
    missing = [n for n in catalog() if n not in {r.name for r in rows}]
    if missing:
        print(f"取得できる強いモデル: {', '.join(missing)}（`kaigiroku models get NAME --allow-network`、"
              "ネットワークのないPCは `kaigiroku models import フォルダ --name NAME`）")
    return 0 if all(r.state == "ok" for r in rows) else 1


def _installed_report(installed, how: str) -> int:
    m = installed.manifest
    print(f"{how}: {m.name}（{m.size / 1e6:.1f} MB, {installed.path}）")
    if m.verified_by == "catalog":
        print("  すべてのファイルをカタログの SHA-256 で確認しました。")
    elif m.verified_by == "SHA256SUMS":
        print(f"  SHA256SUMS で確認したファイル: {', '.join(installed.checked)}")
    elif m.verified_by == "hub":
        print("  Hugging Face の一覧にあるチェックサムで確認しました（カタログの固定値はありません）。")
    else:
        print("  SHA256SUMS がないため、届いた中身を照合できていません（以後の変化は毎回確認します）。")
    print(f"  使うには: kaigiroku draft 録音 --model {m.name}（または設定の transcribe.model: {m.name}）")
    return 0


def _models_import(args) -> int:
    from .model_install import import_model

    return _installed_report(import_model(args.path, args.name, force=args.force), "取り込みました")


def _models_get(args) -> int:
    from .model_install import get_model
    from .privacy import network_allowed
    from .progress import RichProgress

    try:
        with RichProgress() as progress:
            installed = get_model(args.model, allow_network=network_allowed(), revision=args.revision,
                                  name=args.name, force=args.force, trust_unverified=args.trust_unverified,
                                  hook=progress)
    except KeyboardInterrupt:
        print("中断しました。モデルは登録されていません。同じコマンドで、取得済みの分から続けられます。", file=sys.stderr)
        return 130
    return _installed_report(installed, "取得しました")


if __name__ == "__main__":
    sys.exit(main())
