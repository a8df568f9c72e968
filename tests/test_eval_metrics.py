"""The scoring functions on hand-made cases whose right answers can be worked out on paper."""

from __future__ import annotations

import pytest

from podocr.eval import metrics as m

GT = ["SHIP TO:", "JOHN SMITH", "123 MAIN ST", "BROOKLYN NY 11272", "1Z 999 AA1 01 2345 6784"]


def test_normalise_nfkc_case_and_spaces() -> None:
    assert m.normalise("  ｂｒｏｏｋｌｙｎ\tny   11272 ") == "BROOKLYN NY 11272"
    assert m.normalise_nospace("Brooklyn NY 11272") == "BROOKLYNNY11272"
    assert m.normalise("") == "" and m.normalise_nospace(" \n ") == ""


def test_cer_basic() -> None:
    assert m.cer("ABC", "ABC") == 0.0
    assert m.cer("ABD", "ABC") == pytest.approx(1 / 3)
    assert m.cer("", "ABCD") == 1.0
    assert m.cer("ABCDEFGH", "AB") == 3.0  # not capped: 6 insertions over 2 chars
    assert m.cer("", "") == 0.0 and m.cer("X", "") == 1.0


def test_perfect_prediction() -> None:
    matches = m.match_lines(GT, GT)
    assert m.line_recall(matches) == 1.0 and m.line_exact(matches) == 1.0 and m.line_cer(matches) == 0.0
    assert [x.pred_index for x in matches] == [0, 1, 2, 3, 4]
    assert m.word_prf(GT, GT) == (1.0, 1.0, 1.0)


def test_empty_prediction() -> None:
    matches = m.match_lines([], GT)
    assert m.line_recall(matches) == 0.0 and m.line_exact(matches) == 0.0 and m.line_cer(matches) == 1.0
    assert all(x.pred is None for x in matches)
    assert m.word_prf([], GT) == (None, 0.0, None)
    assert m.line_recall(m.match_lines(["X"], [])) is None


def test_one_substitution_within_and_over_threshold() -> None:
    # 17 chars nospace: "BROOKLYNNY11272" is 15; one error → 1/15 ≤ 0.1 read, not exact
    one = m.match_lines(["BROOKLYN NY 11Z72"], ["BROOKLYN NY 11272"])[0]
    assert one.read and not one.exact and one.cer == pytest.approx(1 / 15)
    # "JOHNSMITH" is 9 chars: one error is 0.111 > 0.1 → not read
    two = m.match_lines(["JOHN SMlTH"], ["JOHN SMITH"])[0]
    assert not two.read and two.cer == pytest.approx(1 / 9)


def test_threshold_boundary_is_inclusive() -> None:
    gt = "ABCDEFGHIJ"  # 10 chars, 1 edit = exactly 0.1
    assert m.match_lines(["ABCDEFGHIX"], [gt])[0].read
    assert not m.match_lines(["ABCDEFGHXX"], [gt])[0].read


def test_reordered_lines_still_match() -> None:
    matches = m.match_lines(list(reversed(GT)), GT)
    assert m.line_recall(matches) == 1.0
    assert [x.pred_index for x in matches] == [4, 3, 2, 1, 0]


def test_dropped_spaces_do_not_count_against_lines_but_do_against_words() -> None:
    pred = [line.replace(" ", "") for line in GT]
    assert m.line_recall(m.match_lines(pred, GT)) == 1.0
    assert m.line_exact(m.match_lines(pred, GT)) == 1.0
    p, r, _ = m.word_prf(pred, GT)
    assert p is not None and r is not None and r < 0.5


def test_merged_lines_count_only_in_substring_mode() -> None:
    pred = ["JOHN SMITH 123 MAIN ST", "BROOKLYN NY 11272"]
    gt = ["JOHN SMITH", "123 MAIN ST", "BROOKLYN NY 11272"]
    strict = m.match_lines(pred, gt)
    assert [x.read for x in strict] == [False, False, True]
    loose = m.match_lines(pred, gt, substring=True)
    assert [x.read for x in loose] == [True, True, True]
    assert [x.via_substring for x in loose] == [True, True, False]
    assert loose[0].cer == 0.0 and loose[0].pred_index == 0


def test_substring_mode_tolerates_errors_but_not_short_lines() -> None:
    # one error inside "123MAINST" (9 chars → 0 edits allowed)
    pred = ["SHIPTO JOHN SMITH 123 MAlN ST BROOKLYN"]
    assert not m.match_lines(pred, ["123 MAIN ST"], substring=True)[0].read
    long_line = ["XX 1Z 999 AA1 01 2345 67B4 YY"]  # 18 chars → 1 edit allowed
    hit = m.match_lines(long_line, ["1Z 999 AA1 01 2345 6784"], substring=True)[0]
    assert hit.read and hit.via_substring and hit.cer == pytest.approx(1 / 18)
    # "NY" is below MIN_SUBSTRING_CHARS: never matched inside a longer line
    assert not m.match_lines(["BROOKLYN NY 11272"], ["NY"], substring=True)[0].read


def test_substring_distance_is_the_minimum_over_substrings() -> None:
    assert m._substring_distance("ABCDEFGHIJKLMNOPQRST", "xxABCDEFGHIJKLMNOPQRSTyy", 2) == 0
    assert m._substring_distance("ABCDEFGHIJKLMNOPQRST", "xxABCDEFGHIJ_LMNOPQRSTyy", 2) == 1
    assert m._substring_distance("ABCDEFGHIJKLMNOPQRST", "xxABCDE__HIJ_LMNOPQRSTyy", 2) is None


