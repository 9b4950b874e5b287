// Reading and writing sllm's one-file tokenizer format (docs/tokenizer-format.md):
// magic, version, a JSON header, the token table, then kind-specific binary data.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/tokenizer/tokenizer.h"

namespace sllm {

inline constexpr char kSllmtokMagic[8] = {'S', 'L', 'L', 'M', 'T', 'O', 'K', 'R'};
inline constexpr uint32_t kSllmtokVersion = 1;

struct SllmtokContents {
  nlohmann::json header;
  std::vector<std::string> tokens;  // the bytes of every id, specials included
  std::string extra;                // kind-specific binary data after the token table
};

// Bounds-checked little-endian reader whose errors name the file and the field.
class ByteReader {
 public:
  ByteReader(std::string_view data, std::string where) : data_(data), where_(std::move(where)) {}
  uint32_t u32(const char* field);
  int32_t i32(const char* field) { return static_cast<int32_t>(u32(field)); }
  float f32(const char* field);
  std::string_view bytes(size_t n, const char* field);
  size_t remaining() const { return data_.size() - pos_; }
  size_t pos() const { return pos_; }
  const std::string& where() const { return where_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  std::string where_;
};

void put_u32(std::string& out, uint32_t v);
void put_f32(std::string& out, float v);

// Header fields common to every kind: kind, name, vocab_size, specials, bos_id, eos_id.
nlohmann::json common_header(const Tokenizer& t);
std::vector<std::string> all_token_bytes(const Tokenizer& t);
// Reads the specials list of a header, checking ids against the vocab size.
std::vector<SpecialToken> header_specials(const nlohmann::json& header, int32_t vocab_size,
                                          const std::string& where);

// Applies the name and bos/eos ids of a header to a freshly built tokenizer.
void apply_common_header(Tokenizer& t, const nlohmann::json& header, const std::string& where);

void write_sllmtok(const std::string& path, const nlohmann::json& header,
                   const std::vector<std::string>& tokens, std::string_view extra);
SllmtokContents parse_sllmtok(std::string_view data, const std::string& where);

// Builds the tokenizer a parsed file describes. `where` names the file in errors.
std::unique_ptr<Tokenizer> tokenizer_from_sllmtok(const SllmtokContents& c,
                                                  const std::string& where);
// The bpe kind (bpe_io.cpp).
std::unique_ptr<Tokenizer> bpe_from_sllmtok(const SllmtokContents& c, const std::string& where);
// Parses and builds from bytes in memory (used by load_tokenizer and the fuzzer).
std::unique_ptr<Tokenizer> load_tokenizer_from_memory(std::string_view data,
                                                      const std::string& where);

}  // namespace sllm
