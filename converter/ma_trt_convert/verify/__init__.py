"""``verify``: an exported ONNX against the PyTorch port on synthetic inputs."""
