"""Carrier-like 4×6 shipping labels, drawn flat with PIL, with the polygon of every printed text line.

Four layouts (UPS-, FedEx-, USPS- and Amazon-like) share one small canvas: text lines in millimetres,
rules, boxes, 1D bars and 2D-code-like squares. Each text line's polygon is recorded in label millimetres
so the compositor can push it through the same warps as the pixels.

Longer than our usual module on purpose: the carrier layouts are data-like drawing code that share one canvas
and its helpers; one file keeps the layouts comparable side by side.
"""

from __future__ import annotations

import datetime as dt
import functools
import zlib
from dataclasses import dataclass, field

import numpy as np
import zxingcpp
from PIL import Image, ImageDraw

from podocr.synth import fonts
from podocr.synth.address import Party
from podocr.synth.scene import LABEL_H_MM, LABEL_W_MM, RECIPIENT_EM_MM, Scene
from podocr.synth.tracking import format_tracking

MIN_SHRINK = 0.6  # a line may shrink to this share of its font size to fit before it is cut


@dataclass(slots=True)
class LabelLine:
    text: str
    role: str  # recipient | sender | tracking | service | other
    poly_mm: np.ndarray  # 4×2, clockwise from the top-left of the text, label millimetres
    xheight_mm: float


@dataclass(slots=True)
class Style:
    sans: str
    mono: str
    upper: bool  # recipient block in capitals
    sender_upper: bool
    bold_recipient: bool
    unit_on_street_line: bool
    city_comma: bool


@dataclass(slots=True)
class RenderedLabel:
    ink: np.ndarray  # uint8 H×W, 255 = paper, 0 = full ink
    px_per_mm: float
    lines: list[LabelLine]
    fields: dict[str, str | None]
    meta: dict[str, object] = field(default_factory=dict)


