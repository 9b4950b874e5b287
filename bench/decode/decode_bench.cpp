// bench/decode: prefill (128 tokens) and decode (128 tokens, batch 1) speed of sllm's inference
// engine on the stories15M and stories110M shapes with random weights and a 32,000-token
// vocabulary, in F32, Q8_0 and Q4_0 (and sllm's Q4_1), at 1 and 2 threads. Prints the
// memory-bandwidth bound for decode (weight + KV bytes read per token over the bandwidth) and
// the ratio to llama.cpp.
//
// The llama.cpp numbers: with --peer FILE, the ones llama_cpp_bench measured on this machine
// (bench/decode/run.sh runs both side by side: the same random models, written as GGUF by
// --write-gguf DIR, which llama.cpp loads). Without --peer, llama-bench figures from issue 4's
// reference machine (a different machine, 2 threads only): indicative, not a measurement here.
//
// The bandwidth is measured at each thread count by a read loop over 1 GiB (more than this
// VM's reported 480 MB L3) with 64-byte loads: DRAM bandwidth. A model whose weights stay
// partly in the caches between tokens can go past 100% of that bound: stories15M in every type,
// and on this VM stories110M in Q8_0/Q4_0 (76-131 MB) too; stories110M in F32 (450 MB) cannot.
//
// --types also takes llama.cpp's mixes (q4_k_m, q6_k, ...): each tensor in llama.cpp's type for
// it, written as GGUF and loaded back, so sllm and llama.cpp run the same file.
// usage: decode_bench [--bandwidth GBs] [--shapes 15M,110M] [--types f32,q8_0,q4_0,q4_1]
//                     [--threads 1,2] [--tokens 128] [--kv-type f32|f16] [--peer FILE.json]
//                     [--json OUT.json] [--reps 3]
//        decode_bench --write-gguf DIR [--shapes ...] [--types ...]
//   --write-gguf writes DIR/stories{15M,110M}-{type}.gguf (the exact random weights benchmarked,
//   with a synthetic 32,000-piece SentencePiece vocabulary so that llama.cpp loads them) and
//   DIR/sllm_reference.json: sllm's last-position top logits (f32 model) for a few prompts, for
//   llama_cpp_bench --check.
//        decode_bench --compare-greedy FILE.gguf --dump LLAMA.bin [--max-diff 1e-3]
//   sllm's greedy tokens and logits on FILE (F32 KV cache, from token 1) against llama.cpp's on
//   the same file (llama_cpp_bench --greedy FILE --dump LLAMA.bin): prints the first differing
//   token and the largest logit difference; exit 1 unless every token is equal and every logit
//   within --max-diff. --weights TYPE: sllm stores the matrices in TYPE at load (e.g. f32: the
//   file's k-quants dequantized, to tell their kernels from their blocks).
//   --peer FILE: {"15M/q8_0/2": {"pp": tok/s, "tg": tok/s}, ...} (llama_cpp_bench --json).
//   --reps N: prefill + decode runs per cell, the median reported (more steady on a noisy VM).
//   --kv-type: the KV cache's element type (default f32; f16 is llama.cpp's default).
//   --json OUT: the same cells as {"15M/q8_0/2": {"pp", "tg", "tg_cpu_ms", "bytes_per_token",
//   "bandwidth_gbs", "rss_mb"}, ...} (run.sh's rounds gather them).
#include <immintrin.h>
#include <omp.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "sllm/common/error.h"
#include "sllm/common/runtime.h"
#include "sllm/format/export.h"
#include "sllm/format/quant_mix.h"
#include "sllm/infer/model.h"
#include "sllm/io/file.h"
#include "sllm/model/presets.h"
#include "sllm/quant/gemm_amx.h"
#include "sllm/quant/quant.h"

using namespace sllm;

