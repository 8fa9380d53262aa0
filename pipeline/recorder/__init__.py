"""The recorder (issue #5): one capture core that `kaigiroku record` and the app both drive.

- `core`: `start()` → `Recording` (status, add_marker, pause/resume, stop → FLAC), levels,
  silence, clipping and disk time left as plain data;
- `journal`: the crash-safe raw journal, the FLAC made from it (`recover`), the markers file;
- `devices`: the inputs PortAudio offers and which one the operator means;
- `options`: `RecordOptions` (configs/default.yaml ``record:``);
- `terminal`: the terminal view — keys → markers, signals → stop, a live panel (CLI only).

Importing this package is cheap: sounddevice is loaded by the first device call.
"""

from .core import Recording, RecordingInfo, RecordingResult, RecordingStatus, clock, start
from .devices import InputDevice, list_devices, resolve_device
from .journal import Marker, journal_paths, recover, unrecovered, write_markers
from .options import RecordOptions

__all__ = ["InputDevice", "Marker", "RecordOptions", "Recording", "RecordingInfo", "RecordingResult",
           "RecordingStatus", "clock", "journal_paths", "list_devices", "recover", "resolve_device", "start",
           "unrecovered", "write_markers"]
