// The inference model: weights mmap'd where the file's layout allows (else converted or
// quantized once at load; quantized matrices repacked into 16-row groups where the CPU's
// kernels read that layout, see sllm/quant/packed.h), a KV cache per sequence, and a batched
// forward step.
//
// forward_batch() advances several sequences at once, each by its own new tokens (a prefill
// chunk or one decode token), with ONE matrix multiply per weight matrix for all of them: this
// is what continuous batching in the server builds on. It returns the logits of each
// sequence's last new token (or of every new token, for perplexity).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sllm/format/model_files.h"
#include "sllm/infer/matmul.h"
#include "sllm/model/config.h"

namespace sllm {

// The element type of a KV cache. F32 keeps keys and values exactly as computed; F16 (llama.cpp's
// default) halves the cache's memory and the bytes each decoded token reads from it.
enum class KVType { F32, F16 };
KVType parse_kv_type(const std::string& s);  // "f32" or "f16"; throws naming both.
const char* kv_type_name(KVType t);

// Keys and values of one sequence for every layer, for up to capacity() positions, stored by
// (layer, KV head): the positions of one head follow each other, head_dim() values apart, so
// attention streams them.
class KVCache {
 public:
  KVCache() = default;
  KVCache(const ModelConfig& c, int capacity, KVType type = KVType::F32);
  int capacity() const { return capacity_; }
  int size() const { return size_; }  // Positions filled (= the next token's position).
  KVType type() const { return type_; }
  int head_dim() const { return hd_; }
  void clear() { size_ = 0; }
  void truncate(int n);  // Keeps the first n positions (prefix reuse); n <= size().
  size_t bytes() const;
  void advance(int n) { size_ += n; }

  // Writes position pos of layer: k and v hold n_kv_head * head_dim values each.
  void store(int layer, int pos, const float* k, const float* v);
  // Position 0 of KV head h in layer (F32 caches; k16/v16 for F16 ones, as IEEE half bits).
  const float* k(int layer, int h) const { return k_.data() + offset(layer, h); }
  const float* v(int layer, int h) const { return v_.data() + offset(layer, h); }
  const uint16_t* k16(int layer, int h) const { return k16_.data() + offset(layer, h); }
  const uint16_t* v16(int layer, int h) const { return v16_.data() + offset(layer, h); }

 private:
  size_t offset(int layer, int h) const {
    return (static_cast<size_t>(layer) * heads_ + h) * static_cast<size_t>(capacity_) * hd_;
  }
  int capacity_ = 0, size_ = 0, heads_ = 0, hd_ = 0;
  KVType type_ = KVType::F32;
  std::vector<float> k_, v_;
  std::vector<uint16_t> k16_, v16_;
};

struct LoadOptions {
  // Store matrices (and the embedding) in this type: F32, Q8_0, Q4_0 or Q4_1. Unset keeps the
  // file's type (F16/BF16 become F32). Converting never keeps a second full copy in memory.
  std::optional<GGMLType> weight_type;
  std::string tokenizer;  // Overrides the tokenizer next to the model (llama2.c tokenizer.bin).
  KVType kv_type = KVType::F32;  // Of the caches new_cache() makes.
};

// The optional features (sllm/model/config.h) the inference engine runs; loading refuses the
// others by name. Biases are per tensor here, so any set of them runs (but none on a gated MLP).
inline constexpr uint32_t kInferenceFeatures =
    Feature::UnbiasedLayerNorm | Feature::MixedBiases | Feature::GroupedQueryLearned |
    Feature::HeadDim | Feature::QkNorm | Feature::RopeScaling | Feature::NormUnitOffset |
    Feature::PostNorms | Feature::EmbeddingScale | Feature::GatedGelu | Feature::AttnSoftcap |
    Feature::FinalSoftcap | Feature::QueryPreAttnScalar | Feature::SlidingWindow |
    Feature::LocalRopeBase;

class InferenceModel {
 public:
  static std::unique_ptr<InferenceModel> load(const std::string& path, const LoadOptions& opt = {});
  explicit InferenceModel(ModelFiles files, const LoadOptions& opt = {});
  ~InferenceModel();

  const ModelConfig& config() const { return cfg_; }
  const ModelFiles& files() const { return files_; }
  GGMLType weight_type() const { return layers_.front().q.type; }  // Of the layer matrices.
  size_t weight_bytes() const;  // Bytes of weights read per decoded token.

  // A cache for `ctx` positions (capped at the model's block_size; <= 0 means block_size), of
  // the load options' kv_type.
  KVCache new_cache(int ctx) const;
  KVType kv_type() const { return kv_type_; }

  struct Seq {
    KVCache* cache;
    std::span<const int32_t> tokens;  // New tokens, appended at positions cache->size()...
  };
  // logits is resized to [seqs.size(), vocab] (or [total new tokens, vocab] with
  // all_positions). Throws sllm::Error (and changes no cache) for ids out of range, empty
  // token lists, or sequences that would overflow their cache.
  void forward_batch(std::span<const Seq> seqs, std::vector<float>& logits,
                     bool all_positions = false);
  // One sequence; returns the last position's logits.
  std::vector<float> forward(KVCache& cache, std::span<const int32_t> tokens);
  // The final-norm hidden states [rows, n_embd] behind the logits of the last forward_batch
  // (one row per logits row), e.g. for embeddings. Valid until the next forward.
  std::span<const float> last_hidden() const;

  // Sees the input x [n, cols] of every matrix multiplication in the layers during
  // forward_batch, on the calling thread: what `sllm imatrix` measures. name: the parameter
  // ("layers.3.attn.q.weight"). An empty hook (the default) costs nothing.
  using MatmulInputHook =
      std::function<void(const std::string& name, const float* x, int64_t n, int64_t cols)>;
  void set_matmul_input_hook(MatmulInputHook hook) { matmul_hook_ = std::move(hook); }

  struct Layer {
    std::vector<float> attn_norm_w, attn_norm_b, mlp_norm_w, mlp_norm_b;
    std::vector<float> q_norm_w, k_norm_w, attn_post_norm_w, mlp_post_norm_w;
    Weight q, k, v, o, gate, up, down;
    std::vector<float> q_b, k_b, v_b, o_b, up_b, down_b;
    std::vector<float> inv_freq;  // RoPE frequencies of this layer ([head_dim / 2]).
  };

 private:
  struct Scratch;
  ModelFiles files_;
  ModelConfig cfg_;
  Weight tok_emb_, lm_head_;
  std::vector<float> pos_emb_, norm_w_, norm_b_;
  std::vector<Layer> layers_;
  KVType kv_type_ = KVType::F32;
  std::unique_ptr<Scratch> s_;
  MatmulInputHook matmul_hook_;
  std::map<const Weight*, std::string> layer_matrix_names_;

  Weight matrix(const std::string& name, std::optional<GGMLType> to);
  std::vector<float> vec(const std::string& name);
  void norm(const float* x, const float* w, const float* b, float* out, int64_t n,
            Team& team) const;
  void attention(std::span<const Seq> seqs, int layer, const std::vector<int>& seq_of,
                 const std::vector<int>& pos_of, Team& team);
  // The body of forward_batch, run by every thread of the step's team.
  void forward_layers(std::span<const Seq> seqs, const std::vector<int32_t>& tok_of,
                      const std::vector<int>& seq_of, const std::vector<int>& pos_of,
                      const std::vector<int>& rows, Team& team);
};

}  // namespace sllm
