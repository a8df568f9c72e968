"""Turn a sampled `Scene` into a JPEG photo and its ground-truth record.

Composition order, back to front: floor (perspective texture), the parcel's contact shadow, the box's
visible sides, the parcel top (bent), the label (bent with it); then photometry and JPEG. Every text
polygon is mapped with the same camera and bend as the pixels.

Longer than our usual module on purpose: the composition is one back-to-front sequence whose steps share the
scene's geometry; split up, each piece would need the whole scene passed around.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from podocr.synth import label as label_mod
from podocr.synth import parcel as parcel_mod
from podocr.synth import photo, textures
from podocr.synth.scene import (
    LABEL_H_MM,
    LABEL_W_MM,
    STREAM_LABEL,
    STREAM_RENDER,
    Scene,
    label_height_px,
    rng_for,
)
from podocr.synth.warp import (
    Bend,
    Camera,
    apply_h,
    bbox_of,
    local_scale,
    make_camera,
    paste_surface,
    quad_area,
    rot2,
    shift_principal,
)

LABEL_CORNERS_MM = np.array([[0, 0], [LABEL_W_MM, 0], [LABEL_W_MM, LABEL_H_MM], [0, LABEL_H_MM]], np.float64)
LABEL_CENTRE_MM = np.array([LABEL_W_MM / 2, LABEL_H_MM / 2])
MAX_TOP_PX = 1_800_000  # texture budget for the parcel top (speed over invisible detail)
MAX_FLOOR_PX = 1_400_000  # the floor is drawn softer than the parcel: phones focus on the label


@dataclass(slots=True)
class Photo:
    image: np.ndarray  # BGR uint8, exactly what the JPEG decodes to
    jpeg: bytes
    record: dict[str, Any]


@dataclass(slots=True)
class Layout:
    """Where things sit on the parcel plane (mm, origin at the parcel top's centre)."""

    parcel: tuple[float, float, float]
    label_centre: np.ndarray
    skew: np.ndarray  # 2×2 rotation label → parcel

    def label_to_plane(self, pts_mm: np.ndarray) -> np.ndarray:
        return self.label_centre + (np.asarray(pts_mm, np.float64) - LABEL_CENTRE_MM) @ self.skew.T

    def plane_to_label(self, s: np.ndarray) -> np.ndarray:
        """Inverse of label_to_plane, in the dtype of `s` (float32 pixel grids stay float32)."""
        dt = s.dtype
        return (s - self.label_centre.astype(dt)) @ self.skew.astype(dt) + LABEL_CENTRE_MM.astype(dt)


def _layout(scene: Scene) -> Layout:
    g = scene.geometry
    pw, pd, _ = g.parcel_mm
    skew = rot2(g.label_skew_deg)
    foot = (LABEL_CORNERS_MM - LABEL_CENTRE_MM) @ skew.T
    ex, ey = np.abs(foot).max(0)
    room_x, room_y = max(0.0, pw / 2 - ex - 8), max(0.0, pd / 2 - ey - 8)
    fx, fy = g.label_on_parcel
    centre = np.array([(2 * fx - 1) * room_x, (2 * fy - 1) * room_y])
    return Layout(g.parcel_mm, centre, skew)


def _camera(scene: Scene, lay: Layout) -> Camera:
    """Place the phone so the label has the planned size and rotation and lies wholly inside the frame."""
    g, w, h = scene.geometry, scene.width, scene.height
    f = g.focal_scale * max(w, h)
    spin = g.rotation_deg - g.label_skew_deg
    corners3 = np.c_[lay.label_to_plane(LABEL_CORNERS_MM), np.zeros(4)]
    target = g.label_area_frac
    dist = f * LABEL_H_MM / label_height_px(target, w, h)
    margin = 0.025 * min(w, h)
    for attempt in range(40):  # distance ⇒ size; perspective makes it a few steps, not one formula
        cam = make_camera(f, g.tilt_deg, g.tilt_axis_deg, spin, lay.label_centre, dist)
        quad = cam.project(corners3)
        area = quad_area(quad) / (w * h)
        lo, hi = quad.min(0), quad.max(0)
        span = hi - lo
        fit = max(span[0] / (w - 2 * margin), span[1] / (h - 2 * margin))
        if fit > 1.0:
            dist *= fit * 1.02
            continue
        if attempt < 20 and abs(area / target - 1) > 0.03 and fit * math.sqrt(area / target) <= 1.0:
            dist *= math.sqrt(area / target)
            continue
        break
    room = np.array([w, h]) - 2 * margin - span
    shift = margin - lo + room * np.array(g.center)
    return shift_principal(cam, float(shift[0]), float(shift[1]))


def _to_image(h_plane: np.ndarray, bend: Bend, plane_pts: np.ndarray) -> np.ndarray:
    return apply_h(h_plane, bend.to_plane(plane_pts))


def _draw_floor(
    img: np.ndarray, scene: Scene, cam: Camera, depth: float, rng: np.random.Generator
) -> list[tuple[str, np.ndarray]]:
    w, h = scene.width, scene.height
    h_floor = cam.homography(depth)
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    pts = apply_h(np.linalg.inv(h_floor), corners)
    (x0, y0), (x1, y1) = pts.min(0) - 20, pts.max(0) + 20
    r = min(0.75 * local_scale(h_floor, np.zeros(2)), math.sqrt(MAX_FLOOR_PX / ((x1 - x0) * (y1 - y0))))
    tw, th = math.ceil((x1 - x0) * r), math.ceil((y1 - y0) * r)
    tex, words = textures.floor(scene.background, th, tw, r, rng, (-x0 * r, -y0 * r))
    tex_to_plane = np.array([[1 / r, 0, x0], [0, 1 / r, y0], [0, 0, 1]])
    m = h_floor @ tex_to_plane
    cv2.warpPerspective(tex, m, (w, h), dst=img, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return [(text, apply_h(m, poly)) for text, poly in words]


def _contact_shadow(
    img: np.ndarray, cam: Camera, lay: Layout, depth: float, rng: np.random.Generator
) -> None:
    pw, pd, _ = lay.parcel
    base = np.array([[-pw / 2, -pd / 2], [pw / 2, -pd / 2], [pw / 2, pd / 2], [-pw / 2, pd / 2]])
    ang = rng.uniform(0, 2 * math.pi)
    reach = depth / math.tan(math.radians(rng.uniform(40, 75)))
    cast = base + reach * np.array([math.cos(ang), math.sin(ang)])
    h_floor = cam.homography(depth)
    pts = np.vstack([apply_h(h_floor, base), apply_h(h_floor, cast)])
    hull = cv2.convexHull(np.round(pts * 4).astype(np.int32))
    h, w = img.shape[:2]
    scale = 4
    mask = np.zeros((h // scale + 1, w // scale + 1), np.float32)
    cv2.fillConvexPoly(
        mask, np.round(hull / 4 / scale * 16).astype(np.int32), 1.0, lineType=cv2.LINE_AA, shift=4
    )
    soft = cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.012 * min(h, w) / scale))
    tight = cv2.GaussianBlur(mask, (0, 0), max(0.6, 0.003 * min(h, w) / scale))
    shadow = cv2.resize(0.35 * soft + 0.25 * tight, (w, h), interpolation=cv2.INTER_LINEAR)
    img *= 1.0 - shadow[..., None]


def _blend_polygon(
    img: np.ndarray,
    quad: np.ndarray,
    colour: np.ndarray,
    opacity: float = 1.0,
    rng: np.random.Generator | None = None,
) -> None:
    """Paint a convex polygon (anti-aliased) in place, with faint mottling when `rng` is given."""
    h, w = img.shape[:2]
    box = bbox_of(quad, w, h)
    if box is None:
        return
    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), np.float32)
    cv2.fillConvexPoly(mask, np.round((quad - (x0, y0)) * 16).astype(np.int32), opacity, cv2.LINE_AA, 4)
    fill: np.ndarray = colour.astype(np.float32)
    if rng is not None:
        fill = fill * (1.0 + 0.03 * textures.noise(y1 - y0, x1 - x0, 40, 40, rng))[..., None]
    region = img[y0:y1, x0:x1]
    m = mask[..., None]
    region *= 1.0 - m
    region += fill * m


