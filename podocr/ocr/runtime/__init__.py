"""Runtimes the stages call through one `Engine` protocol: ONNX Runtime (engine.py), PyTorch (engine_torch.py,
torch_convert.py), fp16 validation (fp16.py) and TensorRT cache building (trt.py)."""
