"""kaigiroku: offline drafts of 会議録 (Japanese municipal meeting minutes) from recordings.

Importing the package is cheap: the heavy libraries (faster-whisper, torch, pyannote.audio,
sounddevice) are imported inside the stage functions that need them.
"""

__version__ = "0.1.0"
