// Must NOT compile: the Layering.WrongWayIncludeFailsToBuild test builds it as part of the
// kernels library's world, which sees no model header (kernels sit below the model).
#include "sllm/model/config.h"

int layering_probe() {
  return sllm::ModelConfig{}.n_layer;
}
