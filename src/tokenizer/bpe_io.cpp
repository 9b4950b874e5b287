// BpeTokenizer in sllm's own file format: header fields merge_order, pattern,
// whole_piece_first, sentencepiece, add_space_prefix, unk_id; extra data = one type byte per
// token, then the merges (u32 count, count x (u32 left, u32 right)) or the scores (f32 per token).
#include "sllm/common/error.h"
#include "sllm/tokenizer/bpe.h"
#include "sllmtok_format.h"

namespace sllm {

namespace {
const char* order_name(MergeOrder o) {
  switch (o) {
    case MergeOrder::Merges:
      return "merges";
    case MergeOrder::Ranks:
      return "ranks";
    case MergeOrder::Scores:
      return "scores";
  }
  return "?";
}
}  // namespace

void BpeTokenizer::save(const std::string& path) const {
  nlohmann::json h = common_header(*this);
  h["merge_order"] = order_name(spec_.order);
  h["pattern"] = spec_.pattern;
  h["whole_piece_first"] = spec_.whole_piece_first;
  h["sentencepiece"] = spec_.sentencepiece;
  h["add_space_prefix"] = spec_.add_space_prefix;
  h["unk_id"] = spec_.unk_id;
  // Written only when they differ from the defaults, so older readers see the same files.
  if (spec_.raw_pieces) h["raw_pieces"] = true;
  if (!spec_.byte_fallback) h["byte_fallback"] = false;
  if (spec_.fuse_unk) h["fuse_unk"] = true;
  std::string extra;
  for (TokenType t : spec_.types) extra += static_cast<char>(t);
  if (spec_.order == MergeOrder::Merges) {
    put_u32(extra, static_cast<uint32_t>(spec_.merges.size()));
    for (auto [a, b] : spec_.merges) {
      put_u32(extra, static_cast<uint32_t>(a));
      put_u32(extra, static_cast<uint32_t>(b));
    }
  } else if (spec_.order == MergeOrder::Scores) {
    for (float s : spec_.scores) put_f32(extra, s);
  }
  write_sllmtok(path, h, spec_.tokens, extra);
}

std::unique_ptr<Tokenizer> bpe_from_sllmtok(const SllmtokContents& c, const std::string& where) {
  const auto& h = c.header;
  auto str = [&](const char* key) {
    if (!h.contains(key) || !h[key].is_string())
      fail("{}: bpe header needs a string '{}'", where, key);
    return h[key].get<std::string>();
  };
  auto boolean = [&](const char* key) {
    if (!h.contains(key) || !h[key].is_boolean())
      fail("{}: bpe header needs a boolean '{}'", where, key);
    return h[key].get<bool>();
  };
  BpeSpec spec;
  spec.name = h.contains("name") && h["name"].is_string() ? h["name"].get<std::string>() : "bpe";
  spec.tokens = c.tokens;
  const size_t n = c.tokens.size();
  std::string order = str("merge_order");
  if (order == "merges")
    spec.order = MergeOrder::Merges;
  else if (order == "ranks")
    spec.order = MergeOrder::Ranks;
  else if (order == "scores")
    spec.order = MergeOrder::Scores;
  else
    fail("{}: unknown merge_order '{}' (merges, ranks or scores)", where, order);
  spec.pattern = str("pattern");
  spec.whole_piece_first = boolean("whole_piece_first");
  spec.sentencepiece = boolean("sentencepiece");
  spec.add_space_prefix = boolean("add_space_prefix");
  auto optional_bool = [&](const char* key, bool dflt) {
    return h.contains(key) ? boolean(key) : dflt;
  };
  spec.raw_pieces = optional_bool("raw_pieces", false);
  spec.byte_fallback = optional_bool("byte_fallback", true);
  spec.fuse_unk = optional_bool("fuse_unk", false);
  if (h.contains("unk_id")) {
    if (!h["unk_id"].is_number_integer()) fail("{}: 'unk_id' must be an integer", where);
    int64_t u = h["unk_id"].get<int64_t>();
    if (u < -1 || u >= static_cast<int64_t>(n))
      fail("{}: unk_id {} is outside the vocabulary", where, u);
    spec.unk_id = static_cast<int32_t>(u);
  }
  spec.specials = header_specials(h, static_cast<int32_t>(n), where);

  ByteReader r(c.extra, where);
  std::string_view types = r.bytes(n, "token types");
  spec.types.resize(n);
  for (size_t i = 0; i < n; ++i) {
    auto t = static_cast<uint8_t>(types[i]);
    if (t < 1 || t > 6) fail("{}: token {} has unknown type {}", where, i, t);
    spec.types[i] = static_cast<TokenType>(t);
  }
  if (spec.order == MergeOrder::Merges) {
    uint32_t m = r.u32("merge count");
    if (m > r.remaining() / 8) fail("{}: truncated merge list ({} merges)", where, m);
    spec.merges.resize(m);
    for (auto& [a, b] : spec.merges) {
      a = r.i32("merge left");
      b = r.i32("merge right");
    }
  } else if (spec.order == MergeOrder::Scores) {
    spec.scores.resize(n);
    for (auto& s : spec.scores) s = r.f32("score");
  }
  if (r.remaining() != 0) fail("{}: {} unexpected bytes after the bpe data", where, r.remaining());
  std::unique_ptr<BpeTokenizer> t;
  try {
    t = std::make_unique<BpeTokenizer>(std::move(spec));
  } catch (const Error& e) {
    fail("{}: {}", where, e.what());
  }
  apply_common_header(*t, h, where);
  return t;
}

}  // namespace sllm
