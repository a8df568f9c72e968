"""Fonts the label renderer draws with: Debian packages only, looked up by file name.

Only fonts from `FONT_APT_PACKAGES` are used so that every machine (and CI, which installs exactly this
list; see scripts/setup.sh) renders byte-identical photos for a seed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont

FONT_APT_PACKAGES = (
    "fonts-dejavu-core",
    "fonts-dejavu-extra",
    "fonts-liberation2",
    "fonts-freefont-ttf",
    "fonts-croscore",
    "fonts-noto-mono",
)
FONT_ROOTS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))


@dataclass(frozen=True, slots=True)
class FontFamily:
    name: str
    regular: str  # file name, e.g. "DejaVuSans.ttf"
    bold: str
    subdir: str  # the package's folder under truetype/, preferred when two packages ship the same file name
    package: str
    mono: bool = False


FAMILIES: tuple[FontFamily, ...] = (
    FontFamily("dejavu-sans", "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "dejavu", "fonts-dejavu-core"),
    FontFamily(
        "dejavu-condensed",
        "DejaVuSansCondensed.ttf",
        "DejaVuSansCondensed-Bold.ttf",
        "dejavu",
        "fonts-dejavu-extra",
    ),
    FontFamily(
        "liberation-sans",
        "LiberationSans-Regular.ttf",
        "LiberationSans-Bold.ttf",
        "liberation2",
        "fonts-liberation2",
    ),
    FontFamily("free-sans", "FreeSans.ttf", "FreeSansBold.ttf", "freefont", "fonts-freefont-ttf"),
    FontFamily("arimo", "Arimo-Regular.ttf", "Arimo-Bold.ttf", "croscore", "fonts-croscore"),
    FontFamily(
        "dejavu-mono",
        "DejaVuSansMono.ttf",
        "DejaVuSansMono-Bold.ttf",
        "dejavu",
        "fonts-dejavu-core",
        mono=True,
    ),
    FontFamily(
        "liberation-mono",
        "LiberationMono-Regular.ttf",
        "LiberationMono-Bold.ttf",
        "liberation2",
        "fonts-liberation2",
        mono=True,
    ),
    FontFamily("cousine", "Cousine-Regular.ttf", "Cousine-Bold.ttf", "croscore", "fonts-croscore", mono=True),
    FontFamily(
        "noto-mono", "NotoSansMono-Regular.ttf", "NotoSansMono-Bold.ttf", "noto", "fonts-noto-mono", mono=True
    ),
)
SANS = tuple(f.name for f in FAMILIES if not f.mono)
MONO = tuple(f.name for f in FAMILIES if f.mono)


class FontsMissingError(RuntimeError):
    """No usable font file: the message says which apt packages to install."""


def _find(file_name: str, subdir: str) -> Path | None:
    for root in FONT_ROOTS:
        preferred = root / "truetype" / subdir / file_name
        if preferred.is_file():
            return preferred
    for root in FONT_ROOTS:
        if root.is_dir():
            hits = sorted(root.rglob(file_name))
            if hits:
                return hits[0]
    return None


@functools.cache
def available_families() -> tuple[str, ...]:
    """Families whose regular and bold files are both installed (cached per process)."""
    names = tuple(f.name for f in FAMILIES if _find(f.regular, f.subdir) and _find(f.bold, f.subdir))
    if not names:
        raise FontsMissingError(
            "no label fonts found under /usr/share/fonts; install them with: "
            f"sudo apt-get install {' '.join(FONT_APT_PACKAGES)}"
        )
    return names


def family(name: str) -> FontFamily:
    for f in FAMILIES:
        if f.name == name:
            return f
    raise KeyError(name)


@functools.lru_cache(maxsize=512)
def load_font(name: str, bold: bool, size_px: int) -> ImageFont.FreeTypeFont:
    """A PIL font at `size_px` (per-process cache: the renderer asks for the same few sizes many times)."""
    fam = family(name)
    file_name = fam.bold if bold else fam.regular
    path = _find(file_name, fam.subdir)
    if path is None:
        raise FontsMissingError(
            f"font file {file_name} not found under /usr/share/fonts; install it with: sudo apt-get install {fam.package}"
        )
    return ImageFont.truetype(str(path), size=max(4, int(size_px)))


def pick(names: tuple[str, ...], index: int) -> str:
    """The `index`-th installed family among `names` (modulo), so choices stay valid when some are missing."""
    installed = [n for n in names if n in available_families()] or list(available_families())
    return installed[index % len(installed)]
