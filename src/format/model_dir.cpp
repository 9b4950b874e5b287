#include "sllm/format/model_dir.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "sllm/common/error.h"
#include "sllm/format/model_files.h"
#include "sllm/format/model_tokenizer.h"
#include "sllm/io/file.h"
#include "sllm/quant/quant.h"

namespace sllm {

TrainableModel load_trainable_model(const std::string& path, const std::string& tokenizer_path) {
  ModelFiles files = load_model_files(path, tokenizer_path);
  files.validate();
  TrainableModel out;
  out.source = path;
  out.format = files.format;
  out.chat_template = files.chat_template;
  out.tokenizer = tokenizer_path.empty() || files.format == "llama2c"
                      ? model_tokenizer(files)
                      : load_tokenizer(tokenizer_path);
  if (out.tokenizer->vocab_size() > files.config.vocab_size)
    fail("{}: the tokenizer has {} tokens but the model only {}", path, out.tokenizer->vocab_size(),
         files.config.vocab_size);
  out.model = std::make_unique<Model>(files.config);
  for (const ParamSpec& s : out.model->specs()) {
    const WeightTensor& t = files.tensors.at(s.name);
    if (static_cast<size_t>(t.numel()) != s.numel)
      fail("{}: tensor {} holds {} values, the model needs {}", path, s.name, t.numel(), s.numel);
    dequantize_row(t.type, t.data, out.model->params().data() + s.offset,
                   static_cast<int64_t>(s.numel));
  }
  return out;
}

void write_f32_params(const std::string& path, const std::vector<ParamSpec>& specs,
                      const float* base, const std::string& prefix,
                      const std::map<std::string, std::string>& meta) {
  std::vector<TensorToWrite> t;
  t.reserve(specs.size());
  for (const auto& s : specs)
    t.push_back({prefix + s.name, DType::F32, s.shape, base + s.offset, s.numel * sizeof(float)});
  write_safetensors(path, t, meta);
}

void read_f32_params(const SafetensorsReader& r, const std::vector<ParamSpec>& specs, float* base,
                     const std::string& prefix) {
  for (const auto& s : specs) {
    const TensorView* t = r.find(prefix + s.name);
    if (!t) fail("{}: tensor '{}' is missing", r.path(), prefix + s.name);
    if (t->dtype != DType::F32)
      fail("{}: tensor '{}' has dtype {}, expected F32", r.path(), t->name, dtype_name(t->dtype));
    if (t->shape != s.shape)
      fail("{}: tensor '{}' has shape [{}], the model needs [{}]", r.path(), t->name,
           fmt::join(t->shape, ", "), fmt::join(s.shape, ", "));
    std::memcpy(base + s.offset, t->data, s.numel * sizeof(float));
  }
}

void save_model_dir(const std::string& dir, const Model& model, const Tokenizer& tok,
                    const std::function<void()>& after_each_file) {
  const auto written = [&] {
    if (after_each_file) after_each_file();
  };
  make_dirs(dir);
  write_f32_params(dir + "/model.safetensors", model.specs(), model.params().data(), "",
                   {{"format", "sllm"}});
  written();
  tok.save(dir + "/tokenizer.sllmtok");
  written();
  write_file_atomic(dir + "/config.json", model.config().to_json().dump(2) + "\n");
  written();
}

void load_model_params(Model& model, const std::string& path) {
  SafetensorsReader r(path);
  read_f32_params(r, model.specs(), model.params().data(), "");
}

}  // namespace sllm
