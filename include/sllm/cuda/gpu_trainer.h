// `sllm train --device cuda`: the Trainer of sllm/train/trainer.h with the model, its gradients
// and AdamW on the GPU (CudaModel through DeviceBackend). The CLI passes
// make_train_backend as TrainHooks::make_backend; everything else (data streams, schedule,
// clipping, metrics.jsonl, samples, checkpoints, --resume, --init-from) is the CPU trainer's.
#pragma once
#include <memory>

#include "sllm/model/train_backend.h"

namespace sllm::cuda {

// Uploads the host model (initialised or loaded by the Trainer) to the first GPU. Throws
// sllm::Error without a usable GPU or in a build without CUDA.
std::unique_ptr<TrainBackend> make_train_backend(std::unique_ptr<Model> host);

}  // namespace sllm::cuda
