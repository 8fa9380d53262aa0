"""`kaigiroku users add|list|disable|token|password`: the shared service's accounts, from the
server's terminal (issue 15). The database is `--db URL` (PostgreSQL or SQLite), else the data
folder's own; it is brought to this version's schema first, as the server would.

`add` and `token` print the new API token on their last line of standard output (and only
there: it is stored as a hash and cannot be shown again), so a script can take it with
``| tail -n 1``; everything else goes to standard error.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from ..errors import KaigirokuError
from .accounts import ROLES


def add_parser(sub) -> None:
    u = sub.add_parser("users", help="共有サービス（kaigiroku server）の利用者: add, list, disable, token, password")
    ua = u.add_subparsers(dest="users_action", metavar="ACTION", required=True)

    def where(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", metavar="URL", help="データベース（postgresql://… か sqlite:///…）。省略時は --data のもの")
        p.add_argument("--data", metavar="DIR", help="データフォルダ（既定: ~/kaigiroku）。--db を省いたときに使う")

    a = ua.add_parser("add", help="利用者を登録する（最後の行に API トークンを表示）")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--role", required=True, choices=list(ROLES), help="admin（管理者）, editor（編集者）, recorder（録音者）")
    a.add_argument("--body", metavar="BODY", help="附属機関名（編集者・録音者は必須。まだなければ登録する）")
    a.add_argument("--password-stdin", action="store_true", help="パスワードを標準入力の1行目から読む")
    where(a)
    ls = ua.add_parser("list", help="利用者の一覧")
    where(ls)
    d = ua.add_parser("disable", help="利用者を無効にする（ログインと API トークンが使えなくなる）")
    d.add_argument("name", metavar="NAME")
    where(d)
    t = ua.add_parser("token", help="API トークンを作り直す（古いものは使えなくなる。最後の行に表示）")
    t.add_argument("name", metavar="NAME")
    where(t)
    pw = ua.add_parser("password", help="パスワードを変える（その利用者のログインはすべて終わる）")
    pw.add_argument("name", metavar="NAME")
    pw.add_argument("--password-stdin", action="store_true", help="パスワードを標準入力の1行目から読む")
    where(pw)


def _url(args) -> str:
    from .data import DataFolder
    from .db import upgrade

    url = args.db or DataFolder.open(args.data).db_url
    try:
        upgrade(url)
    except KaigirokuError:
        raise
    except Exception as e:  # noqa: BLE001 - unreachable server, wrong password, a newer schema
        raise KaigirokuError("データベースに接続できません。--db の URL（ホスト、ポート、利用者、パスワード）を確認してください。",
                             str(e)) from e
    return url


def read_password(from_stdin: bool) -> str:
    """Twice at a terminal (not echoed); else the first line of standard input."""
    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise KaigirokuError("標準入力からパスワードを読めませんでした。1行目にパスワードを書いて渡してください。")
        return line.rstrip("\r\n")
    first = getpass.getpass("パスワード: ")
    if getpass.getpass("もう一度: ") != first:
        raise KaigirokuError("2回入力したパスワードが一致しません。もう一度やり直してください。")
    return first


def run(args) -> int:
    from ..config import load_options
    from .accounts import add_user, disable_user, list_users, replace_token, set_password
    from .db import session_factory

    options = load_options(None).accounts
    action = args.users_action
    if action == "add" and args.role != "admin" and not args.body:  # before asking for a password
        raise KaigirokuError(f"{ROLES[args.role]}には --body で附属機関を指定してください（その附属機関の会議だけを扱えます）。")
    password = read_password(args.password_stdin) if action in ("add", "password") else None
    url = _url(args)
    with session_factory(url)() as s:
        if action == "add":
            user, token, created = add_user(s, args.name, args.role, password, args.body, options)
            s.commit()
            if created:
                print(f"附属機関「{args.body.strip()}」を新しく登録しました。", file=sys.stderr)
            where = f"、{args.body.strip()}" if args.body else ""
            print(f"利用者「{user.name}」（{ROLES[user.role]}{where}）を登録しました。API トークン（この一度だけ表示します）:",
                  file=sys.stderr)
            print(token, flush=True)
        elif action == "list":
            rows = list_users(s)
            if not rows:
                print("利用者はまだいません。kaigiroku users add で登録してください。")
            for r in rows:
                state = "無効" if r["disabled"] else "有効"
                print(f"{r['name']}\t{r['role_label']}\t{r['body'] or '（全附属機関）'}\t{state}\t"
                      f"{r['created'].astimezone().strftime('%Y-%m-%d %H:%M')}")
        elif action == "disable":
            disable_user(s, args.name)
            s.commit()
            print(f"利用者「{args.name}」を無効にしました（ログイン中の画面も API トークンも使えなくなりました）。")
        elif action == "token":
            token = replace_token(s, args.name)
            s.commit()
            print(f"利用者「{args.name}」の新しい API トークン（古いものは使えなくなりました）:", file=sys.stderr)
            print(token, flush=True)
        elif action == "password":
            set_password(s, args.name, password, options)
            s.commit()
            print(f"利用者「{args.name}」のパスワードを変えました。")
    return 0
