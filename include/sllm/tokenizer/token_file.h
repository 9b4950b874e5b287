// The token file: a flat array of token ids that training memory-maps.
//
// Layout (little-endian, 32-byte header, then the tokens):
//   0  char[8]  magic "SLLMTOKS"
//   8  u32      version (1)
//  12  u32      bytes per token: 2 (uint16) or 4 (uint32)
//  16  u64      token count
//  24  u32      vocab size (every token is < vocab size)
//  28  u32      reserved, 0
//  32  tokens
// Files are written atomically (temp file + fsync + rename). The reader checks the magic, the
// version, the file size against the header and every token against the vocab size.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "sllm/io/file.h"
#include "sllm/tokenizer/tokenizer.h"

namespace sllm {

inline constexpr char kTokenFileMagic[8] = {'S', 'L', 'L', 'M', 'T', 'O', 'K', 'S'};
inline constexpr uint32_t kTokenFileVersion = 1;
inline constexpr size_t kTokenFileHeaderBytes = 32;

// Writes tokens with uint16 storage when vocab_size <= 65536, else uint32. Throws if a token
// is outside [0, vocab_size).
void write_token_file(const std::string& path, std::span<const int32_t> tokens, int32_t vocab_size);

class TokenFile {
 public:
  explicit TokenFile(const std::string& path);  // Throws sllm::Error naming the fault.
  // Validates a buffer the caller keeps alive (fuzzing, tests). `name` labels errors.
  TokenFile(const uint8_t* data, size_t size, std::string name);

  size_t size() const { return count_; }
  int32_t vocab_size() const { return vocab_size_; }
  int bytes_per_token() const { return bytes_per_token_; }
  const std::string& path() const { return name_; }

  int32_t operator[](size_t i) const {
    return bytes_per_token_ == 2 ? static_cast<int32_t>(u16_[i]) : static_cast<int32_t>(u32_[i]);
  }
  // Copies tokens [offset, offset + n) into out. Throws when the range is out of bounds.
  void read(size_t offset, size_t n, int32_t* out) const;
  std::vector<int32_t> read(size_t offset, size_t n) const;

 private:
  void init(const uint8_t* data, size_t size);
  MappedFile map_;
  std::string name_;
  size_t count_ = 0;
  int32_t vocab_size_ = 0;
  int bytes_per_token_ = 0;
  const uint16_t* u16_ = nullptr;
  const uint32_t* u32_ = nullptr;
};

struct TokenizeOptions {
  int threads = 0;  // <= 0: all cores
  // Appended after every document (file) when >= 0; defaults to the tokenizer's eos id.
  int32_t separator = -2;  // -2: use tokenizer.eos_id(); -1: no separator
  bool allow_special = true;
  // Called from the calling thread with (bytes done, bytes total) as work completes.
  std::function<void(size_t, size_t)> progress;
};

struct TokenizeStats {
  size_t files = 0;
  size_t bytes = 0;
  size_t tokens = 0;
  double seconds = 0;
};

// Lists the regular files of `input` (itself if it is a file; else every non-hidden file under
// it, recursively, sorted by path). Throws when there are none.
std::vector<std::string> list_text_files(const std::string& input);

// Encodes every file of `input` (a file or a folder) on several threads and writes one token
// file. The result does not depend on the thread count.
TokenizeStats tokenize_to_token_file(const Tokenizer& tokenizer, const std::string& input,
                                     const std::string& out_path,
                                     const TokenizeOptions& options = {});

}  // namespace sllm
