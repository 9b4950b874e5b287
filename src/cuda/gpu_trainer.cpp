#include "sllm/cuda/gpu_trainer.h"

#include "sllm/cuda/cuda_model.h"
#include "sllm/cuda/device_backend.h"

namespace sllm::cuda {

std::unique_ptr<TrainBackend> make_train_backend(std::unique_ptr<Model> host) {
  const std::string gpu = require_device();
  auto dev = std::make_unique<CudaModel>(host->config());
  return std::make_unique<DeviceBackend<CudaModel>>(std::move(host), std::move(dev), gpu);
}

}  // namespace sllm::cuda
