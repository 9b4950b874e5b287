#include "sllm/format/model_files.h"

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/io/safetensors.h"
#include "sllm/quant/quant.h"

namespace sllm {

std::vector<WeightTensor> split_rows(const WeightTensor& fused, std::span<const int64_t> rows) {
  const size_t row = fused.shape.empty() || fused.shape[0] == 0 ? 0 : fused.nbytes / fused.shape[0];
  std::vector<WeightTensor> out;
  int64_t at = 0;
  for (int64_t n : rows) {
    WeightTensor w = fused;
    w.shape[0] = n;
    w.data = fused.data + at * row;
    w.nbytes = static_cast<size_t>(n) * row;
    out.push_back(std::move(w));
    at += n;
  }
  return out;
}

std::array<WeightTensor, 3> split_rows_in_thirds(const WeightTensor& fused) {
  std::array<WeightTensor, 3> out;
  const size_t third = fused.nbytes / 3;
  for (size_t j = 0; j < 3; ++j) {
    out[j] = fused;
    out[j].shape[0] = fused.shape[0] / 3;
    out[j].data = fused.data + j * third;
    out[j].nbytes = third;
  }
  return out;
}

namespace fs = std::filesystem;

int64_t WeightTensor::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

const uint8_t* ModelFiles::own(std::vector<uint8_t> bytes) {
  owned.push_back(std::move(bytes));
  return owned.back().data();
}

void ModelFiles::validate() const {
  auto specs = param_specs(config);
  std::map<std::string, const ParamSpec*> want;
  for (const auto& s : specs) want[s.name] = &s;
  for (const auto& s : specs) {
    auto it = tensors.find(s.name);
    if (it == tensors.end()) fail("{}: tensor '{}' is missing", source, s.name);
    const WeightTensor& t = it->second;
    if (t.shape != s.shape)
      fail("{}: tensor '{}' has shape [{}] but the config needs [{}]", source, s.name,
           fmt::join(t.shape, ", "), fmt::join(s.shape, ", "));
    if (!is_weight_type(t.type))
      fail(
          "{}: tensor '{}' has type {}, which sllm cannot run (supported: F32, F16, BF16, Q8_0, "
          "Q4_0, Q4_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS)",
          source, s.name, ggml_type_name(t.type));
    const int64_t cols = t.shape.size() > 1 ? t.shape.back() : t.numel();
    const size_t need = ggml_row_size(t.type, cols) * static_cast<size_t>(t.numel() / cols);
    if (t.nbytes != need)
      fail("{}: tensor '{}' has {} bytes, expected {}", source, s.name, t.nbytes, need);
  }
  for (const auto& [name, t] : tensors)
    if (!want.count(name)) fail("{}: unexpected tensor '{}' for this config", source, name);
}

// ---- sllm model directory ----

ModelFiles load_sllm_dir(const std::string& dir) {
  ModelFiles m;
  m.source = dir;
  m.format = "sllm";
  const std::string cfg_path = dir + "/config.json";
  try {
    m.config = ModelConfig::from_json(nlohmann::json::parse(read_file(cfg_path)));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", cfg_path, e.what());
  }
  if (file_exists(dir + "/tokenizer.sllmtok")) m.tokenizer_path = dir + "/tokenizer.sllmtok";
  if (file_exists(dir + "/chat_template.jinja"))
    m.chat_template = read_file(dir + "/chat_template.jinja");
  if (file_exists(dir + "/model.gguf")) {  // A quantized model written by `sllm quantize`.
    auto r = std::make_shared<GGUFReader>(dir + "/model.gguf");
    m.source = r->path();
    for (const auto& t : r->tensors()) {
      WeightTensor w{t.type, {}, t.data, t.nbytes};
      for (auto it = t.dims.rbegin(); it != t.dims.rend(); ++it) w.shape.push_back(*it);
      m.tensors[t.name] = w;
    }
    m.keep_alive.push_back(r);
    return m;
  }
  auto r = std::make_shared<SafetensorsReader>(dir + "/model.safetensors");
  m.source = r->path();
  for (const auto& t : r->tensors()) {
    GGMLType type;
    switch (t.dtype) {
      case DType::F32:
        type = GGMLType::F32;
        break;
      case DType::F16:
        type = GGMLType::F16;
        break;
      case DType::BF16:
        type = GGMLType::BF16;
        break;
      default:
        fail("{}: tensor '{}' has dtype {}; model weights must be F32, F16 or BF16", r->path(),
             t.name, dtype_name(t.dtype));
    }
    m.tensors[t.name] = WeightTensor{type, t.shape, t.data, t.nbytes};
  }
  m.keep_alive.push_back(r);
  return m;
}

// ---- dispatch ----

namespace {
ModelFiles load_model_files_only(const std::string& path, const std::string& tokenizer_hint);
}

ModelFiles load_model_files(const std::string& path, const std::string& tokenizer_hint) {
  ModelFiles m = load_model_files_only(path, tokenizer_hint);
  if (!tokenizer_hint.empty() && m.format != "llama2c") m.tokenizer_path = tokenizer_hint;
  return m;
}

namespace {
ModelFiles load_model_files_only(const std::string& path, const std::string& tokenizer_hint) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("model path {} does not exist", path);
  if (fs::is_directory(path, ec)) {
    if (!file_exists(path + "/config.json"))
      fail("{}: a model directory needs a config.json", path);
    if (file_exists(path + "/model.gguf") ||
        (file_exists(path + "/model.safetensors") && file_exists(path + "/tokenizer.sllmtok")))
      return load_sllm_dir(path);
    return load_hf_dir(path);
  }
  MappedFile probe(path);
  if (probe.size() >= 4 && std::memcmp(probe.data(), "GGUF", 4) == 0) return load_gguf_model(path);
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".safetensors") {
    // The folder around the file, loaded as a folder; a bare file name lives in the current
    // folder, not at the root ("" + "/config.json").
    const std::string dir = fs::path(path).parent_path().string();
    return load_model_files_only(dir.empty() ? "." : dir, tokenizer_hint);
  }
  std::string tok = tokenizer_hint;
  if (tok.empty()) {
    const std::string sibling = (fs::path(path).parent_path() / "tokenizer.bin").string();
    if (file_exists(sibling)) tok = sibling;
  }
  return load_llama2c(path, tok);
}
}  // namespace

}  // namespace sllm