def test_line_cer_is_capped_per_line() -> None:
    matches = m.match_lines(["A VERY LONG WRONG LINE OF TEXT"], ["AB"])
    assert matches[0].cer == 1.0 and m.line_cer(matches) == 1.0


def test_word_counts_use_multisets() -> None:
    assert m.word_counts(["A A B"], ["A B B"]) == (2, 3, 3)
    p, r, f = m.prf(2, 4, 2)
    assert (p, r) == (0.5, 1.0) and f == pytest.approx(2 / 3)
    assert m.prf(0, 3, 2) == (0.0, 0.0, 0.0)


def test_word_counts_neutral_text_is_neither_hit_nor_false_positive() -> None:
    assert m.word_counts(["FRAGILE", "JOHN SMITH"], ["JOHN SMITH"], ["FRAGILE", "THIS SIDE UP"]) == (2, 2, 2)
    assert m.word_counts(["JOHN JOHN"], ["JOHN"], ["JOHN"]) == (1, 1, 1)  # once for the GT, once neutral
    assert m.word_counts(["JOHN JOHN JOHN"], ["JOHN"], ["JOHN"]) == (1, 2, 1)  # the third is a false positive
    assert m.word_counts(["FRAGILE"], [], ["FRAGILE"]) == (0, 0, 0)


def test_tracking_found_ignores_spaces_and_line_splits() -> None:
    assert m.tracking_found(["TRACKING #: 1Z999AA10123456784"], "1Z 999 AA1 01 2345 6784")
    assert m.tracking_found(["1Z 999 AA1 01", "2345 6784"], "1Z999AA10123456784")
    assert not m.tracking_found(["1Z 999 AA1 01 2345 6785"], "1Z999AA10123456784")
    assert not m.tracking_found(["anything"], "")


def test_zip_found_needs_digit_boundaries() -> None:
    assert m.zip_found(["BROOKLYN NY11272"], "11272")
    assert m.zip_found(["BROOKLYN NY 11272-4410"], "11272-4410")
    assert not m.zip_found(["BROOKLYN NY 112721"], "11272")
    assert not m.zip_found(["9112724"], "11272")
    assert not m.zip_found(["BROOKLYN"], "")


def test_street_found() -> None:
    assert m.street_found(["123MAIN ST APT 4"], "123 Main St")
    assert not m.street_found(["123 MAIN AVE"], "123 Main St")


def test_label_like_text_on_hard_negatives() -> None:
    assert m.label_like_text(["FRAGILE", "THIS SIDE UP", "KEEP DRY"]) == []
    assert m.label_like_text(["ORDER 12345"]) == []  # a bare 5-digit number is not a ZIP without a state
    assert m.label_like_text(["BOX 2 OF 3", "MADE IN USA 2024"]) == []
    assert m.label_like_text(["SPRINGFIELD IL 62704"]) == ["IL 62704"]
    assert m.label_like_text(["1Z 999 AA1 01 2345 6784"]) == ["1Z999AA10123456784"]
    assert m.label_like_text(["7946 1234 5678"]) == ["794612345678"]
    assert m.label_like_text(["PHONE 5551234567"]) == []  # 10 digits: not a tracking shape
    assert m.label_like_text(["TBA123456789012"]) == ["TBA123456789012"]


def test_field_keys_and_correctness() -> None:
    assert m.field_correct("tracking_number", "1z999aa1 0123456784", "1Z999AA10123456784")
    assert m.field_correct("zip", "11272-4410", "11272")
    assert not m.field_correct("zip", "11273", "11272")
    assert m.field_correct("street", "123 Main St.", "123 MAIN ST")
    assert m.field_correct("city", "brooklyn", "Brooklyn")
    assert not m.field_correct("city", None, "Brooklyn")
    assert m.field_correct("recipient_name", "JOHN  SMITH", "John Smith")
    with pytest.raises(ValueError):
        m.field_correct("city", "X", "")


def test_confusion_and_verification_prf() -> None:
    truth = [
        m.truth_class(True, True),  # match
        m.truth_class(False, True),  # mismatch
        m.truth_class(False, True),  # mismatch
        m.truth_class(False, True),  # mismatch
        m.truth_class(None, False),  # no label
        m.truth_class(True, True),  # match
    ]
    assert truth == ["match", "mismatch", "mismatch", "mismatch", "no-label", "match"]
    pred = [m.pred_class(v) for v in ("match", "mismatch", "unreadable", "match", "mismatch", "mismatch")]
    table = m.confusion(truth, pred)
    assert table["mismatch"] == {"match": 1, "mismatch": 1, "unreadable": 1}
    assert table["no-label"] == {"match": 0, "mismatch": 1, "unreadable": 0}
    assert table["match"] == {"match": 1, "mismatch": 1, "unreadable": 0}
    p, r, f = m.verification_prf(table)
    assert p == pytest.approx(1 / 3) and r == pytest.approx(1 / 3) and f == pytest.approx(1 / 3)
    assert m.pred_class(None) == "unreadable" and m.pred_class("weird") == "unreadable"


def test_verification_prf_undefined_without_positives() -> None:
    table = m.confusion(["match", "match"], ["match", "match"])
    assert m.verification_prf(table) == (None, None, None)
