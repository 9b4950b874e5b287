#include "sllm/tokenizer/token_file.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "chunking.h"
#include "sllm/common/error.h"

namespace sllm {

namespace fs = std::filesystem;

namespace {

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t bytes_per_token;
  uint64_t count;
  uint32_t vocab_size;
  uint32_t reserved;
};
static_assert(sizeof(Header) == kTokenFileHeaderBytes);

}  // namespace

void write_token_file(const std::string& path, std::span<const int32_t> tokens,
                      int32_t vocab_size) {
  if (vocab_size <= 0)
    fail("write_token_file {}: vocab size {} must be positive", path, vocab_size);
  Header h{};
  std::memcpy(h.magic, kTokenFileMagic, 8);
  h.version = kTokenFileVersion;
  h.bytes_per_token = vocab_size <= 65536 ? 2 : 4;
  h.count = tokens.size();
  h.vocab_size = static_cast<uint32_t>(vocab_size);
  AtomicFile f(path);
  f.write(&h, sizeof h);
  constexpr size_t kBlock = 1 << 16;
  std::vector<uint16_t> b16;
  std::vector<uint32_t> b32;
  for (size_t i = 0; i < tokens.size(); i += kBlock) {
    size_t n = std::min(kBlock, tokens.size() - i);
    for (size_t j = 0; j < n; ++j)
      if (tokens[i + j] < 0 || tokens[i + j] >= vocab_size)
        fail("write_token_file {}: token {} at position {} is outside the vocabulary (size {})",
             path, tokens[i + j], i + j, vocab_size);
    if (h.bytes_per_token == 2) {
      b16.assign(tokens.begin() + i, tokens.begin() + i + n);
      f.write(b16.data(), n * 2);
    } else {
      b32.assign(tokens.begin() + i, tokens.begin() + i + n);
      f.write(b32.data(), n * 4);
    }
  }
  f.commit();
}

TokenFile::TokenFile(const std::string& path) : map_(path), name_(path) {
  init(map_.data(), map_.size());
}

TokenFile::TokenFile(const uint8_t* data, size_t size, std::string name) : name_(std::move(name)) {
  if (reinterpret_cast<uintptr_t>(data) % 4 != 0)
    fail("token file {}: buffer is not 4-byte aligned", name_);
  init(data, size);
}

void TokenFile::init(const uint8_t* data, size_t size) {
  const std::string& path = name_;
  if (size < kTokenFileHeaderBytes)
    fail("token file {}: {} bytes is too small for the {}-byte header", path, size,
         kTokenFileHeaderBytes);
  Header h;
  std::memcpy(&h, data, sizeof h);
  if (std::memcmp(h.magic, kTokenFileMagic, 8) != 0)
    fail("token file {}: bad magic (not an sllm token file; expected \"SLLMTOKS\")", path);
  if (h.version != kTokenFileVersion)
    fail("token file {}: version {} is not supported (this build reads version {})", path,
         h.version, kTokenFileVersion);
  if (h.bytes_per_token != 2 && h.bytes_per_token != 4)
    fail("token file {}: {} bytes per token is not supported (2 or 4)", path, h.bytes_per_token);
  if (h.vocab_size == 0 || h.vocab_size > (1u << 31) - 1 ||
      (h.bytes_per_token == 2 && h.vocab_size > 65536))
    fail("token file {}: vocab size {} does not fit {}-byte tokens", path, h.vocab_size,
         h.bytes_per_token);
  size_t payload = size - kTokenFileHeaderBytes;
  if (h.count > payload / h.bytes_per_token || h.count * h.bytes_per_token != payload)
    fail(
        "token file {}: header says {} tokens of {} bytes ({} bytes with the header) but the file "
        "has {} bytes{}",
        path, h.count, h.bytes_per_token, kTokenFileHeaderBytes + h.count * h.bytes_per_token, size,
        h.count * h.bytes_per_token > payload ? " (truncated?)" : "");
  count_ = h.count;
  vocab_size_ = static_cast<int32_t>(h.vocab_size);
  bytes_per_token_ = static_cast<int>(h.bytes_per_token);
  const uint8_t* base = data + kTokenFileHeaderBytes;
  if (bytes_per_token_ == 2)
    u16_ = reinterpret_cast<const uint16_t*>(base);
  else
    u32_ = reinterpret_cast<const uint32_t*>(base);
  for (size_t i = 0; i < count_; ++i)
    if ((*this)[i] >= vocab_size_ || (*this)[i] < 0)
      fail("token file {}: token {} at position {} is outside the vocabulary (size {})", path,
           (*this)[i], i, vocab_size_);
}