namespace {

struct Shape {
  const char* name;
  const char* family;  // The preset row (sllm/model/presets.h) the block comes from.
  int dim, layers, heads, kv_heads, head_dim, hidden, ctx, vocab;
};
// The llama2.c stories shapes, and Qwen3-0.6B's real shape (28 layers, GQA 16/8 with head_dim
// 128, qk-norm, tied embeddings, a 151,936-token vocabulary).
constexpr Shape kShapes[] = {{"15M", "llama", 288, 6, 6, 6, 48, 768, 256, 32000},
                             {"110M", "llama", 768, 12, 12, 12, 64, 2048, 1024, 32000},
                             {"qwen3-0.6B", "qwen3", 1024, 28, 16, 8, 128, 3072, 1024, 151936}};

// llama.cpp llama-bench on issue 4's reference machine (NOT this one), 2 threads, median
// tokens/s: {pp128, tg128}. The llama.cpp columns without --peer; in --json's 2-thread cells.
const std::map<std::string, std::pair<double, double>> kIssue4Reference = {
    {"15M/f32", {13900, 667}}, {"15M/q8_0", {13900, 2145}}, {"15M/q4_0", {20800, 2359}},
    {"110M/f32", {1400, 101}}, {"110M/q8_0", {1350, 265}},  {"110M/q4_0", {2130, 434}},
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ',')) out.push_back(x);
  return out;
}

// The shape named `name`, or null after saying so.
const Shape* find_shape(const std::string& name) {
  for (const auto& s : kShapes)
    if (name == s.name) return &s;
  std::fprintf(stderr, "unknown shape %s\n", name.c_str());
  return nullptr;
}

// Random F32 weights for a llama2.c-style model, kept by the ModelFiles.
ModelFiles random_model(const Shape& s) {
  ModelFiles m;
  m.source = std::string("random stories") + s.name;
  m.format = "random";
  ModelConfig& c = m.config;
  apply_preset(c, preset(s.family));
  c.vocab_size = s.vocab;
  c.n_layer = s.layers;
  c.n_head = s.heads;
  c.n_kv_head = s.kv_heads;
  c.n_embd = s.dim;
  if (s.head_dim != s.dim / s.heads) c.head_size = s.head_dim;
  c.intermediate_size = s.hidden;
  c.block_size = s.ctx;
  c.tie_word_embeddings = true;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  for (const auto& p : param_specs(c)) {
    std::vector<uint8_t> bytes(p.numel * 4);
    auto* f = reinterpret_cast<float*>(bytes.data());
    const bool norm = p.name.find("norm") != std::string::npos;
    for (size_t i = 0; i < p.numel; ++i) f[i] = norm ? 1.0f : nd(rng);
    m.tensors[p.name] = WeightTensor{GGMLType::F32, p.shape, m.own(std::move(bytes)), p.numel * 4};
  }
  return m;
}

// A synthetic llama2.c-style (SentencePiece) vocabulary of `n` pieces: <unk>, <s>, </s>, the
// 256 byte pieces <0x00>..<0xFF> (llama.cpp looks up <0x0A> for newline), " " and the printable
// ASCII characters (so that text tokenizes and detokenizes back), then distinct filler pieces
// " t354".. (a space is SentencePiece's "\u2581"), scores falling with the id. The format
// "llama2c" makes sllm build its tokenizer from this vocabulary, so export_gguf writes it as
// tokenizer.ggml.* (model "llama", tokens, scores, token types, bos 1, eos 2).
void add_synthetic_vocab(ModelFiles& m, int n) {
  VocabInfo& v = m.vocab;
  v.model = "llama";
  v.tokens = {"<unk>", "<s>", "</s>"};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    v.tokens.push_back(buf);
  }
  v.tokens.push_back(" ");
  for (char c = '!'; c <= '~'; ++c) v.tokens.push_back(std::string(1, c));
  for (int id = static_cast<int>(v.tokens.size()); id < n; ++id)
    v.tokens.push_back(" t" + std::to_string(id));
  v.scores.resize(v.tokens.size());
  for (size_t i = 0; i < v.scores.size(); ++i) v.scores[i] = -static_cast<float>(i);
  v.bos_id = 1;
  v.eos_id = 2;
  v.add_bos = true;
  m.format = "llama2c";
}

