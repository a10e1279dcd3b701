"""Training of the MatchAnything-ELoFTR port on homographic pairs of photographs and procedural images.

``python -m ma_trt_convert.training photos``: build the photograph archive from a scikit-image wheel;
``python -m ma_trt_convert.training train``: train (:mod:`.trainer`), configured by one JSON file
(:mod:`.config`). The trained module is the port itself, so its weights have the release layout.
"""
