// The tokenizer interface every model, trainer and server in sllm goes through.
//
// A tokenizer maps text (any byte string) to token ids and back. Every token stands for a
// byte string (token_bytes), so streaming decode is the concatenation of token_bytes();
// decode() additionally applies whole-sequence rules (SentencePiece drops its dummy-prefix
// space at the start of the text).
//
// Special tokens (<|endoftext|>, <s>, ...) are matched in the text by encode() when
// allow_special is true (the default, what training data wants); with allow_special false
// their text is encoded like any other text.
//
// Tokenizers save to and load from sllm's own one-file format (docs/tokenizer-format.md).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sllm {

struct SpecialToken {
  std::string text;
  int32_t id = -1;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // "char", "byte" or "bpe".
  virtual std::string kind() const = 0;
  // A human-readable name ("char", "byte", "gpt2", "cl100k_base", "llama-spm", ...).
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  virtual int32_t vocab_size() const = 0;

  std::vector<int32_t> encode(std::string_view text, bool allow_special = true) const;
  // Appends to out (no clear): lets batch encoders reuse one buffer.
  void encode_append(std::string_view text, std::vector<int32_t>& out,
                     bool allow_special = true) const;

  // Throws sllm::Error for ids outside [0, vocab_size).
  virtual std::string decode(std::span<const int32_t> ids) const;
  // The bytes token `id` stands for (a special token's text for specials). Throws for bad ids.
  virtual std::string_view token_bytes(int32_t id) const = 0;

  const std::vector<SpecialToken>& special_tokens() const { return specials_; }
  int32_t special_id(std::string_view text) const;  // -1 when text is not a special token
  bool is_special(int32_t id) const;
  int32_t bos_id() const { return bos_id_; }  // -1 when the tokenizer has none
  int32_t eos_id() const { return eos_id_; }  // -1 when the tokenizer has none
  // Overrides the ids picked from the special-token names (-1: none). Throws for bad ids.
  void set_bos_eos(int32_t bos, int32_t eos);

  // Writes the tokenizer to `path` in sllm's format, atomically.
  virtual void save(const std::string& path) const = 0;

  // True when encoding text[0, p) and text[p, end) separately gives the same ids as encoding
  // the whole text: lets batch encoders split big inputs across threads with identical output.
  virtual bool is_safe_split(std::string_view text, size_t p) const = 0;

  // SentencePiece tokenizers prefix the text with a space when encoding; decode() then drops
  // one leading space from the first token.
  virtual bool drops_leading_space() const { return false; }

  // Appends `text` encoded as the tokenizer's own library encodes a plain text by default
  // (tokenizer.json's post-processor adds Llama 3's <|begin_of_text|>, Gemma's <bos>) and
  // returns true; false when the tokenizer has no such rule.
  virtual bool encode_with_post_processor(std::string_view text, std::vector<int32_t>& out) const {
    return false;
  }

 protected:
  // Encodes text that holds no special tokens (or where they are to be read as plain text).
  virtual void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const = 0;
  // Encodes text where special tokens are to be matched: by default each special token's text
  // (earliest, longest on ties) becomes its id and the rest goes to encode_ordinary().
  virtual void encode_text(std::string_view text, std::vector<int32_t>& out) const;
  // Registers special tokens (ids must already be valid ids of this tokenizer) and picks the
  // bos/eos ids from the usual names (<s>, <|begin_of_text|>, </s>, <|endoftext|>, ...).
  void set_special_tokens(std::vector<SpecialToken> specials);
  void check_id(int32_t id) const;

 private:
  std::string name_;
  std::vector<SpecialToken> specials_;
  int32_t bos_id_ = -1, eos_id_ = -1;
};

// Character-level tokenizer, nanoGPT style: one token per Unicode character seen in the
// corpus, ids in code-point order, then the special tokens. Encoding a character outside
// the vocabulary (or invalid UTF-8) throws an error naming it and its byte offset.
class CharTokenizer final : public Tokenizer {
 public:
  // chars: distinct UTF-8 encoded characters, in id order.
  CharTokenizer(std::vector<std::string> chars, std::vector<std::string> specials = {});
  static std::unique_ptr<CharTokenizer> from_corpus(std::string_view corpus,
                                                    std::vector<std::string> specials = {});

  std::string kind() const override { return "char"; }
  int32_t vocab_size() const override;
  std::string_view token_bytes(int32_t id) const override;
  void save(const std::string& path) const override;
  bool is_safe_split(std::string_view text, size_t p) const override;

 protected:
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const override;

 private:
  std::vector<std::string> chars_;
  std::vector<int32_t> ascii_;  // id of each ASCII byte or -1: the common case without a lookup
  std::vector<std::pair<uint32_t, int32_t>> by_codepoint_;  // sorted (code point, id)
};

// Byte-level tokenizer: ids 0..255 are the bytes, special tokens follow (id 256, ...).
// Round-trips any byte string.
class ByteTokenizer final : public Tokenizer {
 public:
  explicit ByteTokenizer(std::vector<std::string> specials = {});

  std::string kind() const override { return "byte"; }
  int32_t vocab_size() const override { return 256 + n_specials_; }
  std::string_view token_bytes(int32_t id) const override;
  void save(const std::string& path) const override;
  bool is_safe_split(std::string_view text, size_t p) const override { return true; }

 protected:
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const override;

 private:
  std::string bytes_;  // bytes_[i] == char(i): token_bytes() returns views into it
  int32_t n_specials_ = 0;
};

// Loads a tokenizer saved by Tokenizer::save() (sllm's .sllmtok format). Throws sllm::Error
// naming the file and what is wrong with it.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

// What `--tokenizer SPEC` means everywhere in the CLI:
//   "char"  -> CharTokenizer::from_corpus(corpus)
//   "byte"  -> ByteTokenizer with <|endoftext|> (id 256) as eos
//   a path  -> open_tokenizer(path) (loaders.h: .sllmtok, GGUF, .tiktoken, vocab.json + merges.txt)
std::unique_ptr<Tokenizer> resolve_tokenizer(const std::string& spec, std::string_view corpus);

// A prompt for generation: text that starts with the BOS token's text (a chat template printed
// it) as it is; else with the tokenizer's post-processor tokens when it has a post-processor;
// else with BOS first when `add_bos`.
std::vector<int32_t> encode_prompt(const Tokenizer& tok, std::string_view text, bool add_bos);

// Encodes text on `threads` threads (<= 0: all cores), splitting it only where
// Tokenizer::is_safe_split() allows, so the result equals tokenizer.encode(text).
std::vector<int32_t> encode_parallel(const Tokenizer& tokenizer, std::string_view text, int threads,
                                     bool allow_special = true);

// Turns token ids into text as they are generated: push() returns the text that is ready,
// holding back the bytes of an incomplete UTF-8 character until it completes (or can no
// longer complete, in which case the raw bytes are released as they are).
class TokenStreamDecoder {
 public:
  explicit TokenStreamDecoder(const Tokenizer& tokenizer) : tok_(tokenizer) {}
  std::string push(int32_t id);
  std::string flush();  // Releases whatever is held back.

 private:
  const Tokenizer& tok_;
  std::string pending_;
  bool first_ = true;
};

}  // namespace sllm
