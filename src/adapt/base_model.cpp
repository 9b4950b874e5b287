#include "sllm/adapt/base_model.h"

#include "sllm/common/error.h"
#include "sllm/infer/model_tokenizer.h"
#include "sllm/infer/weights.h"
#include "sllm/quant/quant.h"
#include "sllm/io/file.h"
#include "sllm/io/safetensors.h"
#include <nlohmann/json.hpp>

namespace sllm {

TrainableModel load_trainable_model(const std::string& path, const std::string& tokenizer_path) {
  ModelFiles files = load_model_files(path, tokenizer_path);
  files.validate();
  TrainableModel out;
  out.source = path;
  out.format = files.format;
  out.chat_template = files.chat_template;
  out.tokenizer = tokenizer_path.empty() || files.format == "llama2c" ? model_tokenizer(files)
                                                                      : load_tokenizer(tokenizer_path);
  if (out.tokenizer->vocab_size() > files.config.vocab_size)
    fail("{}: the tokenizer has {} tokens but the model only {}", path, out.tokenizer->vocab_size(),
         files.config.vocab_size);
  out.model = std::make_unique<Model>(files.config);
  for (const ParamSpec& s : out.model->specs()) {
    const WeightTensor& t = files.tensors.at(s.name);
    if (static_cast<size_t>(t.numel()) != s.numel)
      fail("{}: tensor {} holds {} values, the model needs {}", path, s.name, t.numel(), s.numel);
    dequantize_row(t.type, t.data, out.model->params().data() + s.offset, static_cast<int64_t>(s.numel));
  }
  return out;
}

std::string tokenizer_fingerprint(const Tokenizer& tok) {
  std::string all = tok.kind() + "\n";
  for (int32_t i = 0; i < tok.vocab_size(); ++i) {
    const std::string_view b = tok.token_bytes(i);
    all += std::to_string(b.size()) + ":";
    all += b;
    all += tok.is_special(i) ? "S" : ".";
  }
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64
  for (unsigned char c : all) h = (h ^ c) * 1099511628211ull;
  return fmt::format("{:016x}", h);
}

void save_trainable_model(const std::string& dir, const Model& model, const Tokenizer& tok) {
  make_dirs(dir);
  std::vector<TensorToWrite> tensors;
  for (const ParamSpec& s : model.specs())
    tensors.push_back({s.name, DType::F32, s.shape, model.params().data() + s.offset, s.numel * sizeof(float)});
  write_safetensors(dir + "/model.safetensors", tensors, {{"format", "sllm"}});
  tok.save(dir + "/tokenizer.sllmtok");
  write_file_atomic(dir + "/config.json", model.config().to_json().dump(2) + "\n");
}

void check_same_tokenizer(const Tokenizer& a, const std::string& a_name, const Tokenizer& b, const std::string& b_name) {
  if (a.vocab_size() != b.vocab_size())
    fail("{} and {} have different tokenizers ({} vs {} tokens): they must share one", a_name, b_name, a.vocab_size(),
         b.vocab_size());
  for (int32_t i = 0; i < a.vocab_size(); ++i)
    if (a.token_bytes(i) != b.token_bytes(i) || a.is_special(i) != b.is_special(i))
      fail("{} and {} have different tokenizers (token {} is '{}' vs '{}'): they must share one", a_name, b_name, i,
           std::string(a.token_bytes(i)), std::string(b.token_bytes(i)));
}

}  // namespace sllm
