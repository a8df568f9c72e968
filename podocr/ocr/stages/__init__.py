"""Pipeline stages, in the order they run: probe/plan (roi), detect (det), crop, orient (cls), recognise (rec);
plus the blur re-read (deblur). Each module holds one stage's logic; `podocr.ocr.pipeline` composes them."""