class Canvas:
    """A label in millimetres; drawing methods take mm and record text-line polygons."""

    def __init__(self, px_per_mm: float, style: Style) -> None:
        self.r = px_per_mm
        self.style = style
        self.img = Image.new("L", (round(LABEL_W_MM * px_per_mm), round(LABEL_H_MM * px_per_mm)), 255)
        self.draw = ImageDraw.Draw(self.img)
        self.lines: list[LabelLine] = []

    def px(self, mm: float) -> float:
        return mm * self.r

    def text(
        self,
        x: float,
        y: float,
        s: str,
        size: float,
        *,
        bold: bool = False,
        family: str | None = None,
        role: str = "other",
        max_w: float | None = None,
        align: str = "left",
        fill: int = 0,
    ) -> float:
        """Draw one line with its cap-top at y (mm); returns the y where the next line starts."""
        fam = family or self.style.sans
        size_px = self.px(size)
        font = fonts.load_font(fam, bold, round(size_px))
        if max_w is not None:
            limit = self.px(max_w)
            # Lines that carry ground truth shrink as far as needed; only decoration may be cut short.
            floor = self.px(size) * (MIN_SHRINK if role == "other" else 0.2)
            while font.getlength(s) > limit and size_px > floor:
                size_px *= 0.93
                font = fonts.load_font(fam, bold, round(size_px))
            while role == "other" and font.getlength(s) > limit and len(s) > 4:
                s = s[:-1].rstrip()
        if not s.strip():
            return y + size * 1.2
        cap = -font.getbbox("H", anchor="ls")[1]
        xh = -font.getbbox("x", anchor="ls")[1]
        width = font.getlength(s)
        x_px = self.px(x)
        if align == "center":
            x_px -= width / 2
        elif align == "right":
            x_px -= width
        base = self.px(y) + cap
        self.draw.text((x_px, base), s, font=font, anchor="ls", fill=fill)
        left, top, right, bottom = font.getbbox(s, anchor="ls")
        pad = 0.06 * size_px
        x0, x1 = x_px + left - pad, x_px + right + pad
        y0, y1 = base + min(top, -cap) - pad, base + max(bottom, 0) + pad
        poly = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64) / self.r
        self.lines.append(LabelLine(s, role, poly, xh / self.r))
        return y + size_px / self.r * 1.18

    def rule(self, y: float, thick: float, x0: float = 0.0, x1: float = LABEL_W_MM) -> None:
        self.draw.rectangle([self.px(x0), self.px(y), self.px(x1), self.px(y + thick)], fill=0)

    def box(self, x0: float, y0: float, x1: float, y1: float, thick: float = 0.0) -> None:
        """A filled box (thick = 0) or an outline `thick` mm wide."""
        rect = [self.px(x0), self.px(y0), self.px(x1), self.px(y1)]
        if thick <= 0:
            self.draw.rectangle(rect, fill=0)
        else:
            self.draw.rectangle(rect, outline=0, width=max(1, round(self.px(thick))))

    def barcode(self, x: float, y: float, w: float, h: float, data: str) -> None:
        """A real Code 128 symbol of `data` (zxing-cpp's encoder), stretched to `w` mm: decodable like a label's."""
        modules = code128_modules(data)
        module = self.px(w) / len(modules)
        x0, y0, y1 = self.px(x), self.px(y), self.px(y + h)
        start = None
        for i, bar in enumerate([*modules, False]):
            if bar and start is None:
                start = i
            elif not bar and start is not None:
                self.draw.rectangle([x0 + start * module, y0, x0 + i * module - 0.5, y1], fill=0)
                start = None

    def code2d(self, x: float, y: float, size: float, kind: str, seed: int) -> None:
        """A 2D-code-like square: qr (three finders), matrix (L finder, clock track) or maxi (bullseye)."""
        rng = np.random.default_rng(seed)
        if kind == "maxi":
            self._maxi(x, y, size, rng)
            return
        n = int(rng.integers(21, 34)) if kind == "qr" else int(rng.integers(16, 27)) // 2 * 2
        cells = rng.random((n, n)) < 0.5
        if kind == "qr":
            for cy, cx in ((0, 0), (0, n - 7), (n - 7, 0)):
                cells[cy : cy + 7, cx : cx + 7] = False
                cells[cy : cy + 7, cx] = cells[cy : cy + 7, cx + 6] = True
                cells[cy, cx : cx + 7] = cells[cy + 6, cx : cx + 7] = True
                cells[cy + 2 : cy + 5, cx + 2 : cx + 5] = True
        else:
            cells[:, 0] = True
            cells[-1, :] = True
            cells[0, :] = np.arange(n) % 2 == 0
            cells[:, -1] = np.arange(n) % 2 == 1
        m = self.px(size) / n
        for cy, cx in zip(*np.nonzero(cells), strict=True):
            x0, y0 = self.px(x) + cx * m, self.px(y) + cy * m
            self.draw.rectangle([x0, y0, x0 + m - 0.5, y0 + m - 0.5], fill=0)

    def _maxi(self, x: float, y: float, size: float, rng: np.random.Generator) -> None:
        rows, cols = 33, 30
        m = self.px(size) / (cols + 0.5)
        cxm, cym = self.px(x + size / 2), self.px(y + size / 2)
        for r in range(rows):
            for c in range(cols):
                px = self.px(x) + (c + 0.5 * (r % 2)) * m
                py = self.px(y) + r * m * 0.9
                if (px - cxm) ** 2 + (py - cym) ** 2 < (m * 6.2) ** 2 or rng.random() < 0.5:
                    continue
                self.draw.rectangle([px, py, px + m * 0.75, py + m * 0.75], fill=0)
        for k, rad in enumerate((5.6, 4.4, 3.2, 2.0, 0.9)):
            self.draw.ellipse(
                [cxm - rad * m, cym - rad * m, cxm + rad * m, cym + rad * m], fill=0 if k % 2 == 0 else 255
            )


