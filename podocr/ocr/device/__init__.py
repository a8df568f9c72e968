"""The device read path (`engine.device_ops`): the host-side stages' pixel work as torch ops on the engine's device.

With the torch backend on CUDA, the host cores become the limit once the models are fast: decoding, resizing,
normalising, padding, DB post-processing, perspective crops and CTC decoding cost the host far more than the
models cost the GPU. Here each of those is a torch function on tensors (`resize`, `prep`, `db`, `warp`, `ctc`,
`decode`), device-agnostic so the same code runs on the CPU in tests; `stages` puts them behind the stage
objects' interfaces and `reader` runs the pipeline's read over them, so only the decisions that need the host
(label choice, contours, reading order) cross over, as small arrays. `profile` records host and device time per
stage. Images on the device are H×W×3 BGR uint8 tensors, the layout the host stages use for numpy images.
"""
