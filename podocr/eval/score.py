"""Score predictions against samples: per-photo counts, pooled totals, and breakdowns by condition bucket.

Totals are pooled (micro-averaged): line metrics over all GT lines of the set, word metrics over all tokens,
field metrics over the photos that have that field. So a bucket's number is comparable to the overall one and
a photo with many lines weighs more in line metrics, as in the peer reference numbers.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from podocr.eval import attribution as attr
from podocr.eval import metrics as m
from podocr.eval.dataset import Sample
from podocr.eval.results import Prediction

EXTRACTED_FIELDS = ("tracking_number", "recipient_name", "street", "city", "state", "zip")
DIMENSIONS = ("carrier", "rotation", "blur", "label_size", "photo", "legibility", "layout", "kind")
KINDS = ("other_parcel", "address_differs", "recipient_differs")
"""`mismatch_kind` values scored one by one (F1 of detecting that kind)."""


@dataclass(slots=True)
class ImageScore:
    """Everything one photo contributes to the totals (pure counts, so buckets add up)."""

    id: str
    buckets: dict[str, str]
    n_gt_lines: int = 0
    n_read: int = 0
    n_exact: int = 0
    cer_sum: float = 0.0
    n_read_substring: int = 0
    word_tp: int = 0
    word_pred: int = 0
    word_gt: int = 0
    tracking_found: bool | None = None  # None: no GT tracking number on this photo
    zip_found: bool | None = None
    street_found: bool | None = None
    negative_with_text: bool | None = None  # None: the photo shows a label
    # field → extracted correctly, for the photo's non-empty GT fields, when extraction ran
    extracted: dict[str, bool] = field(default_factory=dict)
    truth: str | None = None  # verification truth class, None when not scored
    verdict: str | None = None
    truth_kind: str | None = None  # planted mismatch_kind (None: as expected)
    pred_kind: str | None = None  # the pipeline's mismatch_kind
    all_numbers: bool | None = None  # hybrid label: every GT number among the extracted ones
    error: str | None = None
    unread: list[m.LineMatch] = field(default_factory=list)  # GT lines not read, with their best prediction
    outcomes: list[LineOutcome] = field(default_factory=list)  # per scored GT line: height and read/cause

    def to_dict(self) -> dict[str, Any]:
        """The photo's row in the report's `photos` list: what to look at when a bucket disappoints."""
        out = {k: getattr(self, k) for k in ("id", "buckets", "error", "n_gt_lines", "n_read", "n_exact")}
        out.update(
            tracking_found=self.tracking_found,
            zip_found=self.zip_found,
            street_found=self.street_found,
            negative_with_text=self.negative_with_text,
            extracted=dict(self.extracted),
            truth=self.truth,
            verdict=self.verdict,
            truth_kind=self.truth_kind,
            pred_kind=self.pred_kind,
            unread=[
                {"gt": x.gt, "best": x.pred, "cer": round(x.cer, 3), **o.to_dict()}
                for x, o in zip(self.unread, (o for o in self.outcomes if o.outcome != "read"), strict=True)
            ],
        )
        return out


@dataclass(frozen=True, slots=True)
class LineOutcome:
    """One GT line: its text height (px, None without a polygon), and `read` or the cause it was missed."""

    height: float | None
    outcome: str  # read | one of attribution.CAUSES
    box_height: float | None = None  # the box it was read from, for misread/merged/dropped lines

    @property
    def bin(self) -> str:
        return attr.height_bin(self.height)

    def to_dict(self) -> dict[str, Any]:
        def px(v: float | None) -> float | None:
            return None if v is None else round(v, 1)

        return {"cause": self.outcome, "height": px(self.height), "box_height": px(self.box_height)}


def buckets(sample: Sample) -> dict[str, str]:
    """The photo's bucket on each breakdown dimension (see docs/eval.md)."""
    cond = sample.condition
    return {
        "carrier": sample.carrier,
        "rotation": rotation_bucket(cond.get("rotation_deg"), sample.has_label),
        "blur": blur_bucket(cond.get("blur"), cond.get("blur_sigma")),
        "label_size": label_size_bucket(cond.get("label_area_frac"), sample.has_label),
        "photo": photo_kind(sample),
        "legibility": legibility(sample),
        "layout": sample.layout if sample.has_label else "no-label",
        "kind": sample.mismatch_kind or ("as-expected" if sample.has_label else "no-label"),
    }


def rotation_bucket(deg: Any, has_label: bool = True) -> str:
    """upright | ~90 | ~180 | ~270: the nearest quarter turn of rotation_deg taken modulo 360 (so -90 is ~270)."""
    if not has_label:
        return "no-label"
    if not isinstance(deg, int | float):
        return "unknown"
    quarter = round((float(deg) % 360.0) / 90.0) % 4
    return ("upright", "~90", "~180", "~270")[quarter]


def blur_bucket(blur: Any, sigma: Any = None) -> str:
    """The generator's bucket string when present; else a Gaussian sigma: < 1 none, < 2.5 mild, else severe."""
    if isinstance(blur, str) and blur:
        return blur.lower()
    value = sigma if isinstance(sigma, int | float) else blur if isinstance(blur, int | float) else None
    if value is None:
        return "unknown"
    return "none" if value < 1.0 else "mild" if value < 2.5 else "severe"