@functools.lru_cache(maxsize=4096)
def code128_modules(data: str) -> tuple[bool, ...]:
    """The symbol's modules left to right (True = bar), without quiet zones."""
    symbol = zxingcpp.create_barcode(data, zxingcpp.BarcodeFormat.Code128)
    row = np.asarray(zxingcpp.write_barcode_to_image(symbol, scale=1, add_quiet_zones=False))[0]
    return tuple(bool(v < 128) for v in row)


def fedex_barcode_data(tracking: str, zip5: str, rng: np.random.Generator) -> str:
    """FedEx's 34-digit label barcode: 20 routing/service digits, then the 12-digit number zero-padded to 14."""
    head = "1001" + zip5 + "".join(str(int(v)) for v in rng.integers(0, 10, 11))
    return head + tracking.rjust(14, "0")


# ---- shared blocks -----------------------------------------------------------------------------------------


def _case(s: str, upper: bool) -> str:
    return s.upper() if upper else s


def printed_party(p: Party, upper: bool) -> Party:
    return p.upper() if upper else p


def city_line(p: Party, comma: bool) -> str:
    return f"{p.city}{',' if comma else ''} {p.state} {p.zip}"


def address_block(
    c: Canvas,
    x: float,
    y: float,
    party: Party,
    size: float,
    *,
    role: str,
    upper: bool,
    bold: bool,
    max_w: float,
    phone: bool = False,
) -> float:
    """Name, company, street (+unit), city/state/ZIP; returns the y below the block."""
    st = c.style
    p = printed_party(party, upper)
    rows = [p.name]
    if p.company:
        rows.append(p.company)
    if phone and p.phone:
        rows.append(p.phone)
    if p.unit and st.unit_on_street_line:
        rows.append(f"{p.street} {p.unit}")
    else:
        rows.append(p.street)
        if p.unit:
            rows.append(p.unit)
    rows.append(city_line(p, st.city_comma))
    for row in rows:
        y = c.text(x, y, row, size, bold=bold, role=role, max_w=max_w)
    return y


def ship_to(c: Canvas, sc: Scene, y: float, *, x: float, size: float, max_w: float) -> float:
    """A "SHIP TO:" header above the recipient block in the carrier's recipient type size."""
    c.text(3, y, "SHIP TO:", size, bold=True)
    st = c.style
    em = RECIPIENT_EM_MM[sc.carrier]
    gap = size * 1.38
    return address_block(
        c, x, y + gap, sc.recipient, em, role="recipient", upper=st.upper, bold=st.bold_recipient, max_w=max_w
    )


def _weight(rng: np.random.Generator) -> float:
    return float(np.round(rng.choice([rng.uniform(0.2, 3), rng.uniform(3, 30)]), 1))


def _date(iso: str) -> dt.date:
    return dt.date.fromisoformat(iso)


def _ref(rng: np.random.Generator) -> str:
    kind = int(rng.integers(0, 3))
    if kind == 0:
        return f"PO-{rng.integers(10000, 999999)}"
    if kind == 1:
        return f"ORD {rng.integers(100, 999)}-{rng.integers(1000000, 9999999)}"
    return f"INV{rng.integers(100000, 9999999)}"


# ---- layouts ------------------------------------------------------------------------------------------------


