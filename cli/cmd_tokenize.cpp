// sllm tokenize: train a BPE vocabulary, encode/decode/count text, inspect tokenizer and token
// files. The work lives in src/tokenizer; this file parses flags and prints.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "command.h"
#include "sllm/common/error.h"
#include "sllm/common/runtime.h"
#include "sllm/io/file.h"
#include "sllm/tokenizer/bpe.h"
#include "sllm/tokenizer/bpe_trainer.h"
#include "sllm/tokenizer/loaders.h"
#include "sllm/tokenizer/token_file.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// All the text of a file or folder, for --tokenizer char and the single-text commands.
std::string read_inputs(const std::string& input) {
  std::string all;
  for (const auto& f : sllm::list_text_files(input)) all += sllm::read_file(f);
  return all;
}

std::string shown(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c == 0x7F)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

int cmd_train(const std::string& input, const std::string& out, sllm::BpeTrainOptions& o) {
  auto t0 = Clock::now();
  o.progress = [&](int32_t done, int32_t total) {
    std::fprintf(stderr, "\rmerges %d/%d", done, total);
    if (done == total) std::fprintf(stderr, "\n");
  };
  sllm::BpeTrainStats st;
  auto tok = sllm::train_bpe_on_files(input, o, &st);
  std::fprintf(stderr, "\n");
  tok->save(out);
  std::printf("trained %s: vocab %d (%d merges) on %.1f MB, %zu pre-tokens (%zu distinct)\n",
              out.c_str(), tok->vocab_size(), st.merges, st.bytes / 1e6, st.pretokens,
              st.unique_pretokens);
  std::printf("time %.2f s (counting %.2f s, merging %.2f s), peak RSS %.0f MB\n",
              seconds_since(t0), st.count_seconds, st.merge_seconds, sllm::peak_rss_bytes() / 1e6);
  return 0;
}

// --text '' is a text (it encodes to no tokens): what counts is whether --text was given.
int cmd_encode(const std::string& spec, const std::string& input, const std::string& text,
               bool has_text, const std::string& out, int threads, bool no_special) {
  if (input.empty() == !has_text) sllm::fail("give exactly one of --input and --text");
  if (!out.empty()) {
    if (input.empty()) sllm::fail("--out needs --input (a file or folder)");
    auto tok = sllm::resolve_tokenizer(spec, spec == "char" ? read_inputs(input) : std::string());
    sllm::TokenizeOptions o;
    o.threads = threads;
    o.allow_special = !no_special;
    auto st = sllm::tokenize_to_token_file(*tok, input, out, o);
    std::printf("wrote %s: %zu tokens from %zu files (%.1f MB) in %.2f s (%.1f MB/s), vocab %d\n",
                out.c_str(), st.tokens, st.files, st.bytes / 1e6, st.seconds,
                st.bytes / 1e6 / std::max(st.seconds, 1e-9), tok->vocab_size());
    return 0;
  }
  std::string data = input.empty() ? text : read_inputs(input);
  auto tok = sllm::resolve_tokenizer(spec, data);
  auto ids = sllm::encode_parallel(*tok, data, threads, !no_special);
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ' ';
    line += std::to_string(ids[i]);
  }
  std::printf("%s\n", line.c_str());
  return 0;
}

int cmd_decode(const std::string& spec, const std::string& ids_text, const std::string& input) {
  if (ids_text.empty() == input.empty())
    sllm::fail("give exactly one of --ids and --input (a token file)");
  if (spec == "char")
    sllm::fail("decode needs a saved tokenizer: --tokenizer char builds one from a corpus");
  auto tok = sllm::resolve_tokenizer(spec, "");
  std::vector<int32_t> ids;
  if (!input.empty()) {
    sllm::TokenFile f(input);
    if (f.vocab_size() > tok->vocab_size())
      sllm::fail("{}: token file vocab size {} is larger than the tokenizer's {}", input,
                 f.vocab_size(), tok->vocab_size());
    ids = f.read(0, f.size());
  } else {
    std::istringstream in(ids_text);
    std::string word;
    while (in >> word) {
      char* end = nullptr;
      long v = std::strtol(word.c_str(), &end, 10);
      if (*end != '\0' || word.empty()) sllm::fail("--ids: '{}' is not an integer", word);
      ids.push_back(static_cast<int32_t>(v));
    }
  }
  std::string s = tok->decode(ids);
  std::fwrite(s.data(), 1, s.size(), stdout);
  if (!input.empty() || s.empty() || s.back() != '\n') std::printf("\n");
  return 0;
}

