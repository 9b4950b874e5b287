// Which imatrix entry each layer matrix reads: llama.cpp's tensor names (kept apart from the
// file parser so the parser's fuzz build needs none of the exporters).
#include <algorithm>

#include "sllm/format/export.h"
#include "sllm/format/imatrix_file.h"
#include "sllm/model/presets.h"

namespace sllm {

std::map<std::string, std::string> imatrix_entry_names(const ModelConfig& c) {
  static const char* const kMatrices[] = {".attn.q.weight",  ".attn.k.weight",   ".attn.v.weight",
                                          ".attn.o.weight",  ".mlp.gate.weight", ".mlp.up.weight",
                                          ".mlp.down.weight"};
  const bool fused = closest_preset(c, false).gguf_fused_qkv;
  std::map<std::string, std::string> out;
  for (auto& [ours, theirs] : gguf_names(c)) {
    if (!ours.starts_with("layers.")) continue;
    const std::string& name = ours;  // Lambdas may not capture a structured binding (clang).
    const char* const* m = std::find_if(std::begin(kMatrices), std::end(kMatrices),
                                        [&](const char* s) { return name.ends_with(s); });
    if (m == std::end(kMatrices)) continue;
    if (fused && m - std::begin(kMatrices) < 3)
      theirs = theirs.substr(0, theirs.find("attn_")) + "attn_qkv.weight";
    out[ours] = theirs;
  }
  return out;
}

}  // namespace sllm
