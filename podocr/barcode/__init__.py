"""Barcodes on the label: decode them (`decode.py`, zxing-cpp) and read carrier payloads (`payload.py`)."""

from podocr.barcode.decode import BarcodeScan, scan_photo
from podocr.barcode.payload import BarcodeRead, parse_payload

__all__ = ["BarcodeRead", "BarcodeScan", "parse_payload", "scan_photo"]
