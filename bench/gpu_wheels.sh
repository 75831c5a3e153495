#!/bin/sh
# Fetch, on a machine with pip access, the wheels bench/gpu_resnet18.py needs beyond the GPU image's
# packages (it has JAX with CUDA, PyTorch, NumPy, scikit-learn, PyYAML, h5py, rich, ml-dtypes; not
# Keras or pydantic), for CPython 3.12 on x86-64 Linux, into .whl/ (git-ignored;
# the device tool carries it: carry [".whl"]). Versions: the ones this project is tested with.
set -e
cd "$(dirname "$0")/.."
for spec in keras==3.15.1 namex==0.1.0 optree==0.20.0 pydantic==2.13.4 pydantic-core==2.46.4 \
            annotated-types==0.7.0 typing-inspection==0.4.2; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$spec"
done
ls .whl
