"""Input devices: what can record, which one the operator means, and whether it takes the settings."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import KaigirokuError


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    hostapi: str
    channels: int  # input channels the driver offers
    default_rate: float
    is_default: bool = False

    def to_dict(self) -> dict:
        return {"index": self.index, "name": self.name, "hostapi": self.hostapi, "channels": self.channels,
                "default_rate": self.default_rate, "is_default": self.is_default}


def sounddevice():
    try:
        import sounddevice as sd
    except OSError as e:  # sounddevice raises OSError when libportaudio.so.2 is missing
        raise KaigirokuError("録音に必要な PortAudio がありません。sudo apt-get install libportaudio2 を実行してから"
                             "やり直してください。", str(e)) from e
    return sd


def list_devices() -> list[InputDevice]:
    """Every device that can record, in PortAudio's order."""
    sd = sounddevice()
    default = sd.default.device[0]
    if default is None or default < 0:
        default = next((h["default_input_device"] for h in sd.query_hostapis()
                        if h["default_input_device"] >= 0), -1)
    apis = sd.query_hostapis()
    return [InputDevice(index=d["index"], name=d["name"], hostapi=apis[d["hostapi"]]["name"],
                        channels=d["max_input_channels"], default_rate=float(d["default_samplerate"]),
                        is_default=d["index"] == default)
            for d in sd.query_devices() if d["max_input_channels"] > 0]


def resolve_device(spec: str | int | None) -> InputDevice:
    """None → the default input; an index; an exact name; else a unique part of a name."""
    devices = list_devices()
    hint = "kaigiroku devices で番号と名前を確認し、--device で指定してください。"
    if not devices:
        raise KaigirokuError("録音に使える入力機器が見つかりません。マイク・オーディオインターフェースの接続を確認してください。",
                             "no input device")
    if spec is None or spec == "":
        found = [d for d in devices if d.is_default] or devices[:1]
        return found[0]
    if isinstance(spec, int) or str(spec).strip().isdigit():
        index = int(spec)
        for d in devices:
            if d.index == index:
                return d
        raise KaigirokuError(f"入力機器の番号 {index} はありません。{hint}", f"no input device #{index}")
    want = str(spec).strip().casefold()
    exact = [d for d in devices if d.name.casefold() == want]
    if exact:
        return exact[0]
    partial = [d for d in devices if want in d.name.casefold()]
    if len(partial) == 1:
        return partial[0]
    if partial:
        names = "、".join(f"{d.index}: {d.name}" for d in partial[:4])
        raise KaigirokuError(f"「{spec}」に当てはまる入力機器が複数あります（{names}）。番号で指定してください。")
    raise KaigirokuError(f"入力機器「{spec}」が見つかりません。{hint}", f"no input device named {spec!r}")


def auto_channels(device: InputDevice) -> int:
    # ALSA's virtual devices (pulse, default, dmix …) claim 32 or more inputs and would upmix a
    # stereo source into them; a hardware device's count is its real inputs, all of which we
    # keep (a rig's 8 mics stay 8 channels in the file).
    if device.hostapi == "ALSA" and "(hw:" not in device.name:
        return min(2, device.channels)
    return device.channels


def check_settings(sd, device: InputDevice, rate: int, channels: int, dtype: str) -> None:
    if not 1 <= channels <= device.channels:
        raise KaigirokuError(f"入力機器「{device.name}」の入力は {device.channels} チャンネルです（{channels} は使えません）。"
                             f"--channels を 1〜{device.channels} にしてください。")
    try:
        sd.check_input_settings(device=device.index, channels=channels, dtype=dtype, samplerate=rate)
    except Exception as e:  # PortAudioError or ValueError, depending on which check fails
        default = int(device.default_rate)
        if "sample rate" in str(e).lower():
            raise KaigirokuError(f"入力機器「{device.name}」は {rate} Hz で録音できません。--samplerate を省くか、"
                                 f"機器の既定の {default} Hz を指定してください。", str(e)) from e
        raise KaigirokuError(f"入力機器「{device.name}」をこの設定（{rate} Hz、{channels} ch、{dtype}）で使えません。"
                             f"--samplerate と --channels を省いてやり直してください。", str(e)) from e
