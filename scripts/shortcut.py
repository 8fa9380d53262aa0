#!/usr/bin/env python3
"""A desktop icon and a menu entry for `kaigiroku app` (`make shortcut`), so that a clerk starts
the app with a double-click. Linux desktops read freedesktop .desktop files; the entry runs this
checkout's virtual environment, in a terminal window that shows the app's messages (the address,
a second start refused, errors) and ends the app when closed.

    .venv/bin/python scripts/shortcut.py [--home DIR]
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def desktop_entry(python: Path, repo: Path) -> str:
    command = " ".join(shlex.quote(str(x)) for x in (python, "-m", "pipeline", "app"))
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Name=kaigiroku 会議録",
        "Comment=会議の準備・録音・原稿作成・校正（このPCの中だけで動きます）",
        f"Exec={command}",
        f"Path={repo}",
        "Terminal=true",
        "Icon=accessories-text-editor",
        "Categories=Office;AudioVideo;",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--home", type=Path, default=Path.home(), help="the user's home folder (default: yours)")
    args = p.parse_args(argv)
    python = REPO / ".venv" / "bin" / "python"
    if not python.is_file():
        print(f"エラー: {python} がありません。先に make demo を実行してください。", file=sys.stderr)
        return 1
    text = desktop_entry(python, REPO)
    written = []
    for folder in (args.home / ".local" / "share" / "applications", args.home / "Desktop", args.home / "デスクトップ"):
        if folder.name != "applications" and not folder.is_dir():
            continue  # only the desktop folders that exist (their name follows the language)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "kaigiroku.desktop"
        path.write_text(text, encoding="utf-8")
        os.chmod(path, 0o755)  # desktops run only entries marked executable
        written.append(path)
    for path in written:
        print(f"作りました: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
