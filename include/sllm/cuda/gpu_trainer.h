// `sllm train --device cuda`: the pretraining loop of sllm/train/trainer.h with the model,
// its gradients and AdamW on the GPU (sllm/cuda/cuda_model.h). Same data streams, schedule,
// clipping and metrics.jsonl as the CPU trainer; it writes the final model directory to OUT.
// Not yet: --resume, --init-from and intermediate checkpoints (they stay CPU-only).
#pragma once
#include <string>

#include "sllm/train/trainer.h"

namespace sllm::cuda {

// Peak dense bf16 FLOP/s of the GPU named `device_name` from the hardware catalog (the longest
// catalog id the name contains, e.g. "NVIDIA H100 80GB HBM3" -> h100); 0 when unknown.
double catalog_bf16_peak(const std::string& device_name);

TrainResult train_on_gpu(TrainConfig cfg);

}  // namespace sllm::cuda
