#!/usr/bin/env bash
# The torch backend's GPU checks (issue 12) in one run, for a machine with a CUDA GPU and no
# network, such as the device machine some sessions are lent.
#
#   bash bench/device_checks.sh prepare   # here: wheels and MNIST into .whl/ (git-ignored, ~13 MB)
#   bash bench/device_checks.sh run       # there (the device tool: carry [".whl"]), from the repository root
#
# `run` installs the wheels without an index, then prints what it measures:
#   1. the CUDA tests: test_torch_cuda.py, test_torch_mixed_precision.py and
#      test_torch_process_group.py (NCCL with one rank: the only way to run NCCL on one GPU,
#      since two ranks may not share a GPU);
#   2. lenet-mnist on the GPU, one epoch, without and with --mixed-precision: wall time, test accuracy;
#   3. cifar10-cnn on the GPU, without and with --mixed-precision, when CIFAR-10 is in the data
#      folder (.whl/data, or CORENN_DATA_DIR). Its 150 MB do not fit one call's 64 MiB: carry
#      cifar-10-batches-py in several calls while the machine stays warm, or skip it.
# DEVICE=cpu runs steps 1 and 2 on the CPU (no mixed precision) to check the script itself.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out="$here/.whl"
python=${PYTHON:-python3}  # on the device machine, python3 is the one with PyTorch

prepare() {
    rm -rf "$out" && mkdir -p "$out/wheels" "$out/data/MNIST/raw"
    "$python" -m pip wheel -q --no-deps -w "$out/wheels" "$here" "$here/plugins/nn-fc" "$here/plugins/nn-conv" "$here/plugins/nn-torch"
    "$python" -m pip download -q --no-deps --only-binary :all: -d "$out/wheels" array-api-compat tomli-w
    cp "${CORENN_DATA_DIR:-$here/../shared/data}"/MNIST/raw/*.gz "$out/data/MNIST/raw/"
    du -sh "$out"
}

train() {  # train PRESET LABEL ARGS...: one line with wall time and the result's accuracies
    local preset=$1 label=$2
    shift 2
    local started=$SECONDS
    "$python" -m corenn train --preset "$preset" --backend torch --device "$device" --out "$runs" --name "$label" \
        --overwrite --quiet "$@" >/dev/null
    "$python" - "$runs/$label/result.json" "$label" $((SECONDS - started)) <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]}: {sys.argv[3]} s wall, {result['seconds']:.1f} s training, "
      f"val accuracy {result['val_accuracy']:.4f}, test accuracy {result['test_accuracy']:.4f}")
PY
}

run() {
    device=${DEVICE:-cuda}
    runs=$(mktemp -d)
    export CORENN_DATA_DIR=${CORENN_DATA_DIR:-$out/data}
    # --no-deps: the image has the rest (numpy, pluggy, attrs, torch, pyarrow, pillow, ...)
    "$python" -m pip install -q --no-index --no-deps "$out"/wheels/*.whl
    "$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
    "$python" -m pytest -q -p no:cacheprovider plugins/nn-torch/tests/test_torch_cuda.py \
        plugins/nn-torch/tests/test_torch_mixed_precision.py plugins/nn-torch/tests/test_torch_process_group.py 2>&1 | tail -3
    train lenet-mnist "lenet-mnist on $device"
    [ "$device" = cpu ] || train lenet-mnist "lenet-mnist on $device, mixed precision" --mixed-precision
    if [ -d "$CORENN_DATA_DIR/cifar-10-batches-py" ]; then
        train cifar10-cnn "cifar10-cnn on $device"
        [ "$device" = cpu ] || train cifar10-cnn "cifar10-cnn on $device, mixed precision" --mixed-precision
    else
        echo "cifar10-cnn: skipped, no $CORENN_DATA_DIR/cifar-10-batches-py"
    fi
    rm -rf "$runs"
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: bash bench/device_checks.sh prepare|run" >&2; exit 2 ;;
esac
