#include "sllm/adapt/teacher_cache.h"

#include <cmath>
#include <cstring>

#include "sllm/common/error.h"
#include "sllm/io/safetensors.h"

namespace sllm {

namespace {
constexpr const char* kFormat = "sllm-teacher-topk";

void check_consistent(const TeacherCache& c, const std::string& path) {
  if (c.vocab_size < 2) fail("teacher cache {}: vocab_size {} must be >= 2", path, c.vocab_size);
  if (c.k < 1 || c.k > c.vocab_size)
    fail("teacher cache {}: k = {} must be in [1, {}]", path, c.k, c.vocab_size);
  if (c.T < 1) fail("teacher cache {}: sequence length {} must be >= 1", path, c.T);
  const size_t n = c.rows * c.T;
  if (c.inputs.size() != n || c.targets.size() != n || c.ids.size() != n * c.k ||
      c.logits.size() != n * c.k)
    fail("teacher cache {}: tensor sizes do not match rows {} x T {} x k {}", path, c.rows, c.T,
         c.k);
}
}  // namespace

void save_teacher_cache(const std::string& path, const TeacherCache& c) {
  check_consistent(c, path);
  const int64_t R = static_cast<int64_t>(c.rows), T = c.T, K = c.k;
  std::vector<TensorToWrite> t = {
      {"inputs", DType::I32, {R, T}, c.inputs.data(), c.inputs.size() * 4},
      {"targets", DType::I32, {R, T}, c.targets.data(), c.targets.size() * 4},
      {"topk_ids", DType::I32, {R, T, K}, c.ids.data(), c.ids.size() * 4},
      {"topk_logits", DType::F32, {R, T, K}, c.logits.data(), c.logits.size() * 4},
  };
  write_safetensors(path, t,
                    {{"format", kFormat},
                     {"version", "1"},
                     {"vocab_size", std::to_string(c.vocab_size)},
                     {"k", std::to_string(c.k)},
                     {"teacher", c.teacher},
                     {"tokenizer", c.tokenizer}});
}

TeacherCache load_teacher_cache(const std::string& path) {
  SafetensorsReader r(path);
  const auto& md = r.metadata();
  auto meta = [&](const char* key) -> const std::string& {
    auto it = md.find(key);
    if (it == md.end())
      fail("teacher cache {}: metadata '{}' is missing (not an sllm teacher cache?)", path, key);
    return it->second;
  };
  if (meta("format") != kFormat)
    fail("teacher cache {}: format '{}' is not {}", path, meta("format"), kFormat);
  if (meta("version") != "1")
    fail("teacher cache {}: unsupported version '{}'", path, meta("version"));
  TeacherCache c;
  try {
    c.vocab_size = std::stoi(meta("vocab_size"));
    c.k = std::stoi(meta("k"));
  } catch (const std::logic_error&) {
    fail("teacher cache {}: vocab_size/k metadata are not integers", path);
  }
  c.teacher = meta("teacher");
  c.tokenizer = meta("tokenizer");
  auto tensor = [&](const char* name, DType dt, size_t rank) -> const TensorView& {
    const TensorView& v = r.get(name);
    if (v.dtype != dt || v.shape.size() != rank)
      fail("teacher cache {}: tensor '{}' must be {} of rank {}", path, name, dtype_name(dt), rank);
    return v;
  };
  const TensorView& in = tensor("inputs", DType::I32, 2);
  const TensorView& tg = tensor("targets", DType::I32, 2);
  const TensorView& id = tensor("topk_ids", DType::I32, 3);
  const TensorView& lg = tensor("topk_logits", DType::F32, 3);
  c.rows = static_cast<size_t>(in.shape[0]);
  c.T = static_cast<int>(in.shape[1]);
  if (tg.shape != in.shape || id.shape != lg.shape || id.shape[0] != in.shape[0] ||
      id.shape[1] != in.shape[1] || id.shape[2] != c.k)
    fail(
        "teacher cache {}: tensor shapes disagree (inputs/targets [rows, T], topk [rows, T, k = "
        "{}])",
        path, c.k);
  auto copy = [](const TensorView& v, auto& out) {
    out.resize(v.numel());
    std::memcpy(out.data(), v.data, v.nbytes);
  };
  copy(in, c.inputs);
  copy(tg, c.targets);
  copy(id, c.ids);
  copy(lg, c.logits);
  check_consistent(c, path);
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (c.inputs[i] < 0 || c.inputs[i] >= c.vocab_size)
      fail("teacher cache {}: input token {} at {} is outside the vocabulary", path, c.inputs[i],
           i);
    if (c.targets[i] < -1 || c.targets[i] >= c.vocab_size)
      fail("teacher cache {}: target {} at {} is outside the vocabulary", path, c.targets[i], i);
  }
  for (size_t i = 0; i < c.ids.size(); ++i) {
    if (c.ids[i] < 0 || c.ids[i] >= c.vocab_size)
      fail("teacher cache {}: top-k id {} at {} is outside the vocabulary", path, c.ids[i], i);
    if (!std::isfinite(c.logits[i]))
      fail("teacher cache {}: top-k logit at {} is not finite", path, i);
  }
  return c;
}

}  // namespace sllm
