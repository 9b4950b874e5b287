// Byte-pair-encoding tokenizers: GPT-2 / tiktoken style byte-level BPE and SentencePiece BPE
// (Llama), with one merge engine.
//
// Encoding splits the text into pieces (a regex pre-tokenizer, or none), then repeatedly merges
// the adjacent pair of symbols with the best priority (lowest rank, leftmost on ties) until no
// pair can merge. The priority of a pair comes from one of:
//   - Merges: an ordered merge list (Hugging Face merges.txt, sllm's trainer);
//   - Ranks:  the id of the token the pair forms (tiktoken rank files, GGUF without merges);
//   - Scores: the score of the token the pair forms, higher first (SentencePiece).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sllm/tokenizer/tokenizer.h"

namespace sllm {

// Token types, numbered as in GGUF (tokenizer.ggml.token_type).
enum class TokenType : uint8_t {
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6
};

enum class MergeOrder : uint8_t { Merges, Ranks, Scores };

struct BpeSpec {
  std::string name;
  // The bytes of every id. SentencePiece tokens are kept as pieces (U+2581 for a space) and
  // byte-fallback tokens as "<0xXX>"; byte-level tokens are raw bytes. Unused ids are empty.
  std::vector<std::string> tokens;
  std::vector<TokenType> types;  // empty: all Normal
  MergeOrder order = MergeOrder::Merges;
  std::vector<std::pair<int32_t, int32_t>> merges;  // MergeOrder::Merges, best first
  std::vector<float> scores;                        // MergeOrder::Scores, one per token
  // Pre-tokenizer regex; empty: no pre-tokenization. Several regexes, applied one after the
  // other, are joined by NUL characters.
  std::string pattern;
  bool whole_piece_first = false;  // tiktoken: a piece that is a token is emitted as is
  bool sentencepiece = false;      // symbols are characters, ' ' is U+2581, byte fallback
  bool add_space_prefix = true;    // SentencePiece: prefix each text with a space
  // tokenizer.json BPE without ByteLevel (Llama 2, Gemma): the text arrives normalized (spaces
  // already U+2581), so symbols are its characters as they are, with no prefix.
  bool raw_pieces = false;
  bool byte_fallback = true;  // sentencepiece: a character outside the vocabulary as byte tokens
  bool fuse_unk = false;      // consecutive unknown characters give one unk token
  std::vector<SpecialToken> specials;
  int32_t unk_id = -1;
};

class BpeTokenizer final : public Tokenizer {
 public:
  // Validates the spec and builds the lookup tables. Throws sllm::Error naming the token or
  // merge at fault (duplicate tokens, merges of unknown tokens, bad special ids, ...).
  explicit BpeTokenizer(BpeSpec spec);
  ~BpeTokenizer() override;

  std::string kind() const override { return "bpe"; }
  int32_t vocab_size() const override { return static_cast<int32_t>(spec_.tokens.size()); }
  std::string_view token_bytes(int32_t id) const override;
  void save(const std::string& path) const override;
  bool is_safe_split(std::string_view text, size_t p) const override;
  bool drops_leading_space() const override {
    return spec_.sentencepiece && spec_.add_space_prefix;
  }

  const BpeSpec& spec() const { return spec_; }
  // The id of the token with exactly these bytes (as token_bytes() gives them), or -1.
  int32_t token_id(std::string_view bytes) const;

 protected:
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const override;

 private:
  struct Tables;
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
  void split_level(std::string_view text, size_t level, std::vector<int32_t>& out) const;
  void encode_sentencepiece(std::string_view text, std::vector<int32_t>& out) const;
  void encode_sentencepiece_run(std::string_view text, bool space_prefix,
                                std::vector<int32_t>& out) const;
  void push_byte(uint8_t b, std::vector<int32_t>& out) const;
  void push_unknown(const uint8_t* p, size_t len, std::vector<int32_t>& out) const;

  BpeSpec spec_;
  std::vector<std::string> bytes_;  // what token_bytes() returns
  std::unique_ptr<Tables> t_;
  uint64_t cache_id_;
};

}  // namespace sllm