int cmd_count(const std::string& spec, const std::string& input, const std::string& text,
              bool has_text, int threads) {
  if (input.empty() == !has_text) sllm::fail("give exactly one of --input and --text");
  std::string data = input.empty() ? text : read_inputs(input);
  auto tok = sllm::resolve_tokenizer(spec, data);
  auto t0 = Clock::now();
  auto ids = sllm::encode_parallel(*tok, data, threads);
  double s = seconds_since(t0);
  std::printf("%zu tokens, %zu bytes, %.3f bytes/token (%s, vocab %d), %.3f s, %.1f MB/s\n",
              ids.size(), data.size(),
              ids.empty() ? 0.0 : static_cast<double>(data.size()) / ids.size(),
              tok->name().c_str(), tok->vocab_size(), s, data.size() / 1e6 / std::max(s, 1e-9));
  return 0;
}

int cmd_inspect(const std::string& path, int show) {
  sllm::MappedFile f(path);
  if (f.size() >= 8 && std::memcmp(f.data(), sllm::kTokenFileMagic, 8) == 0) {
    sllm::TokenFile t(path);
    std::printf("token file %s\n  tokens: %zu\n  bytes per token: %d\n  vocab size: %d\n  first:",
                path.c_str(), t.size(), t.bytes_per_token(), t.vocab_size());
    for (size_t i = 0; i < std::min<size_t>(t.size(), show); ++i) std::printf(" %d", t[i]);
    std::printf("\n");
    return 0;
  }
  auto tok = sllm::open_tokenizer(path);
  std::printf(
      "tokenizer %s\n  kind: %s\n  name: %s\n  vocab size: %d\n  bos id: %d\n  eos id: %d\n",
      path.c_str(), tok->kind().c_str(), tok->name().c_str(), tok->vocab_size(), tok->bos_id(),
      tok->eos_id());
  if (auto* bpe = dynamic_cast<const sllm::BpeTokenizer*>(tok.get())) {
    const auto& sp = bpe->spec();
    const char* order = sp.order == sllm::MergeOrder::Merges  ? "merge list"
                        : sp.order == sllm::MergeOrder::Ranks ? "ranks"
                                                              : "scores";
    std::printf("  merge order: %s%s\n", order,
                sp.order == sllm::MergeOrder::Merges
                    ? fmt::format(" ({} merges)", sp.merges.size()).c_str()
                    : "");
    std::printf("  pre-tokenizer: %s\n", sp.pattern.empty() ? "(none)" : sp.pattern.c_str());
    if (sp.sentencepiece)
      std::printf("  sentencepiece: add space prefix %s\n", sp.add_space_prefix ? "yes" : "no");
  }
  std::printf("  special tokens (%zu):", tok->special_tokens().size());
  for (size_t i = 0; i < tok->special_tokens().size() && i < 16; ++i)
    std::printf(" %s=%d", tok->special_tokens()[i].text.c_str(), tok->special_tokens()[i].id);
  std::printf("\n");
  int32_t n = tok->vocab_size();
  auto print_range = [&](int32_t from, int32_t to) {
    for (int32_t i = from; i < to; ++i) {
      try {
        std::printf("  %7d  '%s'\n", i, shown(tok->token_bytes(i)).c_str());
      } catch (const sllm::Error&) {
        std::printf("  %7d  (unused)\n", i);
      }
    }
  };
  if (show > 0) {
    std::printf("  first tokens:\n");
    print_range(0, std::min(n, show));
    std::printf("  last tokens:\n");
    print_range(std::max(std::min(n, show), n - show), n);
  }
  return 0;
}

