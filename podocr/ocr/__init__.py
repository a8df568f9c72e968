"""OCR: decoded photos in, one PageResult per photo out.

pipeline.py composes the stages (stages/), which call models through one engine protocol (runtime/); build.py
wires both from the config, and registry.py pins, pulls and verifies the model files.
"""
