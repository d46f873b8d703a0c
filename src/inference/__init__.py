"""Inference on exported models: batched predictions (PyTorch or ONNX), input files, ONNX export."""
