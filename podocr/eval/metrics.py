"""Pure scoring functions: text normalisation, CER, line matching, word P/R/F1, field and verification scores.

Nothing here knows about files, models or the pipeline, so every definition in docs/eval.md is one small
function that tests can pin down on hand-made strings. Levenshtein distances come from rapidfuzz (C++).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

READ_CER = 0.1  # a GT line counts as read at normalised CER ≤ this (same rule as the peer reference numbers)
MIN_SUBSTRING_CHARS = 6  # shorter GT lines ("NY", "TO:") are never matched inside a longer predicted line

TRUTH_CLASSES = ("match", "mismatch", "no-label")
PRED_CLASSES = ("match", "mismatch", "unreadable")

_EPS = 1e-9
_US_STATES = (  # states, DC, territories and military "states", as printed before a ZIP
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|"
    "OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI|AS|MP|AA|AE|AP"
)
_STATE_ZIP = re.compile(r"(?<![A-Z])(?:" + _US_STATES + r")[ ,.]?\d{5}(?:-?\d{4})?(?!\d)")
_TRACKING_SHAPES = re.compile(
    r"1Z[0-9A-Z]{16}"  # UPS
    r"|TBA\d{12}"  # Amazon
    r"|(?<!\d)(?:\d{12}|\d{15}|\d{20}|\d{22})(?!\d)"  # FedEx Express / Ground, USPS
)
PRF = tuple[float | None, float | None, float | None]  # precision, recall, F1
_FIELD_PUNCT = re.compile(r"[.,#;:'\"]")


# ---- normalisation -----------------------------------------------------------------------------------------
def normalise(text: str) -> str:
    """NFKC, upper-case, whitespace runs collapsed to one space, ends stripped."""
    return " ".join(unicodedata.normalize("NFKC", text).upper().split())


def normalise_nospace(text: str) -> str:
    """`normalise` with every whitespace removed.

    Line matching uses this form: PP-OCR recognisers often drop the space between words ("NY11272"), and a
    reader that got every character right should not lose the line for a missing space.
    """
    return "".join(unicodedata.normalize("NFKC", text).upper().split())


# ---- character error rate ----------------------------------------------------------------------------------
def cer(pred: str, gt: str) -> float:
    """Levenshtein(pred, gt) / len(gt) on the strings as given (callers normalise first).

    Not capped: a long wrong prediction can exceed 1. An empty `gt` gives 0.0 when `pred` is empty too, else 1.0.
    """
    if not gt:
        return 0.0 if not pred else 1.0
    return Levenshtein.distance(pred, gt) / len(gt)


def _substring_distance(gt: str, pred: str, max_dist: int) -> int | None:
    """Smallest edit distance between `gt` and any substring of `pred`, if it is ≤ max_dist (else None).

    A substring within `max_dist` edits has a length within `max_dist` of len(gt), so scanning every start with
    those lengths is exact for the question asked, and each call is rapidfuzz's bounded C++ Levenshtein.
    """
    n, best = len(gt), None
    for length in range(max(1, n - max_dist), n + max_dist + 1):
        for start in range(len(pred) - length + 1):
            cutoff = max_dist if best is None else best - 1
            if cutoff < 0:
                return best
            d = Levenshtein.distance(gt, pred[start : start + length], score_cutoff=cutoff)
            if d <= cutoff:
                best = d
    return best


# ---- lines ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LineMatch:
    """The best predicted line for one ground-truth line."""

    gt: str  # the GT line as given
    pred: str | None  # best predicted line as given, None when nothing was predicted
    pred_index: int | None
    cer: float  # CER of the nospace-normalised forms, capped at 1
    read: bool  # cer ≤ threshold
    exact: bool  # cer == 0
    via_substring: bool = False  # matched inside a longer predicted line (substring mode only)


def match_lines(
    pred_lines: Sequence[str],
    gt_lines: Sequence[str],
    *,
    threshold: float = READ_CER,
    substring: bool = False,
    min_substring_chars: int = MIN_SUBSTRING_CHARS,
) -> list[LineMatch]:
    """For each GT line (in order), its best predicted line by CER on `normalise_nospace` forms.

    Default (the comparable number): a GT line is read when some *whole* predicted line is within `threshold`
    CER of it. Several GT lines may pick the same predicted line; a predicted line that merges two GT lines
    matches neither. With `substring=True`, a GT line of ≥ `min_substring_chars` characters that no whole line
    reads may also be read by a stretch of a longer predicted line within the same CER (the detector merged two
    label lines into one box); this is reported separately, never in place of the default. GT lines that are
    empty after normalisation are skipped.
    """
    preds = [normalise_nospace(p) for p in pred_lines]
    out: list[LineMatch] = []
    for gt_text in gt_lines:
        g = normalise_nospace(gt_text)
        if not g:
            continue
        best_i, best_d = None, len(g)
        for i, p in enumerate(preds):
            d = Levenshtein.distance(p, g, score_cutoff=best_d)
            if d < best_d or best_i is None:
                best_i, best_d = i, min(d, best_d)
            if best_d == 0:
                break
        limit = threshold * len(g) + _EPS
        via = False
        if substring and best_d > limit and len(g) >= min_substring_chars:
            max_dist = int(limit)
            for i, p in enumerate(preds):
                if len(p) <= len(g):
                    continue
                d_sub = _substring_distance(g, p, max_dist)
                if d_sub is not None:
                    best_i, best_d, via, max_dist = i, d_sub, True, d_sub - 1
                    if max_dist < 0:
                        break
        c = min(1.0, best_d / len(g))
        out.append(
            LineMatch(
                gt=gt_text,
                pred=None if best_i is None else pred_lines[best_i],
                pred_index=best_i,
                cer=c,
                read=best_d <= limit,
                exact=best_d == 0,
                via_substring=via,
            )
        )
    return out


def line_recall(matches: Sequence[LineMatch]) -> float | None:
    """Share of GT lines read (None when there are no GT lines)."""
    return ratio(sum(m.read for m in matches), len(matches))


def line_exact(matches: Sequence[LineMatch]) -> float | None:
    """Share of GT lines whose best predicted line equals them after nospace normalisation."""
    return ratio(sum(m.exact for m in matches), len(matches))


def line_cer(matches: Sequence[LineMatch]) -> float | None:
    """Mean over GT lines of the best match's CER, each capped at 1 (an unread line costs 1 at most)."""
    return ratio(sum(m.cer for m in matches), len(matches))


