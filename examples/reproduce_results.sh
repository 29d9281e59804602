#!/usr/bin/env bash
# Every long run behind the README's results table, one after the other (about 1 h 45 min on
# 2 cores). Outputs go to runs/<name>/ (metrics.json, history.csv, checkpoint, figures).
# The real Fashion-MNIST / MNIST files must be findable: --data-dir, $SCRATCHNET_DATA or the cache
# (on a machine with internet access they are downloaded and verified automatically).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs}"

# Fashion-MNIST, the default recipe: exactly the README's main command
scratchnet train --dataset fashion-mnist --out "$out/fashion-mnist" --no-progress

# MNIST, the default recipe (a CNN with two conv layers)
scratchnet train --dataset mnist --out "$out/mnist" --no-progress

# MNIST: dropout + weight decay against neither (same seed, data and schedule; no augmentation,
# so that the regularisers are the only difference)
scratchnet train --dataset mnist --no-augment --dropout 0.5 --weight-decay 5e-4 --epochs 12 --shards 1 --val-every 1 --out "$out/mnist-regularised" --no-progress
scratchnet train --dataset mnist --no-augment --dropout 0 --weight-decay 0 --epochs 12 --shards 1 --val-every 1 --out "$out/mnist-plain" --no-progress

# MNIST learning-rate sweep: classification error per iteration of every run in one figure
scratchnet sweep --dataset mnist --lr 0.3 0.1 0.03 0.01 0.001 --epochs 2 --schedule constant --shards 1 --val-every 1 \
    --out "$out/mnist-lr-sweep" --no-progress

# Recurrent networks (docs/recurrent.md): each image read row by row, 28 steps of 28 values
scratchnet train --dataset mnist --model lstm-rows --out "$out/mnist-lstm-rows" --no-progress
scratchnet train --dataset fashion-mnist --model lstm-rows --out "$out/fashion-mnist-lstm-rows" --no-progress

# Character-level language model on tiny Shakespeare; writes samples.md during training
scratchnet train --dataset tinyshakespeare --out "$out/tinyshakespeare" --no-progress
scratchnet sample "$out/tinyshakespeare/checkpoint.npz" --prompt "ROMEO:" --length 500 > "$out/tinyshakespeare/sample.txt"

# Ensembles (README, "Ensembles"): 5 members each, two trained at a time
scratchnet ensemble --dataset fashion-mnist --workers 2 --out "$out/ensemble-fashion-mnist" --no-progress
scratchnet ensemble --dataset mnist --workers 2 --out "$out/ensemble-mnist" --no-progress
