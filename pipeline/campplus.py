"""CAM++ speaker embeddings, written here so the embedded weights work offline.

The weights are 3D-Speaker's CAM++ "sv_zh_en_16k-common_advanced" model (Apache-2.0), a plain
PyTorch state dict. Its reference implementation lives in 3D-Speaker / ModelScope, neither of
which we want as a dependency, so the network is re-built here from the architecture (paper:
"CAM++: A Fast and Efficient Network for Speaker Verification Using Context-Aware Masking",
Wang et al., Interspeech 2023) with module names chosen to match the checkpoint keys exactly, so
the load is `strict=True`.

Shape of the network:
  80-bin log-mel fbank (batch, frames, 80)
  -> FCM head: 2-D ResNet front end over (frequency, time); frequency is halved 3 times, 80 -> 10,
     and the 32 channels x 10 bins are flattened to 320 features per frame
  -> TDNN (kernel 5, stride 2: halves the frame rate to 20 ms)
  -> 3 densely connected TDNN blocks (12, 24, 16 layers, growth 32) whose layers use
     context-aware masking (CAM), each block followed by a transition that halves the channels
  -> BN + ReLU, statistics pooling (mean and std over time), 1x1 "dense" -> 192, BN (no affine)

Besides the bare network this module offers the fbank front end, a loader, a pyannote.audio
`Model` wrapper that the SpeakerDiarization pipeline can use as its `embedding`, and a helper
that embeds a whole clip.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pyannote.audio import Model
from torch import nn
from torchaudio.compliance import kaldi

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
NUM_MEL_BINS = 80
EMBEDDING_DIM = 192
FRAME_LENGTH_MS = 25.0
FRAME_SHIFT_MS = 10.0
# Fewer than this many 10 ms fbank frames (0.5 s) of a speaker give an unreliable embedding:
# CampplusEmbedding returns NaN for them so that pyannote's clustering ignores them.
MIN_SPEECH_FRAMES = 50
# CAM's segment-level context: mean over 100-frame segments (2 s, after the stride-2 TDNN).
_CAM_SEGMENT_FRAMES = 100


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------


def _bn_relu(channels: int) -> nn.Sequential:
    # The checkpoint names these sub-modules "batchnorm" and "relu" (3D-Speaker builds them from
    # a config string), so a plain Sequential of two unnamed layers would not load.
    return nn.Sequential(OrderedDict(batchnorm=nn.BatchNorm1d(channels), relu=nn.ReLU()))


class _ResBlock2d(nn.Module):
    """Basic 2-D residual block; `stride` downsamples the frequency axis only, never time."""

    def __init__(self, channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Sequential()
        if stride != 1:
            # The identity path has to be downsampled the same way as the main path.
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels, channels, 1, stride=(stride, 1), bias=False),
                nn.BatchNorm2d(channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class _FCMHead(nn.Module):
    """Front-end convolution module: 2-D convs over (frequency, time), flattened per frame."""

    def __init__(self, feat_dim: int = NUM_MEL_BINS, channels: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.layer1 = nn.Sequential(_ResBlock2d(channels, 2), _ResBlock2d(channels, 1))
        self.layer2 = nn.Sequential(_ResBlock2d(channels, 2), _ResBlock2d(channels, 1))
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        # three stride-2 steps on frequency: 80 bins -> 10
        self.out_channels = channels * (feat_dim // 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, freq, time) -> (batch, 1, freq, time) for the 2-D convolutions
        out = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
        out = self.layer2(self.layer1(out))
        out = F.relu(self.bn2(self.conv2(out)))
        batch, channels, freq, time = out.shape
        return out.reshape(batch, channels * freq, time)


class _TDNNLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int):
        super().__init__()
        self.linear = nn.Conv1d(
            in_channels, out_channels, kernel_size, stride=stride,
            padding=kernel_size // 2, bias=False,
        )
        self.nonlinear = _bn_relu(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x))


def _segment_mean(x: torch.Tensor, segment: int) -> torch.Tensor:
    """Mean over consecutive `segment`-frame pieces, broadcast back to every frame of the piece."""
    # ceil_mode keeps the last, shorter piece; with no padding its mean is over its real frames.
    means = F.avg_pool1d(x, kernel_size=segment, stride=segment, ceil_mode=True)
    return means.repeat_interleave(segment, dim=-1)[..., : x.shape[-1]]


class _CAMLayer(nn.Module):
    """TDNN layer whose output is gated by a mask computed from utterance and segment context.

    This is the "context-aware masking" of CAM++: the gate lets each layer emphasise the
    speaker's characteristics and suppress the rest, based on the mean of the whole input plus
    the mean of the surrounding 100-frame segment.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int):
        super().__init__()
        self.linear_local = nn.Conv1d(
            in_channels, out_channels, kernel_size,
            padding=(kernel_size - 1) // 2 * dilation, dilation=dilation, bias=False,
        )
        self.linear1 = nn.Conv1d(in_channels, in_channels // 2, 1)
        self.linear2 = nn.Conv1d(in_channels // 2, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local = self.linear_local(x)
        context = x.mean(dim=-1, keepdim=True) + _segment_mean(x, _CAM_SEGMENT_FRAMES)
        mask = torch.sigmoid(self.linear2(F.relu(self.linear1(context))))
        return local * mask


class _CAMDenseLayer(nn.Module):
    """Bottleneck (BN-ReLU-1x1 to 128 channels, BN-ReLU) followed by a CAM layer (32 out)."""

    def __init__(self, in_channels: int, bottleneck: int, growth: int, kernel_size: int,
                 dilation: int):
        super().__init__()
        self.nonlinear1 = _bn_relu(in_channels)
        self.linear1 = nn.Conv1d(in_channels, bottleneck, 1, bias=False)
        self.nonlinear2 = _bn_relu(bottleneck)
        self.cam_layer = _CAMLayer(bottleneck, growth, kernel_size, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class _CAMDenseBlock(nn.Module):
    """Densely connected: each layer sees all earlier outputs and adds `growth` channels."""

    def __init__(self, num_layers: int, in_channels: int, bottleneck: int, growth: int,
                 kernel_size: int, dilation: int):
        super().__init__()
        for i in range(num_layers):
            layer = _CAMDenseLayer(in_channels + i * growth, bottleneck, growth, kernel_size,
                                   dilation)
            self.add_module(f"tdnnd{i + 1}", layer)  # checkpoint numbering starts at 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = torch.cat([x, layer(x)], dim=1)
        return x


class _TransitLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.nonlinear = _bn_relu(in_channels)
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.nonlinear(x))


class _StatsPool(nn.Module):
    """Mean and unbiased standard deviation over time, concatenated."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=-1), x.std(dim=-1, unbiased=True)], dim=-1)


class _DenseLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        # The final BN has no affine parameters (the checkpoint holds only running statistics).
        self.nonlinear = nn.Sequential(
            OrderedDict(batchnorm=nn.BatchNorm1d(out_channels, affine=False))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, features) -> 1x1 conv needs a time axis of length 1
        return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))


class CAMPPlus(nn.Module):
    """CAM++ speaker embedding network: (batch, frames, 80) fbank -> (batch, 192).

    The input must already be mean-normalised over time (see `fbank`).
    """

    def __init__(self, feat_dim: int = NUM_MEL_BINS, embedding_size: int = EMBEDDING_DIM,
                 growth: int = 32, bottleneck: int = 128, init_channels: int = 128):
        super().__init__()
        self.head = _FCMHead(feat_dim)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["tdnn"] = _TDNNLayer(self.head.out_channels, init_channels, 5, stride=2)
        channels = init_channels
        # (layers, kernel, dilation) per block; the wider dilation in the later blocks widens
        # the temporal context without extra parameters.
        for i, (num_layers, kernel_size, dilation) in enumerate([(12, 3, 1), (24, 3, 2),
                                                                 (16, 3, 2)], start=1):
            layers[f"block{i}"] = _CAMDenseBlock(num_layers, channels, bottleneck, growth,
                                                 kernel_size, dilation)
            channels += num_layers * growth
            layers[f"transit{i}"] = _TransitLayer(channels, channels // 2)
            channels //= 2
        layers["out_nonlinear"] = _bn_relu(channels)
        layers["stats"] = _StatsPool()
        layers["dense"] = _DenseLayer(channels * 2, embedding_size)
        self.xvector = nn.Sequential(layers)
        self.embedding_size = embedding_size

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        # (batch, frames, mel) -> (batch, mel, frames): convolutions run along time
        return self.xvector(self.head(feats.transpose(1, 2)))


# --------------------------------------------------------------------------------------------
# Features, loading, embedding
# --------------------------------------------------------------------------------------------


def _log_mel(waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """(batch, samples) float in [-1, 1] -> (batch, frames, 80) Kaldi fbank, not normalised."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"CAM++ expects {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
    if waveform.dim() == 1:
        waveform = waveform.unsqueeze(0)
    # Same settings as 3D-Speaker's recipe: Kaldi defaults (povey window, pre-emphasis 0.97,
    # DC removal, snip edges) with 80 bins and no dither, so the features are deterministic.
    # Input stays in [-1, 1] as the recipe loads it; the scale hardly matters anyway because a
    # gain is a constant offset in log-mel and the mean normalisation removes it (it only moves
    # the energy floor, which matters for digital silence).
    feats = [
        kaldi.fbank(
            wav.unsqueeze(0).float(), num_mel_bins=NUM_MEL_BINS, frame_length=FRAME_LENGTH_MS,
            frame_shift=FRAME_SHIFT_MS, dither=0.0, sample_frequency=sample_rate,
        )
        for wav in waveform
    ]
    return torch.stack(feats)


def fbank(waveform: torch.Tensor, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """(batch, samples) float waveform in [-1, 1] -> (batch, frames, 80) mean-normalised fbank.

    A 1-D waveform is treated as a batch of one. Needs at least 400 samples (one 25 ms frame).
    """
    feats = _log_mel(waveform, sample_rate)
    # per-utterance mean normalisation over time (removes channel / gain offsets)
    return feats - feats.mean(dim=1, keepdim=True)


def load_campplus(path: str | Path) -> CAMPPlus:
    """Build CAM++ and load the state dict at `path` strictly; the model is in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise RuntimeError(f"CAM++ weights not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a truncated/foreign file
        raise RuntimeError(f"CAM++ weights unreadable (corrupt or not a state dict): {path}: "
                           f"{exc}") from exc
    if not isinstance(state, dict):
        raise RuntimeError(f"CAM++ weights are not a state dict: {path}")
    model = CAMPPlus()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise RuntimeError(f"CAM++ weights do not fit the network: {path}: {exc}") from exc
    model.eval()
    logger.debug("loaded CAM++ weights from %s", path)
    return model


def embed_waveform(model: CAMPPlus, waveform_np_16k: np.ndarray) -> np.ndarray:
    """Embed a whole clip (1-D float32 at 16 kHz, in [-1, 1]) -> L2-normalised (192,) vector.

    The clip is embedded in one pass (CAM++ takes any length); memory grows with its length,
    about 100 MB per minute, which is fine for enrollment clips.
    """
    device = next(model.parameters()).device  # the diarization may run on a GPU
    wav = torch.as_tensor(np.asarray(waveform_np_16k, dtype=np.float32)).reshape(-1).to(device)
    if wav.numel() < SAMPLE_RATE // 2:
        raise ValueError(f"clip too short to embed: {wav.numel() / SAMPLE_RATE:.2f} s "
                         "(need at least 0.5 s)")
    with torch.inference_mode():
        emb = model(fbank(wav.unsqueeze(0)))[0]
    return F.normalize(emb, dim=0).cpu().numpy()


# --------------------------------------------------------------------------------------------
# pyannote.audio wrapper
# --------------------------------------------------------------------------------------------


class CampplusEmbedding(Model):
    """CAM++ as a pyannote.audio `Model`, usable as `SpeakerDiarization(embedding=...)`.

    pyannote wraps it in `PyannoteAudioPretrainedSpeakerEmbedding`, which reads `dimension`
    and `audio.sample_rate`, assumes cosine metric, and calls
    `forward(waveforms (batch, 1, samples), weights=masks (batch, frames))` where the masks are
    one local speaker's activity from the segmentation model (at its own frame rate).

    With `weights`, each item keeps only the fbank frames where that speaker is active
    (interpolated weight > 0.5) and runs CAM++ on those alone, mean-normalised over them. We do
    not merely weight the final statistics pooling (as pyannote's own WeSpeaker wrapper does)
    because CAM++ mixes information across time in every layer (the CAM masks use the mean of the
    whole input and of 2 s segments, and the fbank mean normalisation uses the whole input):
    the other speakers in the chunk would leak into the embedding. Hard selection matches how
    the model was trained (on single-speaker segments); the price is small discontinuities
    where the kept regions are joined. Items with fewer than MIN_SPEECH_FRAMES kept frames
    (0.5 s) get a NaN row, which pyannote's clustering drops.

    Without `weights`, inputs shorter than about 0.5 s raise ValueError; pyannote probes that
    to set `min_num_samples`, which then matches the 0.5 s speech minimum.
    """

    def __init__(self, weights_path: str | Path, sample_rate: int = SAMPLE_RATE,
                 num_channels: int = 1):
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"CAM++ expects {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
        super().__init__(sample_rate=sample_rate, num_channels=num_channels)
        self.campplus = load_campplus(weights_path)
        self.eval()

    @property
    def dimension(self) -> int:
        return EMBEDDING_DIM

    def forward(self, waveforms: torch.Tensor,
                weights: torch.Tensor | None = None) -> torch.Tensor:
        if waveforms.dim() != 3 or waveforms.shape[1] != 1:
            raise ValueError("expected waveforms (batch, 1, samples), "
                             f"got {tuple(waveforms.shape)}")
        feats = _log_mel(waveforms[:, 0], SAMPLE_RATE)  # (batch, frames, 80)
        batch, num_frames, _ = feats.shape

        if weights is None:
            if num_frames < MIN_SPEECH_FRAMES:
                raise ValueError(f"waveform too short for CAM++: {num_frames} frames, "
                                 f"need {MIN_SPEECH_FRAMES}")
            return self.campplus(feats - feats.mean(dim=1, keepdim=True))

        if weights.dim() != 2 or weights.shape[0] != batch:
            raise ValueError(f"expected weights (batch={batch}, frames), "
                             f"got {tuple(weights.shape)}")
        # Segmentation frames (~17 ms) to fbank frames (10 ms); linear like pyannote's pooling.
        frame_weights = F.interpolate(
            weights.to(feats.dtype).unsqueeze(1), size=num_frames, mode="linear",
            align_corners=False,
        ).squeeze(1)
        keep = frame_weights > 0.5

        out = torch.full((batch, EMBEDDING_DIM), float("nan"), dtype=feats.dtype,
                         device=feats.device)
        # One item at a time: each keeps a different number of frames, and padding would leak
        # into CAM++'s whole-input means.
        for b in range(batch):
            kept = feats[b, keep[b]]
            if kept.shape[0] < MIN_SPEECH_FRAMES:
                continue
            kept = kept - kept.mean(dim=0, keepdim=True)
            out[b] = self.campplus(kept.unsqueeze(0))[0]
        return out