# ---- words -----------------------------------------------------------------------------------------------------
def tokens(lines: Iterable[str]) -> list[str]:
    """Whitespace tokens of the normalised lines (punctuation stays attached: "TO:" is one token)."""
    return [t for line in lines for t in normalise(line).split()]


def word_counts(
    pred_lines: Iterable[str], gt_lines: Iterable[str], neutral_lines: Iterable[str] = ()
) -> tuple[int, int, int]:
    """(true positives, predicted tokens, GT tokens) over token multisets: each GT token is matched at most once.

    `neutral_lines` is real text that is not part of the GT (print on the box, the floor): predicted tokens
    left over after matching the GT that match it are dropped from the predicted count, so reading text that
    is really there is not a false positive — nor a true one.
    """
    pred, gt = Counter(tokens(pred_lines)), Counter(tokens(gt_lines))
    matched = pred & gt
    neutral = (pred - matched) & Counter(tokens(neutral_lines))
    return sum(matched.values()), sum(pred.values()) - sum(neutral.values()), sum(gt.values())


def prf(tp: int, n_pred: int, n_true: int) -> PRF:
    """Precision, recall, F1; a ratio with a zero denominator is None (undefined, not 0 or 1)."""
    p, r = ratio(tp, n_pred), ratio(tp, n_true)
    if p is None or r is None:
        return p, r, None
    return p, r, (0.0 if p + r == 0 else 2 * p * r / (p + r))


def word_prf(pred_lines: Iterable[str], gt_lines: Iterable[str]) -> PRF:
    """Word precision, recall and F1 of one page (see `word_counts`)."""
    return prf(*word_counts(pred_lines, gt_lines))


# ---- fields found in the text read ---------------------------------------------------------------------------
def tracking_found(pred_lines: Sequence[str], gt_tracking: str) -> bool:
    """The GT tracking number appears in the predicted lines joined in order, all whitespace ignored.

    Joining lets a number the detector split into two boxes on one row still count; numbers are ≥ 12 characters,
    so an accidental match across a line boundary is negligible.
    """
    key = normalise_nospace(gt_tracking)
    return bool(key) and key in normalise_nospace("".join(pred_lines))