def _box_sides(
    img: np.ndarray, cam: Camera, lay: Layout, surface: parcel_mod.Surface, rng: np.random.Generator
) -> None:
    """The box's walls that face the camera, shaded by their angle to the light, tape running down them."""
    pw, pd, ph = lay.parcel
    h, w = img.shape[:2]
    light = np.array([math.cos(a := rng.uniform(0, 2 * math.pi)), math.sin(a)])
    base = np.array(surface.base, np.float32)
    faces = {  # outward normal (x, y) → corners on the top edge, anticlockwise
        (1, 0): [(pw / 2, -pd / 2), (pw / 2, pd / 2)],
        (-1, 0): [(-pw / 2, pd / 2), (-pw / 2, -pd / 2)],
        (0, 1): [(pw / 2, pd / 2), (-pw / 2, pd / 2)],
        (0, -1): [(-pw / 2, -pd / 2), (pw / 2, -pd / 2)],
    }
    for (nx, ny), ((ax, ay), (bx, by)) in faces.items():
        centre = np.array([(ax + bx) / 2, (ay + by) / 2, ph / 2])
        if not cam.faces_camera(centre, np.array([nx, ny, 0.0])):
            continue
        quad3 = np.array([[ax, ay, 0], [bx, by, 0], [bx, by, ph], [ax, ay, ph]], np.float64)
        shade = 0.62 + 0.22 * float(light @ (nx, ny))
        _blend_polygon(img, cam.project(quad3), base * shade, rng=rng)
        tape = surface.tape
        if tape is not None and ((tape.along_x and nx != 0) or (not tape.along_x and ny != 0)):
            half, down = tape.width_mm / 2, rng.uniform(50, 110)
            if tape.along_x:
                band = np.array([[ax, -half, 0], [ax, half, 0], [ax, half, down], [ax, -half, down]])
            else:
                band = np.array([[-half, ay, 0], [half, ay, 0], [half, ay, down], [-half, ay, down]])
            _blend_polygon(img, cam.project(band), np.array(tape.colour) * shade, tape.opacity)
        edge = np.round(cam.project(quad3[:2]) * 16).astype(int)  # the top edge catches the light
        colour = tuple(float(v) * 1.1 for v in base)
        cv2.line(
            img, tuple(edge[0]), tuple(edge[1]), colour, max(1, round(0.002 * min(h, w))), cv2.LINE_AA, 4
        )


