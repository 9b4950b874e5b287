// The families a loader accepts, as its error lists them: read from the preset table, so the
// message names exactly the rows find_hf_preset / find_gguf_preset match.
#pragma once
#include <string>

#include "sllm/model/presets.h"

namespace sllm {

// "a, b and c" of each preset's `field` (hf_model_type or gguf_arch), skipping rows without one.
inline std::string family_names(const char* ModelPreset::*field) {
  std::string out, last;
  for (const ModelPreset& p : model_presets()) {
    const char* name = p.*field;
    if (!name) continue;
    if (!last.empty()) out += (out.empty() ? "" : ", ") + last;
    last = name;
  }
  return out.empty() ? last : out + " and " + last;
}

}  // namespace sllm
