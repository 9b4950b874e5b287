#include "sllm/tokenizer/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include "sllm/common/error.h"
#include "sllm/tokenizer/loaders.h"
#include "utf8.h"

namespace sllm {

void Tokenizer::encode_append(std::string_view text, std::vector<int32_t>& out,
                              bool allow_special) const {
  if (!allow_special || specials_.empty())
    encode_ordinary(text, out);
  else
    encode_text(text, out);
}

void Tokenizer::encode_text(std::string_view text, std::vector<int32_t>& out) const {
  // Next occurrence of every special token; the earliest (longest on ties) wins.
  std::vector<size_t> next(specials_.size());
  for (size_t i = 0; i < specials_.size(); ++i) next[i] = text.find(specials_[i].text);
  size_t pos = 0;
  while (true) {
    size_t best = std::string_view::npos, best_i = 0;
    for (size_t i = 0; i < specials_.size(); ++i) {
      if (next[i] < pos) next[i] = text.find(specials_[i].text, pos);
      if (next[i] < best ||
          (next[i] == best && specials_[i].text.size() > specials_[best_i].text.size())) {
        best = next[i];
        best_i = i;
      }
    }
    if (best == std::string_view::npos) break;
    if (best > pos) encode_ordinary(text.substr(pos, best - pos), out);
    out.push_back(specials_[best_i].id);
    pos = best + specials_[best_i].text.size();
  }
  if (pos < text.size()) encode_ordinary(text.substr(pos), out);
}

std::vector<int32_t> encode_prompt(const Tokenizer& tok, std::string_view text, bool add_bos) {
  std::vector<int32_t> ids;
  const int32_t bos = tok.bos_id();
  if (bos >= 0 && text.starts_with(tok.token_bytes(bos))) {
    tok.encode_append(text, ids);
    return ids;
  }
  if (tok.encode_with_post_processor(text, ids)) return ids;
  if (add_bos && bos >= 0) ids.push_back(bos);
  tok.encode_append(text, ids);
  return ids;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool allow_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  encode_append(text, out, allow_special);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) out += token_bytes(id);
  if (drops_leading_space() && !ids.empty() && !is_special(ids[0]) && !out.empty() && out[0] == ' ')
    out.erase(0, 1);
  return out;
}

int32_t Tokenizer::special_id(std::string_view text) const {
  for (const auto& s : specials_)
    if (s.text == text) return s.id;
  return -1;
}

bool Tokenizer::is_special(int32_t id) const {
  for (const auto& s : specials_)
    if (s.id == id) return true;
  return false;
}

void Tokenizer::check_id(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    fail("token id {} is out of range for tokenizer '{}' (vocab size {})", id, name_, vocab_size());
}

void Tokenizer::set_bos_eos(int32_t bos, int32_t eos) {
  if (bos != -1) check_id(bos);
  if (eos != -1) check_id(eos);
  bos_id_ = bos;
  eos_id_ = eos;
}

void Tokenizer::set_special_tokens(std::vector<SpecialToken> specials) {
  std::unordered_map<std::string_view, int32_t> seen;  // Gemma has thousands of specials
  for (size_t i = 0; i < specials.size(); ++i) {
    if (specials[i].text.empty())
      fail("tokenizer '{}': special token {} has empty text", name_, specials[i].id);
    check_id(specials[i].id);
    auto [it, fresh] = seen.emplace(specials[i].text, specials[i].id);
    if (!fresh)
      fail("tokenizer '{}': duplicate special token '{}' (ids {} and {})", name_, specials[i].text,
           it->second, specials[i].id);
  }
  specials_ = std::move(specials);
  static const char* kBos[] = {"<s>", "<|begin_of_text|>", "<|startoftext|>", "<bos>", "[BOS]"};
  static const char* kEos[] = {"</s>", "<|endoftext|>", "<|end_of_text|>", "<eos>", "[EOS]"};
  bos_id_ = eos_id_ = -1;
  for (const char* b : kBos)
    if (bos_id_ < 0) bos_id_ = special_id(b);
  for (const char* e : kEos)
    if (eos_id_ < 0) eos_id_ = special_id(e);
}

// ---- CharTokenizer ----

CharTokenizer::CharTokenizer(std::vector<std::string> chars, std::vector<std::string> specials)
    : chars_(std::move(chars)), ascii_(128, -1) {
  set_name("char");
  for (size_t i = 0; i < chars_.size(); ++i) {
    const auto& c = chars_[i];
    uint32_t cp = 0;
    if (c.empty() || utf8::decode(reinterpret_cast<const uint8_t*>(c.data()), c.size(), &cp) !=
                         static_cast<int>(c.size()))
      fail("char tokenizer: token {} is not exactly one UTF-8 character", i);
    by_codepoint_.push_back({cp, static_cast<int32_t>(i)});
    if (cp < 128) ascii_[cp] = static_cast<int32_t>(i);
  }
  std::sort(by_codepoint_.begin(), by_codepoint_.end());
  for (size_t i = 1; i < by_codepoint_.size(); ++i)
    if (by_codepoint_[i].first == by_codepoint_[i - 1].first)
      fail("char tokenizer: duplicate character U+{:04X} (ids {} and {})", by_codepoint_[i].first,
           by_codepoint_[i - 1].second, by_codepoint_[i].second);
  std::vector<SpecialToken> sp;
  for (auto& s : specials) {
    sp.push_back({s, static_cast<int32_t>(chars_.size())});
    chars_.push_back(std::move(s));
  }
  set_special_tokens(std::move(sp));
}

