// Helpers of the adaptation tests: tiny model directories, a small corpus and a quick training
// loop (error_of comes from test_util.h).
#pragma once
#include <functional>
#include <string>

#include "sllm/adapt/adapt_train.h"
#include "sllm/common/error.h"
#include "sllm/common/runtime.h"
#include "sllm/format/model_dir.h"
#include "sllm/model/model.h"
#include "sllm/tokenizer/fingerprint.h"
#include "sllm/tokenizer/tokenizer.h"
#include "test_arch.h"
#include "test_util.h"

namespace sllm::test {

inline const char* kAdaptText =
    "the cat sat on the mat. the dog sat on the log. a cat and a dog sat on a mat and a log.\n";

inline std::string adapt_corpus(int repeat) {
  std::string s;
  for (int i = 0; i < repeat; ++i) s += kAdaptText;
  return s;
}

// A small byte-level model directory, like `sllm train` writes.
inline std::string make_adapt_model(const TempDir& dir, const std::string& name, int layers,
                                    int embd, Arch arch, uint64_t seed,
                                    const std::vector<std::string>& specials = {"<|endoftext|>"}) {
  ModelConfig c;
  set_arch(c, arch);
  c.vocab_size = 257;
  c.n_layer = layers;
  c.n_head = 2;
  c.n_kv_head = 2;
  c.n_embd = embd;
  c.block_size = 32;
  Model m(c);
  m.init_weights(seed);
  ByteTokenizer tok(specials);
  save_model_dir(dir.file(name), m, tok);
  return dir.file(name);
}

inline TrainConfig quick_loop(int iters) {
  TrainConfig l = TrainConfig::defaults(TrainMode::Finetune);
  l.batch_size = 4;
  l.max_iters = iters;
  l.lr = 3e-3f;
  l.min_lr = 3e-4f;
  l.warmup_iters = 2;
  l.eval_interval = iters;
  l.threads = 1;
  l.quiet = true;
  return l;
}

}  // namespace sllm::test
