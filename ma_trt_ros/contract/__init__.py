"""The I/O contract the converter and the runtime share (standard library and numpy only).

- :mod:`.tensors`: one tensor of an engine (name, fixed shape, dtype, meaning);
- :mod:`.variant_contract`, :mod:`.eloftr`, :mod:`.roma`, :mod:`.variants`: each variant's tensor
  names, meanings and input conventions, and the registry of variants;
- :mod:`.sidecar`: the JSON written next to every plan and the runtime's compatibility rules;
- :mod:`.sizes`: input size ranges and optimisation profiles;
- :mod:`.files`: chunked hashing and atomic writes.

Nothing here imports PyTorch, TensorRT, ONNX or rclpy (guarded by ``test/test_import_rules.py``).
"""
