#!/usr/bin/env bash
# What a GPU machine must check, in one go (about 10 minutes on one GPU):
#   1. the device-relevant tests on CUDA (PYROVAE_TEST_DEVICE=cuda),
#   2. training speed against hand-written PyTorch (bench_train.py --device cuda),
#   3. log p(x) speed on a model trained there for a few epochs (bench_log_px.py --device cuda),
#   4. a short torchrun training with nccl, and bench_ddp.py, when there are two GPUs or more,
#   5. the paper configs against hand-written loops (bench_papers.py --quick --device cuda).
# Data: ../shared/data or $PYROVAE_DATA_DIR (binarized MNIST); without it, step 3 trains on
# sprites and step 5 is skipped. Figures go to stdout; each benchmark's last line is one JSON object.
#   bash scripts/gpu_check.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu_check}"
mkdir -p "$out"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
gpus=$(python -c "import torch; print(torch.cuda.device_count())")
echo "== $gpus GPU(s): $(python -c 'import torch; print(torch.cuda.get_device_name(0))')"

echo "== 1. device-relevant tests on CUDA"
PYROVAE_TEST_DEVICE=cuda python -m pytest -q tests/test_on_device.py tests/train/fast

echo "== 2. training speed (pyrovae / hand-written PyTorch)"
python scripts/bench_train.py --device cuda --rounds 5 --samples 20000

echo "== 3. log p(x) speed on a model trained on the GPU"
data="${PYROVAE_DATA_DIR:-../shared/data}"
if [ -d "$data/binarized_mnist" ]; then
  python -m pyrovae train configs/binarized_mnist_vae.toml --set train.epochs=5 \
    --device cuda --data-dir "$data" --out "$out/bmnist" --quiet
  python scripts/bench_log_px.py --run "$out/bmnist" --data-dir "$data" --device cuda
else
  echo "no binarized MNIST under $data: bench_log_px trains its own model"
  python scripts/bench_log_px.py --device cuda
fi

echo "== 4. torchrun with nccl"
if [ "$gpus" -ge 2 ]; then
  torchrun --nproc_per_node="$gpus" -m pyrovae train configs/quickstart.toml \
    --set train.epochs=3 --device cuda --out "$out/ddp" --quiet
  python scripts/bench_ddp.py --procs "$gpus" --device cuda --threads 4
else
  echo "one GPU: nccl needs a GPU per process, so the torchrun check needs two or more"
fi
echo "== 5. paper configs against hand-written loops"
if [ -d "$data/binarized_mnist" ]; then
  python scripts/bench_papers.py --quick --device cuda --data-dir "$data"
else
  echo "no binarized MNIST under $data: the paper configs need it"
fi
echo "== done"
