#include "sllm/format/quantize.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "sllm/common/error.h"
#include "sllm/format/model_files.h"
#include "sllm/format/model_tokenizer.h"
#include "sllm/io/file.h"
#include "sllm/quant/quant.h"

namespace sllm {

GGMLType stored_type(const std::string& name, const WeightTensor& t, GGMLType type) {
  const bool matrix =
      t.shape.size() == 2 && t.shape.back() % kQBlock == 0 && name != "pos_embeddings.weight";
  return matrix ? type : GGMLType::F32;
}

std::vector<uint8_t> convert_tensor(const WeightTensor& t, GGMLType to, const std::string& name,
                                    const float* imatrix) {
  const int64_t cols = t.shape.empty() ? 1 : t.shape.back(), rows = t.numel() / cols;
  if (t.type == to) return {t.data, t.data + t.nbytes};
  const size_t src_row = ggml_row_size(t.type, cols), dst_row = ggml_row_size(to, cols);
  std::vector<uint8_t> out(dst_row * static_cast<size_t>(rows));
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    dequantize_row(t.type, t.data + r * src_row, row.data(), cols);
    try {
      quantize_row(to, row.data(), out.data() + r * dst_row, cols, imatrix);
    } catch (const Error& e) {
      fail("{} row {}: {}", name, r, e.what());
    }
  }
  return out;
}

QuantizeReport quantize_model(const std::string& model_path, const std::string& out_dir,
                              GGMLType type, const std::string& tokenizer) {
  if (!(type == GGMLType::F32 || is_quantized(type)))
    fail("sllm quantize: type must be f32, q8_0, q4_0 or q4_1, not {}", weight_type_name(type));
  return quantize_model(model_path, out_dir, parse_quant_mix(weight_type_name(type)), tokenizer);
}

QuantizeReport quantize_model(const std::string& model_path, const std::string& out_dir,
                              const QuantMix& mix, const std::string& tokenizer,
                              const Imatrix* imatrix) {
  ModelFiles files = load_model_files(model_path, tokenizer);
  files.validate();
  auto tok = model_tokenizer(files);
  QuantizeReport rep;
  GGUFWriter w;
  w.set("general.architecture", GGUFValue::string("sllm"));
  w.set("general.name", GGUFValue::string(model_path));
  w.set("sllm.config", GGUFValue::string(files.config.to_json().dump()));
  w.set("sllm.weight_type", GGUFValue::string(mix.name));
  std::vector<std::vector<uint8_t>> bufs;
  bufs.reserve(files.tensors.size());
  const auto entry_names = imatrix_entry_names(files.config);
  if (imatrix) {
    const bool any = std::any_of(entry_names.begin(), entry_names.end(), [&](const auto& n) {
      return imatrix->entries.count(n.second) > 0;
    });
    if (!any)
      fail(
          "{}: the importance matrix has no entry for any of this model's matrices (it has "
          "'{}'; this model's first is '{}'): is it for another model?",
          imatrix->source, imatrix->entries.begin()->first, entry_names.begin()->second);
    w.set("quantize.imatrix.file", GGUFValue::string(imatrix->source));
    if (!imatrix->datasets.empty())
      w.set("quantize.imatrix.dataset", GGUFValue::string(imatrix->datasets.front()));
    w.set("quantize.imatrix.entries_count",
          GGUFValue::i32(static_cast<int32_t>(imatrix->entries.size())));
    w.set("quantize.imatrix.chunks_count",
          GGUFValue::i32(static_cast<int32_t>(imatrix->chunk_count)));
  }
  for (const auto& spec : param_specs(files.config)) {
    const WeightTensor& t = files.tensors.at(spec.name);
    const GGMLType to = mix_tensor_type(mix, spec.name, t, files.config, imatrix != nullptr);
    ++rep.tensors_by_type[weight_type_name(to)];
    std::vector<float> weights;
    if (auto e = entry_names.find(spec.name); imatrix && e != entry_names.end()) {
      if (!uses_imatrix(to)) {
        ++rep.imatrix_type_takes_none;
      } else if (weights = imatrix->weights(e->second); weights.empty()) {
        rep.imatrix_missing.push_back(e->second);
      } else if (static_cast<int64_t>(weights.size()) != t.shape.back()) {
        fail("{}: imatrix entry '{}' has {} columns, but {} has {}", imatrix->source, e->second,
             weights.size(), spec.name, t.shape.back());
      } else {
        ++rep.imatrix_used;
      }
    }
    bufs.push_back(convert_tensor(t, to, files.source + ": tensor '" + spec.name + "'",
                                  weights.empty() ? nullptr : weights.data()));
    std::vector<int64_t> dims(t.shape.rbegin(), t.shape.rend());
    w.add_tensor(spec.name, to, dims, bufs.back().data(), bufs.back().size());
    rep.params += static_cast<size_t>(t.numel());
    rep.bytes_in += t.nbytes;
    rep.bytes_out += bufs.back().size();
  }
  make_dirs(out_dir);
  w.write(out_dir + "/model.gguf");
  write_file_atomic(out_dir + "/config.json", files.config.to_json().dump(2) + "\n");
  tok->save(out_dir + "/tokenizer.sllmtok");
  return rep;
}

}  // namespace sllm