def label_size_bucket(frac: Any, has_label: bool = True) -> str:
    """Label area as a share of the frame: <15% | 15-35% | >35%; no-label for photos without one."""
    if not has_label:
        return "no-label"
    if not isinstance(frac, int | float):
        return "unknown"
    return "<15%" if frac < 0.15 else "15-35%" if frac <= 0.35 else ">35%"


def legibility(sample: Sample) -> str:
    """legible | severe-blur | unreadable | no-label: the subset the extraction targets are stated on.

    `legible` is a label photo that is neither flagged unreadable nor severely blurred; severe blur (sigma
    about 0.2-0.35 of the recipient's x-height on our synthetic set) smears the smaller tracking-number print
    past what a person reads reliably, so it is reported beside, not inside, the legible numbers.
    """
    kind = photo_kind(sample)
    if kind != "label":
        return "no-label" if kind == "hard-negative" else kind
    cond = sample.condition
    return "severe-blur" if blur_bucket(cond.get("blur"), cond.get("blur_sigma")) == "severe" else "legible"


def photo_kind(sample: Sample) -> str:
    """label | unreadable | hard-negative | no-label."""
    if sample.condition.get("hard_negative"):
        return "hard-negative"
    if not sample.has_label:
        return "no-label"
    return "unreadable" if sample.condition.get("unreadable") else "label"


def score_image(sample: Sample, pred: Prediction) -> ImageScore:
    """One photo's contribution; `pred.fields is None` means no extraction, so extraction metrics skip it."""
    s = ImageScore(id=sample.id, buckets=buckets(sample), error=pred.error)
    matches = m.match_lines(pred.lines, sample.lines)
    s.n_gt_lines = len(matches)
    s.n_read = sum(x.read for x in matches)
    s.n_exact = sum(x.exact for x in matches)
    s.cer_sum = sum(x.cer for x in matches)
    s.unread = [x for x in matches if not x.read]
    s.outcomes = line_outcomes(sample, pred, matches)
    if s.n_read < s.n_gt_lines:
        s.n_read_substring = sum(x.read for x in m.match_lines(pred.lines, sample.lines, substring=True))
    else:
        s.n_read_substring = s.n_read
    s.word_tp, s.word_pred, s.word_gt = m.word_counts(pred.lines, sample.lines, sample.distractors)
    gt = sample.fields
    if gt.get("tracking_number"):
        s.tracking_found = m.tracking_found(pred.lines, gt["tracking_number"])
    if gt.get("zip"):
        s.zip_found = m.zip_found(pred.lines, gt["zip"])
    if gt.get("street"):
        s.street_found = m.street_found(pred.lines, gt["street"])
    if not sample.has_label:
        s.negative_with_text = bool(m.label_like_text(pred.lines))
    if pred.fields is not None:
        for name in EXTRACTED_FIELDS:
            if gt.get(name):
                s.extracted[name] = m.field_correct(name, pred.fields.get(name), gt[name])
        if gt.get("tracking_number_2") and gt.get("tracking_number"):  # hybrid: either number is the parcel's
            s.extracted["tracking_number"] = s.extracted["tracking_number"] or m.field_correct(
                "tracking_number", pred.fields.get("tracking_number"), gt["tracking_number_2"]
            )
            got = {m.field_key("tracking_number", n) for n in pred.tracking_numbers}
            s.all_numbers = all(
                m.field_key("tracking_number", gt[k]) in got for k in ("tracking_number", "tracking_number_2")
            )
        if sample.expected is not None and (sample.expected_matches is not None or not sample.has_label):
            s.truth = m.truth_class(sample.expected_matches, sample.has_label)
            s.verdict = m.pred_class(pred.verification)
            s.truth_kind = sample.mismatch_kind
            s.pred_kind = pred.mismatch_kind
    return s


def line_outcomes(sample: Sample, pred: Prediction, matches: Sequence[m.LineMatch]) -> list[LineOutcome]:
    """Per scored GT line (the ones `match_lines` kept, in order): its height, and read or why not."""
    polys = sample.polys if len(sample.polys) == len(sample.lines) else [None] * len(sample.lines)
    scored = [p for t, p in zip(sample.lines, polys, strict=True) if m.normalise_nospace(t)]
    have_geometry = all(p is not None for p in scored) and pred.quads is not None
    gt = [p for p in scored if p is not None]
    out = []
    for i, (match, poly) in enumerate(zip(matches, scored, strict=True)):
        height = None if poly is None else attr.text_height(poly)
        if match.read:
            out.append(LineOutcome(height, "read"))
        elif pred.error is not None:
            out.append(LineOutcome(height, "error"))
        elif not have_geometry or pred.quads is None:
            out.append(LineOutcome(height, "unknown"))
        else:
            miss = attr.attribute(i, gt, pred.quads, pred.rejected)
            out.append(LineOutcome(height, miss.cause, miss.box_height))
    return out