def zip_found(pred_lines: Sequence[str], gt_zip: str) -> bool:
    """The GT ZIP's first 5 digits appear in some predicted line with no digit right before or after them."""
    digits = re.sub(r"\D", "", gt_zip)[:5]
    if len(digits) != 5:
        return False
    pattern = re.compile(rf"(?<!\d){digits}(?!\d)")
    return any(pattern.search(normalise(line)) for line in pred_lines)


def street_found(pred_lines: Sequence[str], gt_street: str) -> bool:
    """The GT street line (e.g. "123 MAIN ST") appears in the predicted lines joined, all whitespace ignored."""
    key = normalise_nospace(gt_street)
    return bool(key) and key in normalise_nospace("".join(pred_lines))


def label_like_text(pred_lines: Sequence[str]) -> list[str]:
    """What, in predicted text, looks like a shipping-label field; empty when nothing does.

    Per predicted line, spaces removed: a tracking-number shape (UPS `1Z` + 16, Amazon `TBA` + 12 digits, a digit
    run of exactly 12, 15, 20 or 22 digits); or, spaces kept, a US state/territory code directly followed by a
    5-digit ZIP (optionally +4), e.g. "NY 11272". Shapes only, no check digits: on a photo that shows no label,
    any such reading is what a downstream consumer could mistake for a label field.
    """
    hits: list[str] = []
    for line in pred_lines:
        spaced = normalise(line)
        hits += _TRACKING_SHAPES.findall(spaced.replace(" ", ""))
        hits += _STATE_ZIP.findall(spaced)
    return hits


# ---- extracted fields ---------------------------------------------------------------------------------------------
def field_key(name: str, value: str | None) -> str:
    """The comparable form of an extracted or GT field.

    tracking_number: nospace-normalised; zip: the first 5 digits; state: normalised; anything else (names,
    street, city, unit): normalised with . , # ; : ' " removed and whitespace collapsed.
    """
    if value is None:
        return ""
    if name == "tracking_number":
        return normalise_nospace(value)
    if name == "zip":
        return re.sub(r"\D", "", value)[:5]
    if name == "state":
        return normalise(value)
    return normalise(_FIELD_PUNCT.sub(" ", value))


def field_correct(name: str, pred: str | None, gt: str | None) -> bool:
    """Extracted `pred` equals `gt` after `field_key`; a missing prediction is wrong. GT must be non-empty."""
    truth = field_key(name, gt)
    if not truth:
        raise ValueError(f"no ground truth for {name!r}: callers skip empty GT fields")
    return field_key(name, pred) == truth


# ---- verification ---------------------------------------------------------------------------------------------------
def truth_class(expected_matches: bool | None, has_label: bool) -> str:
    """match | mismatch | no-label for one photo."""
    if not has_label:
        return "no-label"
    return "mismatch" if expected_matches is False else "match"


def pred_class(verification: str | None) -> str:
    """Pipeline verdict → match | mismatch | unreadable; anything else (None, unknown) reads as unreadable."""
    return verification if verification in ("match", "mismatch") else "unreadable"


def confusion(truth: Sequence[str], pred: Sequence[str]) -> dict[str, dict[str, int]]:
    """{truth class: {predicted class: count}} with every cell of TRUTH_CLASSES × PRED_CLASSES present."""
    if len(truth) != len(pred):
        raise ValueError("truth and pred differ in length")
    table = {t: dict.fromkeys(PRED_CLASSES, 0) for t in TRUTH_CLASSES}
    for t, p in zip(truth, pred, strict=True):
        table[t][p] += 1
    return table


def verification_prf(table: Mapping[str, Mapping[str, int]]) -> PRF:
    """Precision/recall/F1 for detecting mismatches (positive class: truth "mismatch").

    A "mismatch" verdict on a matching or no-label photo is a false positive; an "unreadable" or "match"
    verdict on a mismatching photo is a false negative (unreadable is not a detection).
    """
    tp = table["mismatch"]["mismatch"]
    n_pred = sum(row["mismatch"] for row in table.values())
    n_true = sum(table["mismatch"].values())
    return prf(tp, n_pred, n_true)


def ratio(num: float, den: float) -> float | None:
    """num / den, or None when there is nothing to count (an undefined rate is not 0 or 1)."""
    return None if den == 0 else num / den
