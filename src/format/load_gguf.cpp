// GGUF models as llama.cpp writes them (the preset table's GGUF architectures: llama, qwen2,
// gpt2), mapped to sllm's parameter names. Tensors stay in the mapped file; GPT-2's fused attn_qkv
// is split by rows, which needs no copy because rows are stored whole in every ggml type.
#include "sllm/common/error.h"
#include "sllm/format/hf_names.h"
#include "sllm/format/model_files.h"
#include "sllm/model/presets.h"

namespace sllm {

namespace {

std::string blk(int i, const char* s) {
  return "blk." + std::to_string(i) + "." + s;
}
std::string lay(int i, const char* s) {
  return "layers." + std::to_string(i) + "." + s;
}

WeightTensor view(const GGUFTensorInfo& t) {
  WeightTensor w{t.type, {}, t.data, t.nbytes};
  for (auto it = t.dims.rbegin(); it != t.dims.rend(); ++it) w.shape.push_back(*it);
  return w;
}

}  // namespace

ModelFiles load_gguf_model(const std::string& path) {
  auto r = std::make_shared<GGUFReader>(path);
  ModelFiles m;
  m.source = path;
  m.format = "gguf";
  const std::string arch = r->get_string("general.architecture");
  if (arch.empty())
    fail("{}: GGUF file has no general.architecture (a vocabulary-only file?)", path);
  const ModelPreset* family = find_gguf_preset(arch);
  if (!family)
    fail("{}: unsupported architecture '{}' (sllm runs llama, qwen2 and gpt2)", path, arch);
  ModelConfig& c = m.config;
  apply_preset(c, *family);
  auto need_int = [&](const std::string& key) {
    const int64_t v = r->get_int(arch + "." + key, -1);
    if (v <= 0 || v > (1 << 24))
      fail("{}: metadata {}.{} is missing or out of range ({})", path, arch, key, v);
    return static_cast<int>(v);
  };
  c.n_embd = need_int("embedding_length");
  c.n_layer = need_int("block_count");
  c.n_head = need_int("attention.head_count");
  c.n_kv_head = static_cast<int>(r->get_int(arch + ".attention.head_count_kv", c.n_head));
  c.intermediate_size = need_int("feed_forward_length");
  c.block_size = need_int("context_length");
  const GGUFTensorInfo& emb = r->tensor("token_embd.weight");
  if (emb.dims.size() != 2) fail("{}: token_embd.weight must be 2-D", path);
  c.vocab_size = static_cast<int>(emb.dims[1]);
  const bool rms = c.norm == NormKind::RMSNorm;
  c.norm_eps = static_cast<float>(r->get_float(
      arch + (rms ? ".attention.layer_norm_rms_epsilon" : ".attention.layer_norm_epsilon"), 1e-5));
  if (c.positions == Positions::Rope) {
    c.rope_theta = static_cast<float>(r->get_float(arch + ".rope.freq_base", 10000.0));
    const int64_t rot = r->get_int(arch + ".rope.dimension_count", c.n_embd / c.n_head);
    if (rot != c.n_embd / c.n_head)
      fail("{}: partial RoPE (dimension_count {}) is not supported", path, rot);
  }
  c.tie_word_embeddings = r->find_tensor("output.weight") == nullptr;
  try {
    c.validate();
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }

  auto map = [&](const std::string& from, const std::string& to) {
    m.tensors[to] = view(r->tensor(from));
  };
  map("token_embd.weight", "tok_embeddings.weight");
  map("output_norm.weight", "norm.weight");
  if (!c.tie_word_embeddings) map("output.weight", "lm_head.weight");
  const bool fused = family->gguf_fused_qkv;
  if (c.positions == Positions::Learned) map("position_embd.weight", "pos_embeddings.weight");
  if (c.norm_bias) map("output_norm.bias", "norm.bias");
  for (int i = 0; i < c.n_layer; ++i) {
    map(blk(i, "attn_norm.weight"), lay(i, "attn_norm.weight"));
    map(blk(i, "attn_output.weight"), lay(i, "attn.o.weight"));
    map(blk(i, "ffn_norm.weight"), lay(i, "mlp_norm.weight"));
    map(blk(i, "ffn_up.weight"), lay(i, "mlp.up.weight"));
    map(blk(i, "ffn_down.weight"), lay(i, "mlp.down.weight"));
    if (!fused) {
      map(blk(i, "attn_q.weight"), lay(i, "attn.q.weight"));
      map(blk(i, "attn_k.weight"), lay(i, "attn.k.weight"));
      map(blk(i, "attn_v.weight"), lay(i, "attn.v.weight"));
      if (c.gated_mlp) map(blk(i, "ffn_gate.weight"), lay(i, "mlp.gate.weight"));
      if (c.qkv_bias)
        for (const char* p : {"q", "k", "v"})
          map(blk(i, (std::string("attn_") + p + ".bias").c_str()),
              lay(i, (std::string("attn.") + p + ".bias").c_str()));
      if (!family->gguf_rotate_half) continue;
      // llama.cpp runs this family (Qwen2) with rotate-half (NEOX) RoPE, so its q/k rows are
      // in Hugging Face order: back to interleaved pairs.
      for (const char* p : {"q", "k"}) {
        const std::string part = std::string("attn.") + p + ".";
        const int heads = *p == 'q' ? c.n_head : c.n_kv_head;
        for (const char* wb : {"weight", "bias"}) {
          if (!m.tensors.count(lay(i, (part + wb).c_str()))) continue;
          WeightTensor& w = m.tensors[lay(i, (part + wb).c_str())];
          const int64_t rows = w.shape.empty() ? 0 : w.shape[0];
          if (rows % (2 * heads) != 0)
            fail("{}: {}{} has {} rows, not a multiple of 2*{}", path, blk(i, "attn_"), p, rows,
                 heads);
          w.data = m.own(hf_permute_rows(w.data, rows, w.nbytes / rows, heads, false));
        }
      }
      continue;
    }
    for (const char* s :
         {"attn_norm.bias", "attn_output.bias", "ffn_norm.bias", "ffn_up.bias", "ffn_down.bias"}) {
      static const std::map<std::string, std::string> to = {{"attn_norm.bias", "attn_norm.bias"},
                                                            {"attn_output.bias", "attn.o.bias"},
                                                            {"ffn_norm.bias", "mlp_norm.bias"},
                                                            {"ffn_up.bias", "mlp.up.bias"},
                                                            {"ffn_down.bias", "mlp.down.bias"}};
      map(blk(i, s), lay(i, to.at(s).c_str()));
    }
    // Fused [3C, C] qkv weight and [3C] bias: q, k, v are consecutive row ranges.
    for (const char* part : {"weight", "bias"}) {
      WeightTensor qkv = view(r->tensor(blk(i, (std::string("attn_qkv.") + part).c_str())));
      const int64_t rows = qkv.shape[0];
      if (rows != 3 * c.n_embd)
        fail("{}: {} has {} rows, expected {}", path, blk(i, "attn_qkv"), rows, 3 * c.n_embd);
      const std::array<WeightTensor, 3> split = split_rows_in_thirds(qkv);
      const char* names[3] = {"attn.q.", "attn.k.", "attn.v."};
      for (int j = 0; j < 3; ++j)
        m.tensors[lay(i, (std::string(names[j]) + part).c_str())] = split[j];
    }
  }

  VocabInfo& v = m.vocab;
  if (const GGUFValue* toks = r->find("tokenizer.ggml.tokens")) {
    v.model = r->get_string("tokenizer.ggml.model");
    v.tokens = toks->as_strings();
    if (const GGUFValue* s = r->find("tokenizer.ggml.scores")) v.scores = s->as_floats();
    if (const GGUFValue* t = r->find("tokenizer.ggml.token_type"))
      for (auto x : t->as_ints()) v.token_types.push_back(static_cast<int32_t>(x));
    if (const GGUFValue* mg = r->find("tokenizer.ggml.merges")) v.merges = mg->as_strings();
    v.bos_id = static_cast<int32_t>(r->get_int("tokenizer.ggml.bos_token_id", -1));
    v.eos_id = static_cast<int32_t>(r->get_int("tokenizer.ggml.eos_token_id", -1));
    const GGUFValue* ab = r->find("tokenizer.ggml.add_bos_token");
    v.add_bos = ab ? ab->as_bool() : v.model == "llama";
  }
  m.chat_template = r->get_string("tokenizer.chat_template");
  m.keep_alive.push_back(r);
  return m;
}

}  // namespace sllm
