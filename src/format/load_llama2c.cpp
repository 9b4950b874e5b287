// llama2.c checkpoints (Karpathy's run.c "v0" format): a header of 7 int32
// (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size
// means the classifier is not shared with the embedding), then f32 arrays in this order:
// token embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis_real,
// freq_cis_imag, and wcls when not shared. The weights are used in place from the mapping.
#include <cstring>

#include "sllm/common/error.h"
#include "sllm/format/model_files.h"
#include "sllm/model/presets.h"

namespace sllm {

VocabInfo read_llama2c_tokenizer(const std::string& path, int vocab_size) {
  MappedFile f(path);
  const uint8_t* p = f.data();
  size_t left = f.size(), pos = 0;
  auto need = [&](size_t n, int i) {
    if (n > left - pos)
      fail("{}: truncated llama2.c tokenizer at token {} (offset {})", path, i, pos);
  };
  VocabInfo v;
  v.model = "llama";
  need(4, -1);
  int32_t max_len;
  std::memcpy(&max_len, p, 4);
  pos = 4;
  if (max_len <= 0 || max_len > 1 << 20)
    fail("{}: bad max_token_length {} (not a llama2.c tokenizer?)", path, max_len);
  for (int i = 0; i < vocab_size; ++i) {
    need(8, i);
    float score;
    int32_t len;
    std::memcpy(&score, p + pos, 4);
    std::memcpy(&len, p + pos + 4, 4);
    pos += 8;
    if (len < 0 || len > max_len)
      fail("{}: token {} has length {} (max_token_length {})", path, i, len, max_len);
    need(static_cast<size_t>(len), i);
    v.tokens.emplace_back(reinterpret_cast<const char*>(p + pos), static_cast<size_t>(len));
    v.scores.push_back(score);
    pos += static_cast<size_t>(len);
  }
  v.bos_id = 1;
  v.eos_id = 2;
  v.add_bos = true;
  return v;
}

ModelFiles load_llama2c(const std::string& path, const std::string& tokenizer_path) {
  auto file = std::make_shared<MappedFile>(path);
  if (file->size() < 28)
    fail("{}: not a llama2.c checkpoint ({} bytes, the header alone is 28)", path, file->size());
  int32_t h[7];
  std::memcpy(h, file->data(), sizeof h);
  const char* names[7] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                          "n_kv_heads", "vocab_size", "seq_len"};
  for (int i = 0; i < 7; ++i) {
    const int64_t v = i == 5 ? std::abs(static_cast<int64_t>(h[i])) : h[i];
    if (v <= 0 || v > (1 << 24))
      fail("{}: llama2.c header field {} = {} is out of range (not a llama2.c v0 checkpoint?)",
           path, names[i], h[i]);
  }
  ModelFiles m;
  m.source = path;
  m.format = "llama2c";
  ModelConfig& c = m.config;
  apply_preset(c, preset("llama"));  // llama2.c checkpoints are Meta's Llama.
  c.n_embd = h[0];
  c.intermediate_size = h[1];
  c.n_layer = h[2];
  c.n_head = h[3];
  c.n_kv_head = h[4];
  c.vocab_size = std::abs(h[5]);
  c.block_size = h[6];
  c.tie_word_embeddings = h[5] > 0;
  c.norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  try {
    c.validate();
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
  const int64_t C = c.n_embd, F = c.ffn_dim(), L = c.n_layer, V = c.vocab_size, hd = c.head_dim();
  const int64_t KV = c.n_kv_head * hd;
  size_t off = 28;
  auto take = [&](int64_t numel) {
    const size_t n = static_cast<size_t>(numel) * 4;
    if (off > file->size() || n > file->size() - off)
      fail("{}: truncated llama2.c checkpoint: needs {} more bytes at offset {}, file has {}", path,
           n, off, file->size());
    const uint8_t* p = file->data() + off;
    off += n;
    return p;
  };
  auto put = [&](const std::string& name, std::vector<int64_t> shape, const uint8_t* p) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    m.tensors[name] = WeightTensor{GGMLType::F32, std::move(shape), p, static_cast<size_t>(n) * 4};
  };
  auto layer = [](int64_t i, const char* s) { return "layers." + std::to_string(i) + "." + s; };
  put("tok_embeddings.weight", {V, C}, take(V * C));
  auto per_layer = [&](const char* name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    const uint8_t* base = take(L * n);
    for (int64_t i = 0; i < L; ++i) put(layer(i, name), shape, base + i * n * 4);
  };
  per_layer("attn_norm.weight", {C});
  per_layer("attn.q.weight", {C, C});
  per_layer("attn.k.weight", {KV, C});
  per_layer("attn.v.weight", {KV, C});
  per_layer("attn.o.weight", {C, C});
  per_layer("mlp_norm.weight", {C});
  per_layer("mlp.gate.weight", {F, C});
  per_layer("mlp.down.weight", {C, F});
  per_layer("mlp.up.weight", {F, C});
  put("norm.weight", {C}, take(C));
  take(static_cast<int64_t>(c.block_size) * hd);  // freq_cis_real and _imag: recomputed instead.
  if (!c.tie_word_embeddings) put("lm_head.weight", {V, C}, take(V * C));
  if (off != file->size())
    fail("{}: {} bytes after the last llama2.c tensor (wrong header or not a v0 checkpoint?)", path,
         file->size() - off);
  m.keep_alive.push_back(file);
  if (!tokenizer_path.empty()) m.vocab = read_llama2c_tokenizer(tokenizer_path, c.vocab_size);
  return m;
}

}  // namespace sllm