def _ups(c: Canvas, sc: Scene, rng: np.random.Generator) -> str:
    st, tn = c.style, sc.tracking or ""
    y = 3.0
    y = address_block(
        c, 3, y, sc.sender, 2.5, role="sender", upper=st.sender_upper, bold=False, max_w=60, phone=True
    )
    wt = _weight(rng)
    c.text(98.5, 3.0, f"{wt:g} LBS", 3.6, bold=True, align="right")
    c.text(98.5, 7.8, "1 OF 1", 2.6, align="right")
    c.text(
        98.5,
        11.5,
        f"DWT: {rng.integers(6, 24)},{rng.integers(6, 18)},{rng.integers(2, 14)}",
        2.1,
        align="right",
    )
    y = ship_to(c, sc, max(y + 1.5, 22.0), x=9, size=2.5, max_w=89)
    y = max(y + 1.0, 52.0)
    c.rule(y, 0.8)
    c.code2d(4, y + 2.5, 29, "maxi", zlib.crc32(tn.encode()))
    route = f"{sc.recipient.state} {sc.recipient.zip5[:3]} {rng.integers(0, 10)}-{rng.integers(1, 99):02d}"
    c.text(38, y + 3.5, route, 6.4, bold=True, max_w=60)
    c.barcode(44, y + 14, 50, 12, "420" + sc.recipient.zip5)
    y += 33.5
    c.rule(y, 0.5)
    service, level = [
        ("UPS GROUND", ""),
        ("UPS NEXT DAY AIR", "1"),
        ("UPS 2ND DAY AIR", "2"),
        ("UPS 3 DAY SELECT", "3"),
    ][int(rng.choice(4, p=[0.6, 0.15, 0.15, 0.1]))]
    c.text(3, y + 2.0, service, 5.2, bold=True, role="service", max_w=78)
    if level:
        c.box(86, y + 1.2, 98.5, y + 13.2)
        c.text(92.25, y + 2.8, level, 8.5, bold=True, align="center", fill=255)
    c.text(3, y + 9.5, f"TRACKING #: {format_tracking('ups', tn)}", 3.1, bold=True, role="tracking", max_w=80)
    y += 15.0
    c.rule(y, 0.5)
    c.barcode(8, y + 3, 86, 26, tn)
    y += 32.5
    c.rule(y, 0.5)
    c.text(3, y + 1.5, f"BILLING: P/P   REF 1: {_ref(rng)}", 2.3, max_w=95)
    c.text(3, y + 5.6, f"DATE: {_date(sc.ship_date).strftime('%d %b %Y').upper()}", 2.1)
    c.text(
        98.5,
        y + 7.6,
        f"XOL 25.{rng.integers(1, 12):02d}.{rng.integers(1, 28):02d}  NV45 {rng.integers(10, 99)}.0A",
        1.8,
        align="right",
    )
    return service