def _label_texture(ink: np.ndarray, px_per_mm: float, rng: np.random.Generator) -> np.ndarray:
    """Thermal paper and print colour from the ink mask; a faint darker rim where the label's edge shows."""
    paper = np.array([0.95, 0.96, 0.96], np.float32) * (1 + rng.normal(0, 0.015, 3)).astype(np.float32)
    if rng.random() < 0.3:
        paper *= np.array([0.93, 0.98, 1.0], np.float32)  # slightly yellowed stock
    dark = np.float32(rng.uniform(0.06, 0.2))
    cover = 1.0 - ink.astype(np.float32) / 255.0
    value = paper[None, None, :] * (1 - cover[..., None]) + dark * cover[..., None]
    rim = max(1, round(0.4 * px_per_mm))
    for sl in (np.s_[:rim], np.s_[-rim:]):
        value[sl] *= 0.88
        value[:, sl] *= 0.88
    return np.concatenate([value, np.ones((*ink.shape, 1), np.float32)], axis=2)


def _line_height(poly_px: np.ndarray) -> float:
    top = (poly_px[0] + poly_px[1]) / 2
    bottom = (poly_px[3] + poly_px[2]) / 2
    return float(np.linalg.norm(bottom - top))


def _r2(poly: np.ndarray) -> list[list[float]]:
    return [[round(float(x), 2), round(float(y), 2)] for x, y in poly]


@dataclass(slots=True)
class DrawnLabel:
    """The label as it landed in the photo: GT lines in pixels, the printed fields, its outline."""

    lines: list[dict[str, Any]]
    fields: dict[str, Any]
    poly: np.ndarray
    xheights: list[float]  # recipient lines' x-heights in pixels
    meta: dict[str, Any]


def _draw_parcel(
    img: np.ndarray,
    scene: Scene,
    cam: Camera,
    lay: Layout,
    bend: Bend,
    floor_words: list[tuple[str, np.ndarray]],
    rng: np.random.Generator,
) -> list[tuple[str, np.ndarray]]:
    """Shadow, walls and top of the parcel; returns the distractor words still visible (floor + parcel print)."""
    pw, pd, depth = lay.parcel
    h_top = cam.homography(0.0)
    _contact_shadow(img, cam, lay, max(depth, 12.0), rng)
    r_top = min(local_scale(h_top, np.zeros(2)), 9.0, math.sqrt(MAX_TOP_PX / (pw * pd)))
    keep_out = (
        lay.label_to_plane(LABEL_CORNERS_MM) + np.array([pw / 2, pd / 2])
        if scene.content == "label"
        else None
    )
    make = parcel_mod.box_top if scene.parcel == "box" else parcel_mod.mailer_top
    surface = make(pw, pd, r_top, keep_out, rng)
    if scene.parcel == "box":
        _box_sides(img, cam, lay, surface, rng)
    top = np.array([[-pw / 2, -pd / 2], [pw / 2, -pd / 2], [pw / 2, pd / 2], [-pw / 2, pd / 2]])
    outline = apply_h(h_top, top * 1.02)
    silhouette = np.vstack([outline, cam.project(np.c_[top, np.full(4, depth)])])
    words = [(t, poly) for t, poly in floor_words if not _hidden(poly, silhouette)]
    offset = np.array([pw / 2, pd / 2], np.float32)
    paste_surface(
        img, surface.rgba, outline, h_top, lambda q: (bend.to_texture(q) + offset) * r_top, bend.shading
    )
    for text, poly in surface.words:
        words.append((text, _to_image(h_top, bend, poly / r_top - (pw / 2, pd / 2))))
    return words


