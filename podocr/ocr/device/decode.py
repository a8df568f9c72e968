"""Batched JPEG decoding on the device (nvJPEG through torchvision on CUDA), with the host decoder behind it.

Every photo first passes the host decoder's own checks (`io.decode.read_header`: magic bytes, size limits,
completeness, EXIF orientation), so a file the host path rejects is rejected here with the same PhotoError.
Baseline JPEGs in RGB or grey then decode in one `torchvision.io.decode_jpeg` call for the batch; EXIF
orientation is applied to the decoded tensor. Everything else goes to the host decoder, photo by photo, and is
uploaded: other formats (PNG, WebP, TIFF, …), CMYK/YCCK and progressive or arithmetic-coded JPEGs (which
nvJPEG's batched decoder does not take), a batch call that raises (each photo is then tried alone), and a
decoded size that disagrees with the header. Each photo yields exactly one image or one PhotoError.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch
from torchvision.io import ImageReadMode, decode_jpeg

from podocr.config import IOConfig
from podocr.io.decode import Header, decode_image, read_header
from podocr.io.errors import ErrorCode, PhotoError

DEVICE_MODES = (
    "RGB",
    "L",
)  # JPEG colour modes the device decodes; CMYK (and YCCK, which PIL reads as CMYK) do not


@dataclass
class DeviceImage:
    """One decoded photo: `io.decode.DecodedImage`'s fields, the pixels an upright H×W×3 BGR uint8 tensor."""

    image: torch.Tensor = field(repr=False)
    width: int
    height: int
    format: str
    sha256: str
    exif_orientation: int
    decoder: str  # "device", or "host: <why>" when the host decoder read it


def host_reason(header: Header) -> str:
    """Why a photo goes to the host decoder ("" when the device takes it)."""
    if header.format != "jpeg":
        return f"{header.format} is not a JPEG"
    if header.pil.mode not in DEVICE_MODES:
        return f"{header.pil.mode} JPEG"
    if header.pil.info.get("progressive") or header.pil.info.get("progression"):
        return "progressive JPEG"
    if header.pil.format == "MPO" or getattr(header.pil, "n_frames", 1) != 1:
        return "multi-picture JPEG"
    return ""


def orient(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """`io.decode.apply_orientation` for an H×W×C tensor."""
    if orientation == 2:
        return image.flip(1)
    if orientation == 3:
        return image.flip(0).flip(1)
    if orientation == 4:
        return image.flip(0)
    if orientation == 5:
        return image.transpose(0, 1)
    if orientation == 6:
        return torch.rot90(image, -1, dims=(0, 1))
    if orientation == 7:
        return image.transpose(0, 1).flip(0).flip(1)
    if orientation == 8:
        return torch.rot90(image, 1, dims=(0, 1))
    return image


def decode_batch(
    datas: list[bytes], io_cfg: IOConfig, device: torch.device
) -> list[DeviceImage | PhotoError]:
    """Decode every photo of a batch; one DeviceImage or one PhotoError per input, in order."""
    out: list[DeviceImage | PhotoError | None] = [None] * len(datas)
    headers: dict[int, Header] = {}
    for i, data in enumerate(datas):
        try:
            header = read_header(bytes(data), io_cfg)
        except PhotoError as exc:
            out[i] = exc
            continue
        reason = host_reason(header)
        if reason:
            out[i] = _on_host(datas[i], io_cfg, device, reason)
        else:
            headers[i] = header
    todo = list(headers)
    decoded = _decode_jpegs([datas[i] for i in todo], device)
    for i, chw in zip(todo, decoded, strict=True):
        h = headers[i]
        if isinstance(chw, Exception):
            out[i] = _on_host(
                datas[i], io_cfg, device, f"device decoder: {type(chw).__name__}: {str(chw)[:120]}"
            )
        elif (int(chw.shape[1]), int(chw.shape[2])) != (h.height, h.width):
            got = f"{int(chw.shape[2])}×{int(chw.shape[1])}"
            out[i] = _on_host(
                datas[i], io_cfg, device, f"device decoded {got}, header says {h.width}×{h.height}"
            )
        else:
            bgr = orient(chw.permute(1, 2, 0).flip(-1), h.orientation).contiguous()
            out[i] = DeviceImage(
                bgr,
                int(bgr.shape[1]),
                int(bgr.shape[0]),
                h.format,
                hashlib.sha256(datas[i]).hexdigest(),
                h.orientation,
                "device",
            )
    return [r if r is not None else PhotoError(ErrorCode.INTERNAL, "not decoded") for r in out]


def _decode_jpegs(datas: list[bytes], device: torch.device) -> list[torch.Tensor | Exception]:
    """One batched decode; when it raises, each photo alone, so one bad file costs only itself."""
    if not datas:
        return []
    tensors = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas]
    try:
        return list(decode_jpeg(tensors, mode=ImageReadMode.RGB, device=device))
    except Exception:  # a corrupt or unsupported file in the batch: find which
        pass
    out: list[torch.Tensor | Exception] = []
    for t in tensors:
        try:
            out.append(decode_jpeg(t, mode=ImageReadMode.RGB, device=device))
        except Exception as exc:
            out.append(exc)
    return out


def _on_host(data: bytes, io_cfg: IOConfig, device: torch.device, reason: str) -> DeviceImage | PhotoError:
    """The host decoder's result, uploaded; its PhotoError when it fails."""
    try:
        d = decode_image(data, io_cfg)
    except PhotoError as exc:
        return exc
    return DeviceImage(
        torch.from_numpy(d.image).to(device),
        d.width,
        d.height,
        d.format,
        d.sha256,
        d.exif_orientation,
        f"host: {reason}",
    )


def decode_one(data: bytes, io_cfg: IOConfig, device: torch.device) -> DeviceImage:
    """One photo, for a chain that decodes photo by photo (job/photos.py); raises its PhotoError."""
    (out,) = decode_batch([data], io_cfg, device)
    if isinstance(out, PhotoError):
        raise out
    return out