int run_tokenize(int argc, char** argv) {
  CLI::App app{
      "Train, use and inspect tokenizers. SPEC is char, byte or a tokenizer path "
      "(.sllmtok, GGUF, .tiktoken, vocab.json + merges.txt, a model folder)."};
  app.require_subcommand(1);
  int threads = 0;

  auto* train =
      app.add_subcommand("train", "train a byte-level BPE vocabulary on a file or folder");
  std::string train_input, train_out;
  sllm::BpeTrainOptions topt;
  train->add_option("--input", train_input, "text file or folder")->required();
  train->add_option("--out", train_out, "tokenizer file to write (.sllmtok)")->required();
  train->add_option("--vocab-size", topt.vocab_size, "vocabulary size, bytes and specials included")
      ->capture_default_str();
  train->add_option("--special", topt.specials, "special tokens (repeatable)")
      ->capture_default_str();
  train
      ->add_option("--pattern", topt.pattern, "pre-tokenizer: gpt2, cl100k, o200k or a PCRE2 regex")
      ->capture_default_str();
  train->add_option("--min-frequency", topt.min_frequency, "stop at pairs rarer than this")
      ->capture_default_str();
  train->add_option("--name", topt.name, "name stored in the file")->capture_default_str();
  train->add_option("--threads", topt.threads, "counting threads (0: all cores)")
      ->capture_default_str();

  auto* encode =
      app.add_subcommand("encode", "encode text to ids, or a file/folder to a token file");
  std::string spec = "byte", input, text, out, ids;
  bool no_special = false;
  encode->add_option("--tokenizer", spec, "char, byte or a tokenizer path")->capture_default_str();
  encode->add_option("--input", input, "text file or folder");
  auto* encode_text = encode->add_option("--text", text, "text to encode");
  encode->add_option("--out", out, "write a token file (multi-threaded) instead of printing ids");
  encode->add_option("--threads", threads, "threads (0: all cores)")->capture_default_str();
  encode->add_flag("--no-special", no_special, "read special-token text as plain text");

  auto* decode = app.add_subcommand("decode", "decode ids or a token file to text");
  decode->add_option("--tokenizer", spec, "a tokenizer path, or byte")->required();
  decode->add_option("--ids", ids, "token ids separated by spaces");
  decode->add_option("--input", input, "a token file");

  auto* count = app.add_subcommand("count", "count the tokens of a text, file or folder");
  count->add_option("--tokenizer", spec, "char, byte or a tokenizer path")->required();
  count->add_option("--input", input, "text file or folder");
  auto* count_text = count->add_option("--text", text, "text");
  count->add_option("--threads", threads, "threads (0: all cores)")->capture_default_str();

  auto* inspect = app.add_subcommand("inspect", "describe a tokenizer or token file");
  std::string path;
  int show = 10;
  inspect->add_option("path", path, "tokenizer or token file")->required();
  inspect->add_option("--show", show, "tokens to list from each end")->capture_default_str();

  auto* convert = app.add_subcommand("convert", "save any readable tokenizer as .sllmtok");
  convert->add_option("--tokenizer", spec, "a tokenizer path")->required();
  convert->add_option("--out", out, "the .sllmtok file to write")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (train->parsed()) return cmd_train(train_input, train_out, topt);
  if (encode->parsed())
    return cmd_encode(spec, input, text, encode_text->count() > 0, out, threads, no_special);
  if (decode->parsed()) return cmd_decode(spec, ids, input);
  if (count->parsed()) return cmd_count(spec, input, text, count_text->count() > 0, threads);
  if (inspect->parsed()) return cmd_inspect(path, show);
  if (convert->parsed()) {
    auto tok = sllm::resolve_tokenizer(spec, "");
    tok->save(out);
    std::printf("wrote %s (%s, vocab %d)\n", out.c_str(), tok->name().c_str(), tok->vocab_size());
    return 0;
  }
  return 2;
}

sllm::cli::Registrar reg("tokenize", "train, encode, decode, count and inspect tokenizers",
                         run_tokenize);

}  // namespace