def _draw_label(
    img: np.ndarray, scene: Scene, cam: Camera, lay: Layout, bend: Bend, rng: np.random.Generator
) -> DrawnLabel:
    """Render the label flat at the resolution the photo needs there, paste it, map its text polygons."""
    h_top = cam.homography(0.0)
    r_label = float(np.clip(1.3 * local_scale(h_top, lay.label_centre), 3.0, 16.0))
    rendered = label_mod.render_label(scene, r_label, rng)
    tex = _label_texture(rendered.ink, r_label, rng)
    label_poly = _to_image(h_top, bend, lay.label_to_plane(LABEL_CORNERS_MM))
    scale, half = np.float32(r_label), np.float32(0.5)
    # PIL measures from pixel corners (label mm × r), cv2.remap samples at pixel centres: shift half a pixel.
    paste_surface(
        img,
        tex,
        label_poly,
        h_top,
        lambda q: lay.plane_to_label(bend.to_texture(q)) * scale - half,
        bend.shading,
    )
    mapped = _to_image(h_top, bend, lay.label_to_plane(np.vstack([ln.poly_mm for ln in rendered.lines])))
    lines, xheights = [], []
    for line, poly in zip(rendered.lines, mapped.reshape(-1, 4, 2), strict=True):
        lines.append({"text": line.text, "poly": _r2(poly), "role": line.role})
        if line.role == "recipient":
            mm_h = float(line.poly_mm[3, 1] - line.poly_mm[0, 1])
            xheights.append(line.xheight_mm * _line_height(poly) / mm_h)
    return DrawnLabel(lines, dict(rendered.fields), label_poly, xheights, rendered.meta)


def _photograph(
    img: np.ndarray, scene: Scene, label_poly: np.ndarray | None, rng: np.random.Generator
) -> bytes:
    """Light, shadow, glare, colour, blur, sharpening, noise, JPEG: the phone's part."""
    p = scene.photometry
    w, h = scene.width, scene.height
    photo.lighting(img, p)
    if p.shadow > 0:
        photo.hard_shadow(img, p.shadow, rng)
    if p.glare > 0:
        if p.glare_on_label and label_poly is not None:
            spread = label_poly.max(0) - label_poly.min(0)
            cx, cy = label_poly.mean(0) + rng.normal(0, 0.15, 2) * spread
        else:
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        photo.glare(img, p.glare, (float(cx), float(cy)), rng.uniform(0.05, 0.18) * max(w, h), rng)
    photo.colour(img, p)
    img = photo.blur(img, p)
    img = photo.sharpen(img, p.sharpen)
    photo.sensor_noise(img, p.noise_sigma, rng)
    return photo.encode_jpeg(img, p.jpeg_q)[1]


def render(scene: Scene) -> Photo:
    """Draw `scene`; the record follows the labels.jsonl contract (docs/synth.md)."""
    rng = rng_for(scene.seed, scene.index, STREAM_RENDER)
    g, w, h = scene.geometry, scene.width, scene.height
    lay = _layout(scene)
    cam = _camera(scene, lay)
    bend = Bend(g.bend_mm, g.bend_wavelength_mm, g.bend_phase)

    img = np.empty((h, w, 3), np.float32)
    distractors = _draw_floor(img, scene, cam, lay.parcel[2] if scene.parcel else 0.0, rng)
    if scene.parcel is not None:
        distractors = _draw_parcel(img, scene, cam, lay, bend, distractors, rng)
    label = None
    if scene.content == "label":
        label = _draw_label(img, scene, cam, lay, bend, rng_for(scene.seed, scene.index, STREAM_LABEL))
        distractors = [(t, poly) for t, poly in distractors if not _hidden(poly, label.poly)]
    jpeg = _photograph(img, scene, label.poly if label else None, rng)
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError(f"{scene.id}: own JPEG did not decode")

    visible = [(t, poly) for t, poly in distractors if _any_inside(poly, w, h)]
    record = _record(scene, cam.homography(0.0), lay, bend, label, visible)
    return Photo(decoded, jpeg, record)


