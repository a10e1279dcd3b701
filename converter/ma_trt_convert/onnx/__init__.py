"""ONNX: export from the PyTorch ports, clean-up for TensorRT, metadata and the I/O contract in the file."""
