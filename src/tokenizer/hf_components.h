// The pipeline stages of a tokenizer.json: normalizers, pre-tokenizers and decoders, each built
// from its JSON object by a table of type names. Types outside the tables are refused by name.
#pragma once
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace sllm::hf {

// A pattern of tokenizer.json ({"String": ...} or {"Regex": ...}) rewritten for PCRE2 so that it
// matches what transformers.js' JavaScript RegExp matches: `\s` also takes U+FEFF, and the
// case-insensitive contraction group becomes the explicit [sS]... form transformers.js uses.
std::string regex_of(const nlohmann::json& pattern, const std::string& where);
std::string js_compatible_regex(std::string_view rust_regex);

// JavaScript's String.prototype.trim() whitespace.
bool js_space(uint32_t cp);
std::string_view trim_js(std::string_view s, bool left, bool right);

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void apply(std::string& s) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits `s` and appends the pieces. `first`: s starts the whole text (Metaspace "first").
  virtual void split(std::string_view s, bool first, std::vector<std::string>& out) const = 0;
  // True when the stage (or a stage of a sequence) is ByteLevel: the model is then byte-level.
  virtual bool byte_level() const { return false; }
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void apply(std::vector<std::string>& tokens) const = 0;
  // Strips the leading space SentencePiece-style tokenizers add (Metaspace, Strip).
  virtual bool drops_leading_space() const { return false; }
};

// null JSON gives nullptr. `added` (the added tokens' contents) is what ByteLevel leaves as is.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, const std::string& where);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const std::string& where);
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j, const std::string& where,
                                      const std::unordered_set<std::string>* added);

// GPT-2's byte <-> printable-character table: the code point byte b is written as.
uint32_t byte_to_unicode(uint8_t b);
// The byte a code point stands for, or -1 for code points outside the table.
int unicode_to_byte(uint32_t cp);

}  // namespace sllm::hf
