// Hugging Face layout: config.json + model.safetensors under transformers' parameter names.
#include <cstring>
#include <deque>
#include <nlohmann/json.hpp>

#include "export_vocab.h"
#include "sllm/common/error.h"
#include "sllm/format/export.h"
#include "sllm/format/hf_names.h"
#include "sllm/format/quantize.h"
#include "sllm/io/file.h"
#include "sllm/io/safetensors.h"

namespace sllm {

namespace {

DType dtype_of(GGMLType t) {
  switch (t) {
    case GGMLType::F16:
      return DType::F16;
    case GGMLType::BF16:
      return DType::BF16;
    default:
      return DType::F32;  // Quantized blocks are dequantized.
  }
}

}  // namespace

ExportReport export_hf(const ModelFiles& files, const std::string& dir) {
  files.validate();
  const ModelConfig& c = files.config;
  const ModelPreset& family = hf_preset(c);
  const bool conv1d = family.hf->style == HfStyle::Gpt2;  // Conv1D weights, fused c_attn
  const std::string prefix = family.hf->prefix;
  ExportReport rep;
  std::deque<std::vector<uint8_t>> bufs;  // Converted, permuted or fused tensors.
  std::vector<TensorToWrite> out;

  // The tensor as stored, or as F32 when quantized.
  auto plain = [&](const std::string& name) -> TensorToWrite {
    const WeightTensor& t = files.tensors.at(name);
    const DType d = dtype_of(t.type);
    TensorToWrite tw{"", d, t.shape, t.data, t.nbytes};
    if (d == DType::F32 && t.type != GGMLType::F32) {
      bufs.push_back(convert_tensor(t, GGMLType::F32, files.source + ": tensor '" + name + "'"));
      tw.data = bufs.back().data();
      tw.nbytes = bufs.back().size();
    }
    return tw;
  };
  auto own = [&](std::vector<uint8_t> bytes, TensorToWrite& tw) {
    bufs.push_back(std::move(bytes));
    tw.data = bufs.back().data();
    tw.nbytes = bufs.back().size();
  };
  auto emit = [&](const std::string& hf, TensorToWrite tw) {
    tw.name = hf == "lm_head.weight" ? hf : prefix + hf;
    ++rep.tensors;
    rep.bytes += tw.nbytes;
    out.push_back(std::move(tw));
  };

  for (const auto& [hf, ours] : hf_global_names(c, family))
    if (files.tensors.count(ours)) emit(hf, plain(ours));
  // A tensor as HF stores it: q/k rows in rotate-half order (not GPT-2's, whose RoPE-free
  // c_attn keeps them).
  auto hf_rows = [&](const std::string& ours, const std::string& L) {
    TensorToWrite tw = plain(ours);
    // qk-norm weights hold one head's elements: permuted as one head.
    const bool head_norm = ours == L + "attn.q_norm.weight" || ours == L + "attn.k_norm.weight";
    if (!conv1d && (ours == L + "attn.q.weight" || ours == L + "attn.k.weight" ||
                    ours == L + "attn.q.bias" || ours == L + "attn.k.bias" || head_norm)) {
      const int heads = head_norm ? 1 : ours.starts_with(L + "attn.q.") ? c.n_head : c.n_kv_head;
      const size_t elem = dtype_size(tw.dtype);
      const size_t row = tw.shape.size() > 1 ? tw.shape[1] * elem : elem;
      own(hf_permute_rows(static_cast<const uint8_t*>(tw.data), tw.shape[0], row, heads, true), tw);
    }
    return tw;
  };
  // Fused tensors (GPT-2's c_attn, Phi-3's qkv_proj and gate_up_proj): their parts' rows.
  struct Fused {
    const char* ours;
    std::vector<const char*> parts;
  };
  const Fused fusions[] = {{".attn.qkv.", {"attn.q.", "attn.k.", "attn.v."}},
                           {".mlp.gate_up.", {"mlp.gate.", "mlp.up."}}};
  for (int i = 0; i < c.n_layer; ++i) {
    const std::string L = "layers." + std::to_string(i) + ".";
    for (const auto& [hf, ours] : hf_layer_names(c, family, i)) {
      TensorToWrite tw;
      const Fused* fu = nullptr;
      size_t at = std::string::npos;
      for (const Fused& f : fusions)
        if ((at = ours.find(f.ours)) != std::string::npos) {
          fu = &f;
          break;
        }
      if (fu) {
        const std::string part = ours.substr(at + strlen(fu->ours));
        std::vector<uint8_t> fused;
        int64_t rows = 0;
        for (const char* p : fu->parts) {
          TensorToWrite x = hf_rows(L + p + part, L);
          if (!fused.empty() && x.dtype != tw.dtype)
            fail("export: {}{}{} is {} but the first part is {}; {} needs one dtype", L, p, part,
                 dtype_name(x.dtype), dtype_name(tw.dtype), hf);
          const auto* b = static_cast<const uint8_t*>(x.data);
          fused.insert(fused.end(), b, b + x.nbytes);
          tw.dtype = x.dtype;
          tw.shape = x.shape;
          rows += x.shape[0];
        }
        tw.shape[0] = rows;
        own(std::move(fused), tw);
      } else {
        if (!files.tensors.count(ours)) continue;
        tw = hf_rows(ours, L);
      }
      if (conv1d && hf_is_conv1d(hf)) {  // Conv1D stores [in, out].
        own(transpose_bytes(static_cast<const uint8_t*>(tw.data), tw.shape[0], tw.shape[1],
                            dtype_size(tw.dtype)),
            tw);
        std::swap(tw.shape[0], tw.shape[1]);
      }
      emit(hf, std::move(tw));
    }
  }
  make_dirs(dir);
  write_safetensors(dir + "/model.safetensors", out, {{"format", "pt"}});
  write_file_atomic(dir + "/config.json", hf_config_to_json(c, family).dump(2) + "\n");
  rep.tokenizer = write_hf_vocab(files, dir, rep.note);
  return rep;
}

}  // namespace sllm