def _fedex(c: Canvas, sc: Scene, rng: np.random.Generator) -> str:
    st, tn = c.style, sc.tracking or ""
    d = _date(sc.ship_date)
    origin = "".join(chr(65 + int(v)) for v in rng.integers(0, 26, 4))
    c.text(3, 3, f"ORIGIN ID:{origin}   {sc.sender.phone}", 2.2, max_w=58)
    y = address_block(c, 3, 6.4, sc.sender, 2.4, role="sender", upper=st.sender_upper, bold=False, max_w=57)
    c.text(3, y, "UNITED STATES US", 2.2)
    right = [
        f"SHIP DATE: {d.strftime('%d%b%y').upper()}",
        f"ACTWGT: {_weight(rng):.2f} LB",
        f"CAD: {rng.integers(1000000, 9999999)}/INET{rng.integers(4000, 4999)}",
        f"DIMS: {rng.integers(6, 24)}x{rng.integers(6, 18)}x{rng.integers(2, 14)} IN",
        "BILL SENDER",
    ]
    for i, row in enumerate(right):
        c.text(62, 3 + i * 2.9, row, 2.1, max_w=37)
    y = max(y + 4.0, 24.0)
    c.text(3, y + 0.5, "TO", 3.4, bold=True)
    em = RECIPIENT_EM_MM["fedex"]
    y = address_block(
        c, 11, y, sc.recipient, em, role="recipient", upper=st.upper, bold=st.bold_recipient, max_w=87
    )
    c.text(11, y + 0.3, f"{sc.recipient.phone}          REF: {_ref(rng)}", 2.4, max_w=87)
    y = c.text(
        11,
        y + 3.4,
        f"INV: {rng.integers(10000, 99999)}   PO: {rng.integers(10000, 99999)}   DEPT: {rng.integers(100, 999)}",
        2.1,
        max_w=87,
    )
    y = max(y + 1.5, 58.0)
    c.rule(y, 0.6)
    c.code2d(3, y + 2.5, 24, "matrix", zlib.crc32(tn.encode()))
    express = sc.recipient.zip5[0] in "0123"
    service = (
        "PRIORITY OVERNIGHT"
        if express
        else str(rng.choice(["FEDEX GROUND", "FEDEX HOME DELIVERY", "FEDEX 2DAY"]))
    )
    c.box(84, y + 2.5, 98.5, y + 17)
    c.text(91.25, y + 4.4, "E" if express else "G", 10.5, bold=True, align="center", fill=255)
    due = d + dt.timedelta(days=int(rng.integers(1, 4)))
    c.text(82, y + 3, due.strftime("%a - %d %b").upper(), 3.2, bold=True, align="right", max_w=50)
    c.text(82, y + 8, service, 3.8, bold=True, align="right", role="service", max_w=52)
    c.text(
        30,
        y + 14.5,
        f"TRK# {format_tracking('fedex', tn)}",
        4.2,
        bold=True,
        role="tracking",
        family=st.mono,
        max_w=52,
    )
    y += 27.0
    sort = (
        "".join(chr(65 + int(v)) for v in rng.integers(0, 26, 2))
        + " "
        + "".join(chr(65 + int(v)) for v in rng.integers(0, 26, 4))
    )
    c.text(3, y, sort, 7.5, bold=True)
    c.text(98.5, y + 0.5, sc.recipient.zip5, 4.2, bold=True, align="right")
    c.text(98.5, y + 5.6, f"{sc.recipient.state}-US", 3.0, bold=True, align="right")
    c.barcode(7, y + 13, 87, 31, fedex_barcode_data(tn, sc.recipient.zip5, rng))
    return service


def _usps(c: Canvas, sc: Scene, rng: np.random.Generator) -> str:
    st, tn = c.style, sc.tracking or ""
    d = _date(sc.ship_date)
    letter, service = [
        ("P", "USPS PRIORITY MAIL 2-DAY"),
        ("G", "USPS GROUND ADVANTAGE"),
        ("E", "PRIORITY MAIL EXPRESS 1-DAY"),
    ][int(rng.choice(3, p=[0.5, 0.4, 0.1]))]
    c.box(3, 3, 25, 25, thick=0.9)
    c.text(14, 6.2, letter, 16.5, bold=True, align="center")
    info = [
        "US POSTAGE PAID",
        f"${rng.uniform(4, 40):.2f}",
        d.strftime("%m/%d/%Y"),
        f"ZONE {rng.integers(1, 9)}",
        f"{rng.integers(10**13, 10**14)}",
    ]
    for i, row in enumerate(info):
        c.text(30, 3.5 + i * 3.8, row, 2.6 if i else 2.8, bold=i == 0, max_w=42)
    c.code2d(78, 3.5, 20, "matrix", zlib.crc32(tn.encode()))
    c.rule(28, 1.2)
    c.text(50.8, 30.8, service, 4.6, bold=True, align="center", role="service", max_w=95)
    c.rule(37.5, 1.2)
    y = address_block(c, 3, 40.5, sc.sender, 2.5, role="sender", upper=st.sender_upper, bold=False, max_w=60)
    c.text(
        98.5,
        41,
        f"Expected Delivery Date: {(d + dt.timedelta(days=2)).strftime('%m/%d/%y')}",
        2.0,
        align="right",
        max_w=34,
    )
    c.text(98.5, 45, f"{rng.integers(1, 9999):04d}", 3.0, bold=True, align="right")
    c.text(98.5, 49.5, f"C{rng.integers(0, 999):03d}", 2.6, align="right")
    y = ship_to(c, sc, max(y + 2.5, 58.0), x=10, size=2.6, max_w=88)
    y = max(y + 2.0, 90.0)
    c.rule(y, 1.4)
    c.text(
        50.8,
        y + 3.0,
        "USPS TRACKING # EP" if letter != "G" else "USPS TRACKING #",
        3.1,
        bold=True,
        align="center",
    )
    c.barcode(9, y + 8.0, 84, 24, "420" + sc.recipient.zip5 + tn)
    c.text(
        50.8, y + 33.5, format_tracking("usps", tn), 3.5, bold=True, align="center", role="tracking", max_w=92
    )
    c.rule(y + 39.5, 1.4)
    c.text(50.8, y + 42.5, f"Electronic Rate Approved #{rng.integers(10**8, 10**9)}", 2.0, align="center")
    return service