void TokenFile::read(size_t offset, size_t n, int32_t* out) const {
  if (offset > count_ || n > count_ - offset)
    fail("token file {}: read of {} tokens at {} is past the end ({} tokens)", path(), n, offset,
         count_);
  if (bytes_per_token_ == 2)
    for (size_t i = 0; i < n; ++i) out[i] = u16_[offset + i];
  else
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<int32_t>(u32_[offset + i]);
}

std::vector<int32_t> TokenFile::read(size_t offset, size_t n) const {
  std::vector<int32_t> v(n);
  read(offset, n, v.data());
  return v;
}

std::vector<std::string> list_text_files(const std::string& input) {
  std::error_code ec;
  auto st = fs::status(input, ec);
  if (ec || !fs::exists(st)) fail("input {} does not exist", input);
  std::vector<std::string> files;
  if (fs::is_regular_file(st)) {
    files.push_back(input);
  } else if (fs::is_directory(st)) {
    for (auto it = fs::recursive_directory_iterator(
             input, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const auto name = it->path().filename().string();
      if (!name.empty() && name[0] == '.') {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file()) files.push_back(it->path().string());
    }
    if (ec) fail("cannot list folder {}: {}", input, ec.message());
    std::sort(files.begin(), files.end());
  } else {
    fail("input {} is neither a file nor a folder", input);
  }
  if (files.empty()) fail("input folder {} holds no files", input);
  return files;
}

TokenizeStats tokenize_to_token_file(const Tokenizer& tokenizer, const std::string& input,
                                     const std::string& out_path, const TokenizeOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  const int32_t separator = options.separator == -2 ? tokenizer.eos_id() : options.separator;
  if (separator >= tokenizer.vocab_size())
    fail("separator token {} is outside the vocabulary (size {})", separator,
         tokenizer.vocab_size());
  const int threads = resolve_threads(options.threads);
  auto files = list_text_files(input);

  std::vector<MappedFile> maps;
  struct Piece {
    size_t file, begin, end;
  };
  std::vector<Piece> pieces;
  TokenizeStats stats;
  constexpr size_t kChunk = 1 << 20;
  for (size_t f = 0; f < files.size(); ++f) {
    maps.emplace_back(files[f]);
    std::string_view text(reinterpret_cast<const char*>(maps.back().data()), maps.back().size());
    stats.bytes += text.size();
    auto points = split_points(tokenizer, text, kChunk, options.allow_special);
    for (size_t i = 0; i + 1 < points.size(); ++i)
      if (points[i + 1] > points[i]) pieces.push_back({f, points[i], points[i + 1]});
  }
  stats.files = files.size();

  std::vector<std::vector<int32_t>> encoded(pieces.size());
  std::mutex progress_mu;
  size_t done_bytes = 0;
  parallel_for(pieces.size(), threads, [&](size_t i) {
    const Piece& p = pieces[i];
    std::string_view text(reinterpret_cast<const char*>(maps[p.file].data()) + p.begin,
                          p.end - p.begin);
    try {
      encoded[i] = tokenizer.encode(text, options.allow_special);
    } catch (const Error& e) {
      fail("{} (bytes {}..{}): {}", files[p.file], p.begin, p.end, e.what());
    }
    if (options.progress) {
      std::lock_guard<std::mutex> lock(progress_mu);
      done_bytes += text.size();
      options.progress(done_bytes, stats.bytes);
    }
  });

  std::vector<int32_t> all;
  size_t total = 0;
  for (const auto& e : encoded) total += e.size();
  all.reserve(total + (separator >= 0 ? files.size() : 0));
  for (size_t i = 0; i < pieces.size(); ++i) {
    all.insert(all.end(), encoded[i].begin(), encoded[i].end());
    std::vector<int32_t>().swap(encoded[i]);
    bool last_of_file = i + 1 == pieces.size() || pieces[i + 1].file != pieces[i].file;
    if (last_of_file && separator >= 0) all.push_back(separator);
  }
  write_token_file(out_path, all, tokenizer.vocab_size());
  stats.tokens = all.size();
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stats;
}

}  // namespace sllm
