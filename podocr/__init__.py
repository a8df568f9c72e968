"""podocr: batch OCR of proof-of-delivery photos — manifest → fetch → decode → ROI → detect → recognise →
extract → Parquet, on Dask."""

__version__ = "0.1.0"
