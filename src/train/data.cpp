#include "sllm/train/data.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/train/checksum.h"

namespace sllm {

using nlohmann::json;

namespace {

// "  12 And God said..." -> "And God said..."; other lines (book and chapter titles) stay.
std::string strip_verse_number(const std::string& line) {
  size_t i = 0;
  while (i < line.size() && line[i] == ' ') ++i;
  const size_t digits = i;
  while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
  if (i > digits && i < line.size() && line[i] == ' ') return line.substr(i + 1);
  return line;
}

std::string run_bible() {
  std::FILE* p = ::popen("bible -l0 Gen1:1-Rev22:21 2>/dev/null", "r");
  if (!p) fail("cannot run `bible` for the default corpus: {}", std::strerror(errno));
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  if (status != 0 || out.size() < 1'000'000)
    fail(
        "no --data given, and the default corpus (the King James Bible) needs the `bible` program "
        "from "
        "the Debian package bible-kjv (`bible -l0 Gen1:1-Rev22:21` {}): install it "
        "(./scripts/setup or "
        "apt-get install bible-kjv) or pass --data PATH",
        WIFEXITED(status) && WEXITSTATUS(status) == 127 ? "was not found" : "failed");
  return out;
}

}  // namespace

void write_default_corpus(const std::string& path) {
  if (file_exists(path)) return;
  const std::string raw = run_bible();
  std::string text;
  text.reserve(raw.size());
  size_t pos = 0;
  // Skip the blank line `bible` prints before the first heading.
  while (pos < raw.size() && raw[pos] == '\n') ++pos;
  while (pos < raw.size()) {
    size_t e = raw.find('\n', pos);
    if (e == std::string::npos) e = raw.size();
    text += strip_verse_number(raw.substr(pos, e - pos));
    text += '\n';
    pos = e + 1;
  }
  make_dirs(std::filesystem::path(path).parent_path().string());
  write_file_atomic(path, text);
}

std::vector<std::string> check_corpus(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    fail("corpus {} cannot be read: {}", path, std::strerror(errno));
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
    fail("corpus {} is neither a file nor a folder", path);
  std::vector<std::string> files;
  try {
    files = list_text_files(path);
  } catch (const Error& e) {
    fail("corpus {} holds no text files ({})", path, e.what());
  }
  size_t bytes = 0;
  for (const auto& f : files) {
    if (::access(f.c_str(), R_OK) != 0)
      fail("corpus file {} cannot be read: {}", f, std::strerror(errno));
    struct stat fs {};
    if (::stat(f.c_str(), &fs) == 0) bytes += static_cast<size_t>(fs.st_size);
  }
  if (bytes == 0)
    fail("corpus {} is empty ({} file{}, 0 bytes): nothing to train on", path, files.size(),
         files.size() == 1 ? "" : "s");
  return files;
}

std::unique_ptr<Tokenizer> make_tokenizer(const std::string& spec, const std::string& corpus) {
  std::string text;
  if (spec == "char")
    for (const auto& f : check_corpus(corpus)) text += read_file(f);
  return resolve_tokenizer(spec, text);
}

std::shared_ptr<const TokenFile> cached_token_file(const Tokenizer& tok, const std::string& corpus,
                                                   const std::string& cache_dir, int threads) {
  make_dirs(cache_dir);
  const std::string tokens_path = cache_dir + "/tokens.bin", key_path = cache_dir + "/tokens.json";
  const std::string tok_path = cache_dir + "/tokenizer.sllmtok";
  tok.save(tok_path);
  json key;
  key["tokenizer_xxh64"] = file_checksum_hex(tok_path);
  key["corpus"] = corpus;
  json files = json::array();
  for (const auto& f : check_corpus(corpus)) {
    struct stat st {};
    ::stat(f.c_str(), &st);
    files.push_back({{"path", std::filesystem::absolute(f).string()},
                     {"size", static_cast<int64_t>(st.st_size)},
                     {"mtime_ns", static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                                      st.st_mtim.tv_nsec}});
  }
  key["files"] = files;
  if (file_exists(key_path) && file_exists(tokens_path)) {
    json old = json::parse(read_file(key_path), nullptr, false);
    if (!old.is_discarded() && old.value("key", json()) == key) {
      try {
        auto tf = std::make_shared<const TokenFile>(tokens_path);
        if (tf->size() == old.value("tokens", size_t{0})) return tf;
      } catch (const Error&) {
        // A damaged cache is rebuilt below.
      }
    }
  }
  TokenizeOptions opt;
  opt.threads = threads;
  const TokenizeStats stats = tokenize_to_token_file(tok, corpus, tokens_path, opt);
  if (stats.tokens == 0) fail("corpus {} gave no tokens: nothing to train on", corpus);
  write_file_atomic(key_path, json{{"key", key}, {"tokens", stats.tokens}}.dump(1) + "\n");
  return std::make_shared<const TokenFile>(tokens_path);
}

DataSplit split_tokens(size_t n, double val_fraction, int block_size) {
  if (!(val_fraction > 0.0 && val_fraction < 1.0))
    fail("validation fraction {} must be in (0, 1)", val_fraction);
  const size_t n_train = static_cast<size_t>(static_cast<double>(n) * (1.0 - val_fraction));
  DataSplit s{{0, n_train}, {n_train, n}};
  const size_t need = static_cast<size_t>(block_size) + 1;
  if (s.train.size() < need || s.val.size() < need)
    fail(
        "the corpus has {} tokens: too few for block size {} (the train part ({} tokens) and the "
        "validation "
        "part ({} tokens, the last {:g}%) each need at least {}); use more text or a smaller "
        "--block-size",
        n, block_size, s.train.size(), s.val.size(), val_fraction * 100, need);
  return s;
}

RandomWindows::RandomWindows(std::shared_ptr<const TokenFile> tokens, TokenRange range, int B,
                             int T, Rng rng)
    : tokens_(std::move(tokens)),
      range_(range),
      B_(B),
      T_(T),
      start_state_(rng.state()),
      rng_(rng) {
  if (B < 1 || T < 1) fail("batch size {} and block size {} must be >= 1", B, T);
  if (range.end > tokens_->size() || range.size() < static_cast<size_t>(T) + 1)
    fail("token range [{}, {}) of {} ({} tokens) is too short for windows of {} tokens",
         range.begin, range.end, tokens_->path(), tokens_->size(), T + 1);
  window_.resize(static_cast<size_t>(T) + 1);
}

void RandomWindows::next(Batch& out) {
  out.B = B_;
  out.T = T_;
  const size_t BT = static_cast<size_t>(B_) * T_;
  out.tokens.resize(BT);
  out.targets.resize(BT);
  const uint64_t starts = range_.size() - static_cast<size_t>(T_);
  for (int b = 0; b < B_; ++b) {
    const size_t at = range_.begin + rng_.below(starts);
    ++drawn_;
    tokens_->read(at, window_.size(), window_.data());
    std::memcpy(out.tokens.data() + static_cast<size_t>(b) * T_, window_.data(),
                sizeof(int32_t) * T_);
    std::memcpy(out.targets.data() + static_cast<size_t>(b) * T_, window_.data() + 1,
                sizeof(int32_t) * T_);
  }
}

ConsecutiveWindows::ConsecutiveWindows(std::shared_ptr<const TokenFile> tokens, TokenRange range,
                                       int B, int T)
    : tokens_(std::move(tokens)), range_(range), B_(B), T_(T) {
  if (B < 1 || T < 1) fail("batch size {} and block size {} must be >= 1", B, T);
  if (range.end > tokens_->size() || range.size() < static_cast<size_t>(T) + 1)
    fail("token range [{}, {}) of {} ({} tokens) is too short for windows of {} tokens",
         range.begin, range.end, tokens_->path(), tokens_->size(), T + 1);
  windows_ = (range.size() - 1) / static_cast<size_t>(T);
}

int ConsecutiveWindows::num_batches() const {
  return static_cast<int>((windows_ + static_cast<size_t>(B_) - 1) / static_cast<size_t>(B_));
}

void ConsecutiveWindows::batch(int i, Batch& out) const {
  const size_t first = static_cast<size_t>(i) * B_;
  if (i < 0 || first >= windows_)
    fail("validation batch {} is out of range ({} batches)", i, num_batches());
  out.B = static_cast<int>(std::min<size_t>(B_, windows_ - first));
  out.T = T_;
  const size_t BT = static_cast<size_t>(out.B) * T_;
  out.tokens.resize(BT);
  out.targets.resize(BT);
  std::vector<int32_t> window(static_cast<size_t>(T_) + 1);
  for (int b = 0; b < out.B; ++b) {
    tokens_->read(range_.begin + (first + b) * T_, window.size(), window.data());
    std::memcpy(out.tokens.data() + static_cast<size_t>(b) * T_, window.data(),
                sizeof(int32_t) * T_);
    std::memcpy(out.targets.data() + static_cast<size_t>(b) * T_, window.data() + 1,
                sizeof(int32_t) * T_);
  }
}

namespace {
std::string hex64(uint64_t v) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(v));
  return hex;
}
}  // namespace

json RandomWindows::state() const {
  return {{"windows", drawn_}, {"stream", hex64(start_state_)}, {"rng", hex64(rng_.state())}};
}

void RandomWindows::restore(const json& state) {
  if (!state.is_object() || !state.contains("windows") || !state["windows"].is_number_unsigned())
    fail("data position must be an object with an unsigned 'windows' count, got {}", state.dump());
  const uint64_t n = state["windows"].get<uint64_t>();
  Rng r(start_state_);
  r.skip(n);
  // The saved generator state double-checks the position when the state comes from this same
  // stream (another data-parallel rank has its own stream and only shares the count).
  if (state.value("stream", std::string()) == hex64(start_state_) &&
      state.value("rng", std::string()) != hex64(r.state()))
    fail(
        "data position is inconsistent: {} windows drawn give generator state {}, the checkpoint "
        "says {}",
        n, hex64(r.state()), state.value("rng", std::string()));
  rng_ = r;
  drawn_ = n;
}

}  // namespace sllm
