"""Image files as ``sensor_msgs/Image`` messages (the reference image of ``reference`` mode), via OpenCV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ma_trt_ros.ros.image_conversion import numpy_to_image

ENCODING_BY_LAYOUT = {
    (np.dtype(np.uint8), 1): "mono8",
    (np.dtype(np.uint16), 1): "mono16",
    (np.dtype(np.uint8), 3): "bgr8",
    (np.dtype(np.uint8), 4): "bgra8",
}


def read_image_message(path: str | Path, header: Any = None) -> Any:
    """The image file ``path`` (PNG, JPEG, TIFF, ... as OpenCV reads them) as an Image message with ``header``.

    8-bit gray, 16-bit gray, BGR and BGRA files keep their values (``mono8``, ``mono16``, ``bgr8``,
    ``bgra8``). Raises ValueError naming the file when it is missing, unreadable or of another layout.
    """
    import cv2

    if not Path(path).is_file():
        raise ValueError(f"reference image {str(path)!r} does not exist")
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise ValueError(f"reference image {str(path)!r} cannot be read as an image")
    channels = 1 if array.ndim == 2 else array.shape[2]
    encoding = ENCODING_BY_LAYOUT.get((array.dtype, channels))
    if encoding is None:
        raise ValueError(
            f"reference image {str(path)!r} is {array.dtype} with {channels} channel(s); "
            "use 8-bit gray/BGR/BGRA or 16-bit gray"
        )
    return numpy_to_image(array, encoding, header=header)