def _amazon(c: Canvas, sc: Scene, rng: np.random.Generator) -> str:
    st, tn = c.style, sc.tracking or ""
    y = address_block(c, 3, 3, sc.sender, 2.3, role="sender", upper=st.sender_upper, bold=False, max_w=56)
    c.box(62, 3, 98.5, 25, thick=0.7)
    station = "D" + "".join(chr(65 + int(v)) for v in rng.integers(0, 26, 2)) + str(rng.integers(1, 9))
    c.text(80.25, 5.2, station, 8.0, bold=True, align="center", max_w=33)
    c.text(80.25, 16.5, f"CYCLE {rng.integers(1, 4)}", 3.4, bold=True, align="center")
    y = max(y + 1.5, 28.0)
    c.code2d(3, y, 26, "qr", zlib.crc32(tn.encode()))
    c.text(
        33,
        y + 1.0,
        f"{station[1:]}{rng.integers(1, 9)}  {chr(65 + int(rng.integers(0, 8)))}.{rng.integers(1, 40)}",
        6.2,
        bold=True,
        max_w=64,
    )
    service = str(rng.choice(["PRIME 1-DAY", "STANDARD", "PRIME", "SAME DAY"]))
    c.text(33, y + 10.5, service, 4.2, bold=True, role="service", max_w=64)
    c.text(33, y + 17.5, f"STA-{station[1:]} RT-{rng.integers(1, 60)}", 2.8, max_w=64)
    y += 29.0
    c.rule(y, 0.7)
    y = ship_to(c, sc, y + 2.0, x=5, size=2.6, max_w=93)
    y = max(y + 1.5, 96.0)
    c.rule(y, 0.7)
    c.barcode(7, y + 3, 87, 26, tn)
    c.text(50.8, y + 31, tn, 4.0, bold=True, align="center", role="tracking", family=st.mono, max_w=92)
    c.text(
        3,
        y + 38,
        f"Order #: {rng.integers(100, 999)}-{rng.integers(10**6, 10**7)}-{rng.integers(10**6, 10**7)}",
        2.1,
        max_w=95,
    )
    c.text(3, y + 41.5, f"Shipped: {_date(sc.ship_date).strftime('%m/%d/%Y')}   Pkg 1 of 1", 2.1, max_w=95)
    return service


