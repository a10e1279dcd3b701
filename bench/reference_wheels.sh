# Sourced by the GPU scripts: installs the reference packages (romatch, efficientloftr-inference,
# kornia 0.7.4, kornia_rs, loguru) from the wheel folder "$1" into /tmp/ma_site and puts it on PYTHONPATH.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/ma_site \
  "$1"/romatch-*.whl "$1"/efficientloftr_inference-*.whl "$1"/kornia-*.whl \
  "$1"/kornia_rs-*.whl "$1"/loguru-*.whl || return 1
export PYTHONPATH="/tmp/ma_site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
