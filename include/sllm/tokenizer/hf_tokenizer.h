// Hugging Face `tokenizer.json` (the `tokenizers` library's serialization), with the
// `tokenizer_config.json` and `generation_config.json` that sit next to it.
//
// Encoding follows transformers' pipeline: the added tokens are split out first (leftmost,
// longest), each remaining section is normalized, pre-tokenized and run through the BPE model,
// and encode_with_specials() applies the post-processor (Llama 3's <|begin_of_text|>, Gemma's
// <bos>). decode() runs the decoder chain. The ids equal transformers.js' on the real
// tokenizers of Llama 2/3, Qwen3, Gemma 3, DeepSeek-V3 and gpt-oss (tests/hf_tokenizer_test.cpp).
//
// Every component type, and every option that changes the result, is either implemented or
// refused by name: a tokenizer that loads encodes as the original does.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/tokenizer/tokenizer.h"

namespace sllm {

// What tokenizer_config.json (and generation_config.json) add to tokenizer.json.
struct HfTokenizerConfig {
  std::string bos_token, eos_token, pad_token, unk_token;  // empty: none
  bool add_bos_token = false, add_eos_token = false;
  bool has_add_bos = false, has_add_eos = false;  // whether the config says at all
  bool clean_up_tokenization_spaces = false;
  // The default template, and the named ones when chat_template is a list ("default",
  // "tool_use", ...). A folder's chat_template.jinja fills `chat_template` when the config has
  // none.
  std::string chat_template;
  std::vector<std::pair<std::string, std::string>> named_templates;
  std::vector<int32_t> eos_ids;  // generation_config.json eos_token_id (one or a list)
};

// Parses tokenizer_config.json text. `where` names the source in errors.
HfTokenizerConfig parse_hf_tokenizer_config(std::string_view json, const std::string& where);
// Adds generation_config.json's eos ids to `config`.
void parse_hf_generation_config(std::string_view json, const std::string& where,
                                HfTokenizerConfig& config);

// The inverse of the two parsers: tokenizer_config.json text (the special-token names, add_bos /
// add_eos where the source said, the decode clean-up, the chat template or named templates)
// and generation_config.json text (eos ids; "" when there are none), so a saved tokenizer
// reads back with the same behaviour.
std::string hf_tokenizer_config_json(const HfTokenizerConfig& config);
std::string hf_generation_config_json(const HfTokenizerConfig& config);

// The chat template of a Hugging Face model folder: tokenizer_config.json's chat_template (the
// "default" one of a named list), else chat_template.jinja; "" when it has none.
std::string hf_chat_template(const std::string& dir);

class HfTokenizer;
class BpeTokenizer;

// Builds a tokenizer from tokenizer.json text (and the config, which supplies the bos/eos
// names and the decode clean-up). Throws sllm::Error naming the component or entry at fault.
std::unique_ptr<HfTokenizer> parse_hf_tokenizer(std::string_view tokenizer_json,
                                                const std::string& where,
                                                const HfTokenizerConfig* config = nullptr);

// Loads `path`: a tokenizer.json file, or a folder holding tokenizer.json (with
// tokenizer_config.json, generation_config.json and chat_template.jinja when present).
std::unique_ptr<HfTokenizer> load_hf_tokenizer(const std::string& path);

class HfTokenizer final : public Tokenizer {
 public:
  ~HfTokenizer() override;
  std::string kind() const override { return "bpe"; }
  int32_t vocab_size() const override;
  std::string_view token_bytes(int32_t id) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  // Writes the tokenizer.json text it was built from (atomically): open_tokenizer() reads it.
  // The config travels separately (save_config, hf_tokenizer_config_json).
  void save(const std::string& path) const override;
  // Writes DIR/tokenizer_config.json and, when there are eos ids, DIR/generation_config.json:
  // load_hf_tokenizer() reads them beside the tokenizer.json text.
  void save_config(const std::string& dir) const;
  bool is_safe_split(std::string_view text, size_t p) const override { return false; }
  bool drops_leading_space() const override;

  // encode() plus the post-processor's special tokens (add_special_tokens=True in transformers).
  std::vector<int32_t> encode_with_specials(std::string_view text) const;
  bool encode_with_post_processor(std::string_view text, std::vector<int32_t>& out) const override {
    std::vector<int32_t> ids = encode_with_specials(text);
    out.insert(out.end(), ids.begin(), ids.end());
    return true;
  }

  // The BPE model (token bytes, merges) under the pipeline.
  const BpeTokenizer& model() const;
  // The pre-tokenizer as llama.cpp runs one (its regexes joined by NUL, BpeSpec::pattern's
  // form) when the pipeline is byte-level BPE with no normalizer and only Isolated regex
  // splits before ByteLevel; "" otherwise.
  const std::string& llama_pattern() const { return llama_pattern_; }

  const HfTokenizerConfig& config() const { return config_; }
  void set_config(HfTokenizerConfig config);
  const std::string& json() const { return json_; }

  struct Impl;

 protected:
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const override;
  void encode_text(std::string_view text, std::vector<int32_t>& out) const override;

 private:
  friend std::unique_ptr<HfTokenizer> parse_hf_tokenizer(std::string_view, const std::string&,
                                                         const HfTokenizerConfig*);
  HfTokenizer();
  void encode_sections(std::string_view text, bool all_added, std::vector<int32_t>& out) const;
  std::unique_ptr<Impl> impl_;
  HfTokenizerConfig config_;
  std::string json_;
  std::string llama_pattern_;
};

}  // namespace sllm