def _hybrid(c: Canvas, sc: Scene, rng: np.random.Generator) -> str:
    """A consolidator label (UPS SurePost-like): the induction post office under SHIP TO, the consumer under
    USPS DELIVER TO, a UPS `1Z` and a USPS IMpb number, each with its barcode."""
    st, tn, usps = c.style, sc.tracking or "", sc.tracking2 or ""
    y = address_block(
        c, 3, 3.0, sc.sender, 2.3, role="sender", upper=st.sender_upper, bold=False, max_w=60, phone=False
    )
    c.text(98.5, 3.0, f"{_weight(rng):g} LBS", 3.4, bold=True, align="right")
    c.text(98.5, 7.6, "1 OF 1", 2.4, align="right")
    y = max(y + 1.0, 17.0)
    c.text(3, y, "SHIP TO:", 2.4, bold=True)
    if sc.post_office is not None:
        y = address_block(c, 9, y + 3.2, sc.post_office, 2.8, role="other", upper=True, bold=False, max_w=88)
    y += 1.5
    c.text(3, y, "USPS DELIVER TO:", 2.6, bold=True)
    em = RECIPIENT_EM_MM["ups"]
    y = address_block(
        c, 9, y + 3.6, sc.recipient, em, role="recipient", upper=st.upper, bold=st.bold_recipient, max_w=89
    )
    y = max(y + 1.0, 70.0)
    c.rule(y, 0.8)
    service = "UPS SUREPOST"
    c.text(3, y + 2.0, service, 5.0, bold=True, role="service", max_w=70)
    c.text(3, y + 8.6, f"TRACKING #: {format_tracking('ups', tn)}", 3.0, bold=True, role="tracking", max_w=90)
    c.barcode(10, y + 13.0, 80, 15, tn)
    y += 30.0
    c.rule(y, 0.6)
    c.text(50.8, y + 1.8, "USPS TRACKING #", 2.8, bold=True, align="center")
    c.barcode(9, y + 6.0, 84, 19, "420" + sc.recipient.zip5 + usps)
    c.text(
        50.8,
        y + 26.5,
        format_tracking("usps", usps),
        3.3,
        bold=True,
        align="center",
        role="tracking",
        max_w=92,
    )
    c.text(3, y + 32.5, f"BILLING: P/P   REF 1: {_ref(rng)}", 2.1, max_w=95)
    return service


_LAYOUTS = {"ups": _ups, "fedex": _fedex, "usps": _usps, "amazon": _amazon}


def sample_style(rng: np.random.Generator, upper: bool) -> Style:
    return Style(
        sans=fonts.pick(fonts.SANS, int(rng.integers(0, 1000))),
        mono=fonts.pick(fonts.MONO, int(rng.integers(0, 1000))),
        upper=upper,
        sender_upper=bool(rng.random() < 0.5),
        bold_recipient=bool(rng.random() < 0.75),
        unit_on_street_line=bool(rng.random() < 0.55),
        city_comma=bool(rng.random() < 0.5),
    )


def render_label(scene: Scene, px_per_mm: float, rng: np.random.Generator) -> RenderedLabel:
    """Draw the scene's label at `px_per_mm`; fields are the recipient values exactly as printed."""
    style = sample_style(rng, scene.upper)
    canvas = Canvas(px_per_mm, style)
    layout = _hybrid if scene.layout == "hybrid" else _LAYOUTS[scene.carrier]
    service = layout(canvas, scene, rng)
    ink = np.asarray(canvas.img, dtype=np.uint8).copy()
    if rng.random() < 0.2:  # worn thermal head: faint vertical streaks through the print
        cols = rng.choice(ink.shape[1], size=int(rng.integers(1, 5)), replace=False)
        for col in cols:
            span = slice(col, col + max(1, int(px_per_mm * rng.uniform(0.2, 0.6))))
            ink[:, span] = 255 - ((255 - ink[:, span].astype(np.int16)) * rng.uniform(0.2, 0.6)).astype(
                np.uint8
            )
    p = printed_party(scene.recipient, scene.upper)
    unit_placement = "none" if not p.unit else ("street_line" if style.unit_on_street_line else "own_line")
    fields: dict[str, str | None] = {
        "tracking_number": scene.tracking,
        "tracking_number_2": scene.tracking2,
        "recipient_name": p.name,
        "recipient_company": p.company,
        "street": p.street,
        "unit": p.unit,
        "city": p.city,
        "state": p.state,
        "zip": p.zip,
    }
    meta: dict[str, object] = {
        "font": style.sans,
        "service": service,
        "unit_placement": unit_placement,
        "upper": scene.upper,
        "layout": scene.layout,
    }
    return RenderedLabel(ink, px_per_mm, canvas.lines, fields, meta)