std::unique_ptr<CharTokenizer> CharTokenizer::from_corpus(std::string_view corpus,
                                                          std::vector<std::string> specials) {
  std::vector<bool> seen_ascii(128, false);
  std::vector<uint32_t> cps;
  const auto* p = reinterpret_cast<const uint8_t*>(corpus.data());
  for (size_t i = 0; i < corpus.size();) {
    if (p[i] < 0x80) {
      seen_ascii[p[i]] = true;
      ++i;
      continue;
    }
    uint32_t cp;
    int len = utf8::decode(p + i, corpus.size() - i, &cp);
    if (len == 0)
      fail("char tokenizer: corpus has invalid UTF-8 at byte offset {} (byte 0x{:02X})", i, p[i]);
    cps.push_back(cp);
    i += len;
  }
  for (uint32_t c = 0; c < 128; ++c)
    if (seen_ascii[c]) cps.push_back(c);
  std::sort(cps.begin(), cps.end());
  cps.erase(std::unique(cps.begin(), cps.end()), cps.end());
  if (cps.empty()) fail("char tokenizer: the corpus is empty");
  std::vector<std::string> chars;
  for (uint32_t cp : cps) chars.push_back(utf8::encode(cp));
  return std::make_unique<CharTokenizer>(std::move(chars), std::move(specials));
}

int32_t CharTokenizer::vocab_size() const {
  return static_cast<int32_t>(chars_.size());
}

std::string_view CharTokenizer::token_bytes(int32_t id) const {
  check_id(id);
  return chars_[id];
}

bool CharTokenizer::is_safe_split(std::string_view text, size_t p) const {
  return p == 0 || p >= text.size() || (static_cast<uint8_t>(text[p]) & 0xC0) != 0x80;
}

void CharTokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  for (size_t i = 0; i < text.size();) {
    uint32_t cp;
    int len;
    if (p[i] < 0x80) {
      cp = p[i];
      len = 1;
    } else {
      len = utf8::decode(p + i, text.size() - i, &cp);
      if (len == 0)
        fail("char tokenizer: invalid UTF-8 at byte offset {} (byte 0x{:02X})", i, p[i]);
    }
    int32_t id = cp < 128 ? ascii_[cp] : -1;
    if (cp >= 128) {
      auto it = std::lower_bound(by_codepoint_.begin(), by_codepoint_.end(),
                                 std::pair<uint32_t, int32_t>{cp, -1});
      if (it != by_codepoint_.end() && it->first == cp) id = it->second;
    }
    if (id < 0) {
      std::string shown =
          cp >= 0x20 && cp != 0x7F ? std::string(text.substr(i, len)) : std::string("?");
      fail(
          "char tokenizer: character '{}' (U+{:04X}) at byte offset {} is not in the vocabulary "
          "({} characters); "
          "build the tokenizer from a corpus that contains it or use a byte-level tokenizer",
          shown, cp, i, by_codepoint_.size());
    }
    out.push_back(id);
    i += len;
  }
}

// ---- ByteTokenizer ----

ByteTokenizer::ByteTokenizer(std::vector<std::string> specials) {
  set_name("byte");
  bytes_.resize(256);
  for (int i = 0; i < 256; ++i) bytes_[i] = static_cast<char>(i);
  n_specials_ = static_cast<int32_t>(specials.size());
  std::vector<SpecialToken> sp;
  for (auto& s : specials) sp.push_back({std::move(s), 256 + static_cast<int32_t>(sp.size())});
  set_special_tokens(std::move(sp));
}

std::string_view ByteTokenizer::token_bytes(int32_t id) const {
  check_id(id);
  if (id < 256) return std::string_view(bytes_).substr(id, 1);
  return special_tokens()[id - 256].text;
}

void ByteTokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  size_t n = out.size();
  out.resize(n + text.size());
  for (size_t i = 0; i < text.size(); ++i) out[n + i] = static_cast<uint8_t>(text[i]);
}

// ---- resolve_tokenizer ----

std::unique_ptr<Tokenizer> resolve_tokenizer(const std::string& spec, std::string_view corpus) {
  if (spec == "char") return CharTokenizer::from_corpus(corpus);
  if (spec == "byte")
    return std::make_unique<ByteTokenizer>(std::vector<std::string>{"<|endoftext|>"});
  if (!std::filesystem::exists(spec))
    fail(
        "--tokenizer '{}': expected 'char', 'byte' or the path of a tokenizer file, and no such "
        "file exists",
        spec);
  return open_tokenizer(spec);
}

// ---- TokenStreamDecoder ----

std::string TokenStreamDecoder::push(int32_t id) {
  std::string_view piece = tok_.token_bytes(id);
  if (first_ && tok_.drops_leading_space() && !tok_.is_special(id) && !piece.empty() &&
      piece[0] == ' ')
    piece.remove_prefix(1);
  first_ = false;
  pending_ += piece;
  // Hold back a trailing lead byte whose character may still complete with the next token.
  size_t n = pending_.size(), keep_from = n;
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    auto b = static_cast<uint8_t>(pending_[n - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: look further back
    int len = utf8::sequence_length(b);
    if (len > static_cast<int>(back)) keep_from = n - back;
    break;
  }
  std::string ready = pending_.substr(0, keep_from);
  pending_.erase(0, keep_from);
  return ready;
}

std::string TokenStreamDecoder::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace sllm
