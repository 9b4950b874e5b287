#include "sllm/infer/imatrix.h"

#include <algorithm>
#include <vector>

#include "sllm/common/error.h"

namespace sllm {

Imatrix compute_imatrix(InferenceModel& model, std::span<const int32_t> tokens,
                        const ImatrixOptions& opt) {
  const int ctx = opt.chunk_size;
  if (ctx < 1 || ctx > model.config().block_size)
    fail("imatrix: the chunk size must be 1..{} (the model's context), got {}",
         model.config().block_size, ctx);
  int64_t chunks = static_cast<int64_t>(tokens.size()) / ctx;
  if (opt.max_chunks > 0) chunks = std::min(chunks, opt.max_chunks);
  if (chunks < 1)
    fail("imatrix: the text has {} tokens, less than one chunk of {}", tokens.size(), ctx);

  const std::map<std::string, std::string> names = imatrix_entry_names(model.config());
  struct Sums {  // Accumulated in double: a column's sum runs over every calibration token.
    std::vector<double> x2;
    int64_t tokens = 0;
  };
  std::map<std::string, Sums> sums;  // By llama.cpp name.
  // Fused q/k/v share one entry and one input: count it once per step.
  const std::string* last_entry = nullptr;
  const float* last_x = nullptr;
  model.set_matmul_input_hook(
      [&](const std::string& name, const float* x, int64_t n, int64_t cols) {
        const std::string& entry = names.at(name);
        if (last_x == x && last_entry && *last_entry == entry) return;
        last_entry = &entry;
        last_x = x;
        Sums& s = sums[entry];
        if (s.x2.empty()) s.x2.assign(static_cast<size_t>(cols), 0.0);
        for (int64_t t = 0; t < n; ++t)
          for (int64_t c = 0; c < cols; ++c) {
            const double v = x[t * cols + c];
            s.x2[static_cast<size_t>(c)] += v * v;
          }
        s.tokens += n;
      });
  struct Unhook {
    InferenceModel& m;
    ~Unhook() { m.set_matmul_input_hook(nullptr); }
  } unhook{model};

  KVCache cache = model.new_cache(ctx);
  std::vector<int32_t> chunk(static_cast<size_t>(ctx));
  std::vector<float> logits;
  for (int64_t i = 0; i < chunks; ++i) {
    std::copy_n(tokens.begin() + i * ctx, ctx, chunk.begin());
    if (opt.bos) chunk[0] = *opt.bos;
    cache.clear();
    last_x = nullptr;
    InferenceModel::Seq seq{&cache, chunk};
    model.forward_batch({&seq, 1}, logits);
    if (opt.progress) opt.progress(i + 1, chunks);
  }

  Imatrix m;
  m.chunk_count = chunks;
  m.chunk_size = ctx;
  if (!opt.dataset.empty()) m.datasets.push_back(opt.dataset);
  for (auto& [name, s] : sums) {
    ImatrixEntry e;
    e.sums.assign(s.x2.begin(), s.x2.end());
    e.count = static_cast<double>(s.tokens);
    m.entries.emplace(name, std::move(e));
  }
  return m;
}

}  // namespace sllm