def by_text_height(scores: Sequence[ImageScore]) -> dict[str, dict[str, Any]]:
    """{height bin: n_gt_lines, line_recall, misses {cause: n}, median box height of the detected misses}, for
    the bins that have lines, smallest text first."""
    groups: dict[str, list[LineOutcome]] = {}
    for o in (o for s in scores for o in s.outcomes):
        groups.setdefault(o.bin, []).append(o)
    out = {}
    for name in (*attr.BIN_NAMES, "unknown"):
        lines = groups.get(name, [])
        if not lines:
            continue
        seen = [o.box_height for o in lines if o.box_height is not None]
        out[name] = {
            "n_gt_lines": len(lines),
            "line_recall": m.ratio(sum(o.outcome == "read" for o in lines), len(lines)),
            "misses": miss_causes(lines),
            "miss_box_height_median": float(statistics.median(seen)) if seen else None,
        }
    return out


def miss_causes(outcomes: Iterable[LineOutcome]) -> dict[str, int]:
    """{cause: missed lines}, every cause present (zeros included) so tables line up."""
    counts = dict.fromkeys(attr.CAUSES, 0)
    for o in outcomes:
        if o.outcome != "read":
            counts[o.outcome] += 1
    return counts


def aggregate(scores: Sequence[ImageScore]) -> dict[str, Any]:
    """Pooled metrics over `scores` (a ratio with nothing to count is None), plus the counts behind them."""
    n_lines = sum(s.n_gt_lines for s in scores)
    wp, wr, wf = m.prf(
        sum(s.word_tp for s in scores), sum(s.word_pred for s in scores), sum(s.word_gt for s in scores)
    )
    out: dict[str, Any] = {
        "n_images": len(scores),
        "n_errors": sum(s.error is not None for s in scores),
        "n_gt_lines": n_lines,
        "line_recall": m.ratio(sum(s.n_read for s in scores), n_lines),
        "line_exact": m.ratio(sum(s.n_exact for s in scores), n_lines),
        "line_cer": m.ratio(sum(s.cer_sum for s in scores), n_lines),
        "line_recall_substring": m.ratio(sum(s.n_read_substring for s in scores), n_lines),
        "word_precision": wp,
        "word_recall": wr,
        "word_f1": wf,
        "tracking_accuracy": _share(s.tracking_found for s in scores),
        "zip_accuracy": _share(s.zip_found for s in scores),
        "street_accuracy": _share(s.street_found for s in scores),
        "negatives_with_text": _share(s.negative_with_text for s in scores),
        "n_negatives": sum(s.negative_with_text is not None for s in scores),
    }
    field_acc = {name: _share(s.extracted.get(name) for s in scores) for name in EXTRACTED_FIELDS}
    out["tracking_extracted_accuracy"] = field_acc["tracking_number"]
    out["field_accuracy"] = field_acc
    pairs = [(s.truth, s.verdict) for s in scores if s.truth is not None and s.verdict is not None]
    table = m.confusion([t for t, _ in pairs], [v for _, v in pairs])
    vp, vr, vf = m.verification_prf(table)
    out.update(
        verification_precision=vp,
        verification_recall=vr,
        verification_f1=vf,
        verification_confusion=table,
        n_verified=len(pairs),
    )
    verified = [s for s in scores if s.truth is not None and s.verdict is not None]
    true_matches = [s for s in verified if s.truth == "match"]
    out["false_alarm_rate"] = m.ratio(sum(s.verdict == "mismatch" for s in true_matches), len(true_matches))
    out["kind_f1"] = {kind: _kind_f1(verified, kind) for kind in KINDS}
    out["hybrid_all_numbers"] = _share(s.all_numbers for s in scores)
    out["miss_causes"] = miss_causes(o for s in scores for o in s.outcomes)
    out["by_text_height"] = by_text_height(scores)
    return out


def _kind_f1(scores: Sequence[ImageScore], kind: str) -> float | None:
    """F1 of reporting `kind`: a hit is the planted kind reported as that kind (and, for the kinds that are
    misdeliveries, with the verdict `mismatch`); reporting it elsewhere is a false positive."""

    def reported(s: ImageScore) -> bool:
        return s.pred_kind == kind and (kind == "recipient_differs" or s.verdict == "mismatch")

    tp = sum(s.truth_kind == kind and reported(s) for s in scores)
    n_pred = sum(reported(s) for s in scores)
    n_true = sum(s.truth_kind == kind for s in scores)
    return m.prf(tp, n_pred, n_true)[2] if n_true else None


def breakdown(scores: Sequence[ImageScore], dimensions: Iterable[str] = DIMENSIONS) -> dict[str, Any]:
    """{dimension: {bucket: aggregate(photos in that bucket)}}, buckets sorted by name."""
    out: dict[str, Any] = {}
    for dim in dimensions:
        groups: dict[str, list[ImageScore]] = {}
        for s in scores:
            groups.setdefault(s.buckets[dim], []).append(s)
        out[dim] = {key: aggregate(groups[key]) for key in sorted(groups)}
    return out


def _share(flags: Iterable[bool | None]) -> float | None:
    """Share of True among the non-None flags."""
    values = [f for f in flags if f is not None]
    return m.ratio(sum(values), len(values))
