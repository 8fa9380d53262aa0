"""Show the stage hook as a rich progress bar with ETA (CLI only)."""

from __future__ import annotations

from typing import Any

STEP_NAMES = {"decode": "音声を読み込み中", "transcribe": "音声認識",
              "diarize:segmentation": "話者の区別（区切り）", "diarize:embeddings": "話者の区別（声の特徴）",
              "diarize:windows": "話者の区別（声のまとまり）",
              "write": "書き出し"}


class RichProgress:
    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                  TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                                  TextColumn("残り"), TimeRemainingColumn(),
                                  console=Console(stderr=True), transient=False)
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> "RichProgress":
        self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)

    def __call__(self, step: str, artifact: Any = None, *, total: float | None = None,
                 completed: float | None = None) -> None:
        if total is None:
            return  # steps without a known size are short; nothing to draw
        if step not in self._tasks:
            label = STEP_NAMES.get(step) or (f"取得 {step.split(':', 1)[1]}" if step.startswith("download:") else step)
            self._tasks[step] = self._progress.add_task(label, total=total)
        self._progress.update(self._tasks[step], total=total, completed=completed or 0)
