"""The pipeline's stages, in the order `podocr.ocr.pipeline` runs them, each once over a whole batch:

plan      probe each photo at low resolution, find the label(s) (roi.py), cut the detection inputs
det       detect text lines (DB) in each detection input, quads mapped back to photo pixels
crop      perspective-crop every line from the full-resolution photo
orient    0°/180° per region: classifier votes (cls.py), unsure votes settled by reading both ways
rec       CTC-recognise all lines, bucketed by width (optionally a fast then a strong recogniser)
assemble  one PageResult per photo, lines in reading order
reread    a blurred label that read little is read again from a deconvolved crop (deblur.py)
"""