def _hidden(poly: np.ndarray, occluder_pts: np.ndarray) -> bool:
    """True when most of `poly` (centre and corners) lies under the convex hull of `occluder_pts`."""
    hull = cv2.convexHull(occluder_pts.astype(np.float32))
    probes = np.vstack([poly, poly.mean(0, keepdims=True)])
    covered = sum(cv2.pointPolygonTest(hull, (float(x), float(y)), False) >= 0 for x, y in probes)
    return covered >= 3


def _any_inside(poly: np.ndarray, w: int, h: int) -> bool:
    return bool(np.any((poly[:, 0] >= 0) & (poly[:, 0] < w) & (poly[:, 1] >= 0) & (poly[:, 1] < h)))


def _measured_rotation(h_top: np.ndarray, bend: Bend, lay: Layout) -> float:
    ends = lay.label_to_plane(np.array([LABEL_CENTRE_MM, LABEL_CENTRE_MM + np.array([10.0, 0.0])]))
    a, b = _to_image(h_top, bend, ends)
    deg = math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))
    return round((deg + 180.0) % 360.0 - 180.0, 2)


LABEL_FIELDS = (  # the label's ground-truth fields in labels.jsonl (podocr.eval reads the same)
    "tracking_number",
    "tracking_number_2",
    "recipient_name",
    "recipient_company",
    "street",
    "unit",
    "city",
    "state",
    "zip",
)


def _record(
    scene: Scene,
    h_top: np.ndarray,
    lay: Layout,
    bend: Bend,
    label: DrawnLabel | None,
    distractors: list[tuple[str, np.ndarray]],
) -> dict[str, Any]:
    g, p = scene.geometry, scene.photometry
    w, h = scene.width, scene.height
    has_label = label is not None
    xheights = label.xheights if label else []
    meta = label.meta if label else {}
    exp = scene.expected
    condition = {
        "rotation_deg": _measured_rotation(h_top, bend, lay) if has_label else None,
        "blur": p.blur,
        "blur_kind": p.blur_kind,
        "blur_sigma": p.blur_sigma,
        "motion_px": p.motion_px,
        "jpeg_q": p.jpeg_q,
        "label_area_frac": round(quad_area(label.poly) / (w * h), 4) if label else 0.0,
        "hard_negative": scene.hard_negative,
        "hard_negative_kind": scene.content if scene.hard_negative else None,
        "unreadable": scene.unreadable is not None,
        "unreadable_reason": scene.unreadable,
        "xheight_px": round(float(np.median(xheights)), 2) if xheights else None,
        "min_xheight_px": round(float(min(xheights)), 2) if xheights else None,
        "tilt_deg": round(g.tilt_deg, 2),
        "bend_mm": round(g.bend_mm, 2),
        "background": scene.background,
        "parcel": scene.parcel,
        "low_light": p.low_light,
        "exposure": round(p.exposure, 3),
        "noise_sigma": round(p.noise_sigma, 2),
        "cast": p.cast,
        "shadow": p.shadow > 0,
        "glare": p.glare > 0,
        "glare_on_label": p.glare > 0 and p.glare_on_label and has_label,
        "font": meta.get("font"),
        "upper": meta.get("upper"),
        "unit_placement": meta.get("unit_placement"),
        "service": meta.get("service"),
        "layout": scene.layout,
    }
    return {
        "id": scene.id,
        "file": f"images/{scene.id}.jpg",
        "width": w,
        "height": h,
        "carrier": scene.carrier,
        "condition": condition,
        "lines": label.lines if label else [],
        "fields": label.fields if label else dict.fromkeys(LABEL_FIELDS),
        "label_poly": _r2(label.poly) if label else None,
        "expected_matches": scene.expected_verification != "mismatch",
        "mismatch_kind": scene.mismatch_kind,
        "changed_field": scene.changed_field,
        "layout": scene.layout,
        "expected_verification": scene.expected_verification,
        "expected": {
            "name": exp.name,
            "street": f"{exp.street} {exp.unit}" if exp.unit else exp.street,
            "city": exp.city,
            "state": exp.state,
            "zip": exp.zip5,
            "tracking": scene.expected_tracking,
        },
        "distractor_lines": [{"text": t, "poly": _r2(poly)} for t, poly in distractors],
        "seed": scene.seed,
        "index": scene.index,
    }
