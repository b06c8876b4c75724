"""The quantization core: bit planes, CSQ layers and activation quantizers, conversion of a float model, per-layer
bits, the exact fixed-point model.
"""
