#include "sllm/format/quantize.h"

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

std::vector<uint8_t> convert_tensor(const WeightTensor& t, GGMLType to, const std::string& name) {
  const int64_t cols = t.shape.empty() ? 1 : t.shape.back(), rows = t.numel() / cols;
  if (t.type == to) return {t.data, t.data + t.nbytes};
  const size_t src_row = ggml_row_size(t.type, cols), dst_row = ggml_row_size(to, cols);
  std::vector<uint8_t> out(dst_row * static_cast<size_t>(rows));
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    dequantize_row(t.type, t.data + r * src_row, row.data(), cols);
    try {
      quantize_row(to, row.data(), out.data() + r * dst_row, cols);
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
                              const QuantMix& mix, const std::string& tokenizer) {
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
  for (const auto& spec : param_specs(files.config)) {
    const WeightTensor& t = files.tensors.at(spec.name);
    const GGMLType to = mix_tensor_type(mix, spec.name, t, files.config);
    ++rep.tensors_by_type[weight_type_name(to)];
    bufs.push_back(convert_tensor(t, to, files.source + ": tensor '" + spec.name + "'"));
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