// The prompts of the correctness check: token ids (llama.cpp and sllm get the same ids; no
// tokenizer is involved).
std::vector<std::vector<int32_t>> check_prompts() {
  return {{1}, {1, 400, 1000, 31999}, {1, 259, 5000, 12345, 777, 20000, 3, 42}};
}

// --write-gguf: every (shape, type) as DIR/stories{shape}-{type}.gguf, and sllm's top logits for
// check_prompts() on each shape's f32 model as DIR/sllm_reference.json.
int write_ggufs(const std::string& dir, const std::vector<std::string>& shapes,
                const std::vector<std::string>& types) {
  make_dirs(dir);
  nlohmann::ordered_json ref = nlohmann::ordered_json::object();
  for (const auto& sname : shapes) {
    const Shape* shape = find_shape(sname);
    if (!shape) return 2;
    ModelFiles m = random_model(*shape);
    add_synthetic_vocab(m, m.config.vocab_size);
    for (const auto& tname : types) {
      const std::string path = dir + "/stories" + sname + "-" + tname + ".gguf";
      const ExportReport rep = export_gguf(m, path, parse_quant_mix(tname));
      if (!rep.tokenizer) {
        std::fprintf(stderr, "%s: the vocabulary was not written: %s\n", path.c_str(),
                     rep.note.c_str());
        return 1;
      }
      std::printf("wrote %s: %zu tensors, %.1f MB\n", path.c_str(), rep.tensors, rep.bytes / 1e6);
    }
    if (std::find(types.begin(), types.end(), "f32") == types.end()) continue;
    LoadOptions lo;
    lo.weight_type = GGMLType::F32;
    InferenceModel model(std::move(m), lo);  // The weights just written (the vocab is unused).
    nlohmann::ordered_json cases = nlohmann::ordered_json::array();
    for (const auto& prompt : check_prompts()) {
      KVCache cache = model.new_cache(static_cast<int>(prompt.size()));
      const std::vector<float> logits = model.forward(cache, prompt);
      std::vector<int32_t> ids(logits.size());
      for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
      std::partial_sort(ids.begin(), ids.begin() + 5, ids.end(),
                        [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
      nlohmann::ordered_json top = nlohmann::ordered_json::array();
      for (int i = 0; i < 5; ++i) top.push_back({ids[i], logits[ids[i]]});
      cases.push_back({{"prompt", prompt}, {"top", top}, {"vocab", model.config().vocab_size}});
    }
    ref["stories" + sname + "-f32.gguf"] = cases;
  }
  write_file_atomic(dir + "/sllm_reference.json", ref.dump() + "\n");
  std::printf("wrote %s/sllm_reference.json\n", dir.c_str());
  return 0;
}

int compare_greedy(const std::string& file, const std::string& dump, double max_diff,
                   const std::string& weights) {
  const std::string bytes = read_file(dump);
  int32_t n = 0, vocab = 0;
  if (bytes.size() >= 8) {
    std::memcpy(&n, bytes.data(), 4);
    std::memcpy(&vocab, bytes.data() + 4, 4);
  }
  const size_t step = 4 + 4 * static_cast<size_t>(std::max(vocab, 0));
  if (n < 1 || vocab < 1 || bytes.size() != 8 + step * static_cast<size_t>(n)) {
    std::fprintf(stderr, "%s: not a llama_cpp_bench --greedy dump\n", dump.c_str());
    return 2;
  }
  LoadOptions lo;
  lo.kv_type = KVType::F32;
  if (!weights.empty()) lo.weight_type = parse_weight_type(weights);
  InferenceModel model(load_model_files(file, ""), lo);
  KVCache cache = model.new_cache(n + 8);
  int32_t tok = 1;
  double worst = 0;
  int worst_step = 0, first_diff = -1, first_over = -1;
  for (int i = 0; i < n; ++i) {
    const std::vector<float> logits = model.forward(cache, {&tok, 1});
    if (static_cast<int32_t>(logits.size()) != vocab) {
      std::fprintf(stderr, "%s: sllm has %zu logits, llama.cpp %d\n", file.c_str(), logits.size(),
                   vocab);
      return 1;
    }
    const char* rec = bytes.data() + 8 + step * static_cast<size_t>(i);
    int32_t theirs;
    std::memcpy(&theirs, rec, 4);
    std::vector<float> ref(static_cast<size_t>(vocab));
    std::memcpy(ref.data(), rec + 4, 4 * ref.size());
    double step_worst = 0, scale = 0;
    for (int32_t v = 0; v < vocab; ++v) {
      const double d = std::abs(double(logits[v]) - ref[v]);
      step_worst = std::max(step_worst, d);
      scale = std::max(scale, std::abs(double(ref[v])));
      if (d > worst) worst = d, worst_step = i;
    }
    // The first step has no cached positions: its difference is one forward's, not a drift.
    if (i == 0)
      std::printf("%s: step 0: largest |logit difference| %.3g (largest |logit| %.3g)\n",
                  file.c_str(), step_worst, scale);
    if (step_worst > max_diff && first_over < 0) {
      first_over = i;
      std::printf("%s: step %d: first logit difference over %.3g: %.3g\n", file.c_str(), i,
                  max_diff, step_worst);
    }
    const auto ours =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    if (ours != theirs && first_diff < 0) {
      first_diff = i;
      std::printf("%s: step %d: sllm picks %d, llama.cpp %d\n", file.c_str(), i, ours, theirs);
    }
    tok = theirs;  // Follow llama.cpp's tokens, so later logits still compare like for like.
  }
  const bool ok = first_diff < 0 && worst <= max_diff;
  std::printf(
      "%s: %d greedy tokens %s llama.cpp's; largest |logit difference| %.3g (step %d): %s\n",
      file.c_str(), n, first_diff < 0 ? "all equal to" : "NOT all equal to", worst, worst_step,
      ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}

// Resident set size now (not the peak: one process runs every configuration in turn).
double rss_mb() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1e6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU seconds of the whole process (every thread) so far. On a shared machine, CPU time per
// decoded token says how much work a token takes, where wall time also counts the waits for
// cores other processes hold (a helper's spinning and yielding counts too).
double cpu_seconds() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// The sum of thread t's contiguous share of x[0, n), read with the widest loads the build
// target has: a plain uint64 loop measured 20-30% below 64-byte reads on this VM, and the bound
// should be the fastest read the machine can do.
uint64_t sum_share(const uint64_t* x, size_t n, int t, int threads) {
  const size_t per = n / static_cast<size_t>(threads) / 16 * 16;
  const size_t b = per * static_cast<size_t>(t), e = t == threads - 1 ? n : b + per;
  size_t i = b;
  uint64_t total = 0;
#ifdef __AVX512F__
  __m512i a0 = _mm512_setzero_si512(), a1 = a0;
  for (; i + 16 <= e; i += 16) {
    a0 = _mm512_add_epi64(a0, _mm512_loadu_si512(x + i));
    a1 = _mm512_add_epi64(a1, _mm512_loadu_si512(x + i + 8));
  }
  total = static_cast<uint64_t>(_mm512_reduce_add_epi64(_mm512_add_epi64(a0, a1)));
#endif
  for (; i < e; ++i) total += x[i];
  return total;
}

// Read bandwidth in GB/s on `threads` threads: the best of several sums over 1 GiB, each
// thread reading its own contiguous share (as the matmuls split weight rows).
double measure_bandwidth(int threads) {
  const size_t n = (size_t{1} << 30) / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> buf(new uint64_t[n]);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (size_t i = 0; i < n; ++i) buf[i] = i;  // Touch every page on the thread that reads it.
  double best = 0;
  uint64_t sink = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    uint64_t total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    total += sum_share(buf.get(), n, omp_get_thread_num(), threads);
    best = std::max(best, static_cast<double>(n * sizeof(uint64_t)) / seconds_since(t0) / 1e9);
    sink += total;
  }
  if (sink == 42) std::printf(" ");  // Keeps the sums from being optimised away.
  return best;
}

// measure_bandwidth for each thread count, in a child process so that its 1 GiB buffer does
// not count toward this process's peak RSS. Called before this process starts any threads.
std::vector<double> bandwidths_in_child(const std::vector<int>& threads) {
  std::vector<double> out(threads.size(), 0.0);
  int fds[2];
  if (pipe(fds) != 0) return out;
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    for (int t : threads) {
      const double g = measure_bandwidth(t);
      if (write(fds[1], &g, sizeof g) != sizeof g) break;
    }
    _exit(0);
  }
  close(fds[1]);
  for (auto& g : out)
    if (pid < 0 || read(fds[0], &g, sizeof g) != sizeof g) break;
  close(fds[0]);
  if (pid > 0) waitpid(pid, nullptr, 0);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  ensure_blas_coretype(argc, argv);  // OpenBLAS's AVX-512 kernels for the f32 prefill.
  double bandwidth = 0;              // 0: measure.
  std::string shapes = "15M,110M", types = "f32,q8_0,q4_0,q4_1", threads = "1,2";
  std::string write_gguf, peer_file, json_file, compare_file, dump_file;
  double max_diff = 1e-3;
  std::string compare_weights;
  KVType kv_type = KVType::F32;
  int n = 128, reps = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--bandwidth"))
      bandwidth = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--shapes"))
      shapes = argv[i + 1];
    else if (!std::strcmp(argv[i], "--types"))
      types = argv[i + 1];
    else if (!std::strcmp(argv[i], "--threads"))
      threads = argv[i + 1];
    else if (!std::strcmp(argv[i], "--tokens"))
      n = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps"))
      reps = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--compare-greedy"))
      compare_file = argv[i + 1];
    else if (!std::strcmp(argv[i], "--dump"))
      dump_file = argv[i + 1];
    else if (!std::strcmp(argv[i], "--weights"))
      compare_weights = argv[i + 1];
    else if (!std::strcmp(argv[i], "--max-diff"))
      max_diff = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--write-gguf"))
      write_gguf = argv[i + 1];
    else if (!std::strcmp(argv[i], "--peer"))
      peer_file = argv[i + 1];
    else if (!std::strcmp(argv[i], "--json"))
      json_file = argv[i + 1];
    else if (!std::strcmp(argv[i], "--kv-type")) {
      try {
        kv_type = parse_kv_type(argv[i + 1]);
      } catch (const Error& e) {
        std::fprintf(stderr, "decode_bench: --kv-type: %s\n", e.what());
        return 2;
      }
    } else {
      std::fprintf(stderr, "decode_bench: unknown flag %s (see the comment at the top)\n", argv[i]);
      return 2;
    }
  }
  if (reps < 1 || n < 1) {
    std::fprintf(stderr, "decode_bench: --reps and --tokens need a positive count\n");
    return 2;
  }
  if (argc % 2 == 0) {  // Flags come in pairs: one is missing its value.
    std::fprintf(stderr, "decode_bench: %s needs a value\n", argv[argc - 1]);
    return 2;
  }
  if (!write_gguf.empty()) return write_ggufs(write_gguf, split(shapes), split(types));
  if (!compare_file.empty()) {
    if (dump_file.empty()) {
      std::fprintf(stderr, "decode_bench: --compare-greedy needs --dump\n");
      return 2;
    }
    try {
      return compare_greedy(compare_file, dump_file, max_diff, compare_weights);
    } catch (const Error& e) {
      std::fprintf(stderr, "decode_bench: %s\n", e.what());
      return 1;
    }
  }
  // Peer tokens/s by "shape/type/threads": {pp, tg}.
  std::map<std::string, std::pair<double, double>> peer;
  if (!peer_file.empty()) {
    std::ifstream f(peer_file);
    if (!f) {
      std::fprintf(stderr, "--peer %s: cannot open it\n", peer_file.c_str());
      return 2;
    }
    try {
      const nlohmann::json j = nlohmann::json::parse(f);
      for (const auto& [k, v] : j.items()) peer[k] = {v.at("pp"), v.at("tg")};
    } catch (const nlohmann::json::exception& e) {
      std::fprintf(stderr, "--peer %s: not llama_cpp_bench --json output: %s\n", peer_file.c_str(),
                   e.what());
      return 2;
    }
  } else {
    for (const auto& [k, v] : kIssue4Reference) peer[k + "/2"] = v;
  }
  std::map<std::string, double> bw;
  nlohmann::ordered_json cells = nlohmann::ordered_json::object();
  std::vector<int> counts;
  for (const auto& th : split(threads)) counts.push_back(std::atoi(th.c_str()));
  const std::vector<double> measured =
      bandwidth > 0 ? std::vector<double>(counts.size(), bandwidth) : bandwidths_in_child(counts);
  for (size_t i = 0; i < counts.size(); ++i) {
    const int t = counts[i];
    const std::string th = split(threads)[i];
    bw[th] = measured[i];
    if (bw[th] <= 0) {
      std::fprintf(stderr, "could not measure the bandwidth; pass --bandwidth GBs\n");
      return 1;
    }
    std::printf("bandwidth at %d thread%s: %.1f GB/s%s\n", t, t == 1 ? "" : "s", bw[th],
                bandwidth > 0 ? " (given)" : " (measured, 1 GiB read)");
  }
  std::printf(
      "decode bench: prefill %d / decode %d tokens, random weights, dot kernels: %s, "
      "quantized prefill: %s, KV cache %s, OPENBLAS_CORETYPE=%s\n",
      n, n, dot_kernels().isa, amx_bf16_available() ? "AMX bf16 tiles" : "int8 dot kernels",
      kv_type_name(kv_type),
      std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "(default)");
  if (peer_file.empty())
    std::printf(
        "llama.cpp columns: llama-bench on issue 4's REFERENCE MACHINE (not this one), 2 threads "
        "only; bench/decode/run.sh measures llama.cpp here\n");
  else
    std::printf("llama.cpp columns: measured on this machine (%s)\n", peer_file.c_str());
  std::printf("%-5s %-5s %3s %10s %10s %9s %9s %7s %9s %9s %9s %9s %8s %14s\n", "shape", "type",
              "thr", "pp tok/s", "tg tok/s", "MB/token", "bound", "of bound", "llama pp",
              "llama tg", "pp/llama", "tg/llama", "RSS MB", "tg cpu ms/tok");
  for (const auto& sname : split(shapes)) {
    const Shape* shape = find_shape(sname);
    if (!shape) return 2;
    for (const auto& tname : split(types)) {
      LoadOptions lo;
      lo.kv_type = kv_type;
      set_num_threads(2);
      std::unique_ptr<InferenceModel> model_owner;
      if (const QuantMix mix = parse_quant_mix(tname); mix.rules) {
        // llama.cpp's per-tensor mix: written as GGUF and loaded back, the file llama.cpp runs.
        ModelFiles m = random_model(*shape);
        add_synthetic_vocab(m, m.config.vocab_size);
        const std::string path = std::filesystem::temp_directory_path() /
                                 ("sllm-decode-bench-" + std::to_string(getpid()) + ".gguf");
        export_gguf(m, path, mix);
        model_owner = InferenceModel::load(path, lo);
        std::filesystem::remove(path);  // Mapped: the pages stay until the model goes.
      } else {
        lo.weight_type = parse_weight_type(tname);
        model_owner = std::make_unique<InferenceModel>(random_model(*shape), lo);
      }
      InferenceModel& model = *model_owner;
      std::vector<int32_t> prompt(n);
      for (int i = 0; i < n; ++i) prompt[i] = (i * 7919) % 32000;
      for (const auto& th : split(threads)) {
        set_num_threads(std::atoi(th.c_str()));
        KVCache cache = model.new_cache(2 * n);
        model.forward(cache, prompt);  // Warm-up: page in weights, size scratch buffers.
        // Median of --reps runs of prefill then decode (as llama-bench reports a median): one
        // 8 ms prefill of stories15M is at the mercy of this VM's neighbours.
        std::vector<double> pps, tgs, cpus;
        for (int rep = 0; rep < reps; ++rep) {
          cache.clear();
          auto t0 = std::chrono::steady_clock::now();
          std::vector<float> logits = model.forward(cache, prompt);
          pps.push_back(n / seconds_since(t0));
          int32_t tok = 1;
          const double cpu0 = cpu_seconds();
          t0 = std::chrono::steady_clock::now();
          for (int i = 0; i < n; ++i) {
            logits = model.forward(cache, {&tok, 1});
            tok = static_cast<int32_t>(i % 32000);
          }
          tgs.push_back(n / seconds_since(t0));
          cpus.push_back(1e3 * (cpu_seconds() - cpu0) / n);
        }
        const double pp = median(pps), tg = median(tgs), tg_cpu_ms = median(cpus);
        // Bytes read per decoded token: every weight once, plus the KV cache at the mean
        // position of the decode phase.
        const double kv_elem = kv_type == KVType::F16 ? 2.0 : 4.0;
        const double kv =
            2.0 * shape->layers * shape->kv_heads * shape->head_dim * kv_elem * (n + n / 2.0);
        const double bytes = static_cast<double>(model.weight_bytes()) + kv;
        const double bound = bw[th] * 1e9 / bytes;
        auto ref = peer.find(std::string(shape->name) + "/" + tname + "/" + th);
        char lpp[16] = "-", ltg[16] = "-", ppr[16] = "-", tgr[16] = "-";
        if (ref != peer.end()) {
          std::snprintf(lpp, sizeof lpp, "%.0f", ref->second.first);
          std::snprintf(ltg, sizeof ltg, "%.1f", ref->second.second);
          std::snprintf(ppr, sizeof ppr, "%.2fx", pp / ref->second.first);
          std::snprintf(tgr, sizeof tgr, "%.2fx", tg / ref->second.second);
        }
        std::printf(
            "%-5s %-5s %3s %10.0f %10.1f %9.1f %9.0f %6.0f%% %9s %9s %9s %9s %8.0f %14.3f\n",
            shape->name, tname.c_str(), th.c_str(), pp, tg, bytes / 1e6, bound, 100.0 * tg / bound,
            lpp, ltg, ppr, tgr, rss_mb(), tg_cpu_ms);
        std::fflush(stdout);
        cells[std::string(shape->name) + "/" + tname + "/" + th] = {{"pp", pp},
                                                                    {"tg", tg},
                                                                    {"tg_cpu_ms", tg_cpu_ms},
                                                                    {"bytes_per_token", bytes},
                                                                    {"bandwidth_gbs", bw[th]},
                                                                    {"rss_mb", rss_mb()}};
        if (auto table = kIssue4Reference.find(std::string(shape->name) + "/" + tname);
            th == "2" && table != kIssue4Reference.end()) {
          cells[std::string(shape->name) + "/" + tname + "/" + th]["issue4_table"] = {
              table->second.first, table->second.second};
        }
      }
    }
  }
  std::printf("peak RSS %.0f MB\n", peak_rss_bytes() / 1e6);
  if (!json_file.empty()) write_file_atomic(json_file, cells.dump() + "\n");
  return 0;
}
