// bench/decode: llama.cpp's prefill and decode timed natively, as llama-bench does, on the GGUF
// files `decode_bench --write-gguf DIR` wrote. A second llama.cpp peer beside llama_cpp_peer.mjs:
// node-llama-cpp ships llama.cpp's shared libraries but not llama-bench, and under node its
// 2-thread decode shares the two cores with node's own threads. This program dlopen()s the same
// libllama from node-llama-cpp's prebuilt package and calls it from one thread with nothing else
// running: llama_decode() then llama_synchronize(), back to back, as llama-bench's pp and tg.
//
// No llama.h ships in that package, so the two parameter structs are read as bytes at offsets
// taken from this pinned build (node-llama-cpp 3.22.1, package-lock.json): before any use the
// defaults llama.cpp returns are checked at those offsets, and a build whose layout differs is
// refused with a message instead of being driven with wrong fields.
//
// Per cell (file x threads x flash attention on/off): one warm-up, then --reps reps, median:
//   pp: the N prompt tokens (decode_bench's ids, (i * 7919) % 32000) in one llama_decode
//       (n_batch = n_ubatch = 512, llama-bench's), the KV cache cleared first;
//   tg: N one-token llama_decode calls after that prefill (positions N..2N-1, as decode_bench
//       and llama_cpp_peer.mjs), ids 1, 0, 1, 2, ...; each computes the last (only) logits.
// The faster flash-attention setting per phase is kept, as llama_cpp_peer.mjs does.
// F16 KV cache (llama.cpp's default; run.sh gives sllm the same), mmap, context 2N, n_threads =
// n_threads_batch = the thread count.
//
// Built with the benchmarks (links nothing of llama.cpp: dlopen at run time; sllm for its file
// readers).
// usage: llama_cpp_bench --lib DIR --dir GGUF_DIR [--shapes 15M,110M] [--types f32,q8_0,q4_0]
//          [--threads 1,2] [--tokens 128] [--reps 3] [--json OUT.json]
//        llama_cpp_bench --lib DIR --dir GGUF_DIR --check
//   DIR: node-llama-cpp's bins/linux-x64 (libllama.v0.5.0.so and the libggml-cpu-* variants).
//   --json writes {"15M/q8_0/2": {"pp": tok/s, "tg": tok/s, ...}, ...} for decode_bench --peer.
//   --check: llama.cpp's last-position logits (F32 KV cache, flash attention off) for the prompts
//   of GGUF_DIR/sllm_reference.json (sllm's, written by decode_bench --write-gguf) against
//   sllm's: the same argmax (else exit 1), the top 5's order and the largest logit difference.
//
//        llama_cpp_bench --lib DIR --quantize OUT.gguf --from F32.gguf --ftype q4_k_m
//   llama_model_quantize(), llama.cpp's own quantizer and per-tensor type rules, writes OUT
//   (ftype: q4_k_m, q4_k_s, q5_k_m, q5_k_s, q6_k, q3_k_m, q3_k_s, q3_k_l, q2_k, iq4_xs, iq4_nl,
//   q8_0, q4_0).
//   --imatrix FILE: with this importance matrix (sllm imatrix's or llama.cpp's file).
//        llama_cpp_bench --lib DIR --greedy FILE.gguf --follow OUT.bin [--tokens 128]
//   llama.cpp against itself: flash attention on, fed OUT.bin's tokens (a --greedy dump, flash
//   attention off); prints the largest logit difference and the first step whose greedy choice
//   differs: the floor that float summation order alone sets.
//   LLAMA_CPP_BENCH_LOG=1 in the environment shows llama.cpp's whole log (else only errors).
//        llama_cpp_bench --same-tensors A.gguf --as B.gguf
//   Whether the two files hold the same tensors byte for byte (exit 1 if not).
//        llama_cpp_bench --lib DIR --greedy FILE.gguf --dump OUT.bin [--tokens 128]
//   Greedy decoding from token 1 (BOS), one token per llama_decode, F32 KV cache, flash attention
//   off, 2 threads; OUT gets int32 n_tokens, int32 n_vocab, then per step int32 token and the
//   n_vocab float logits that chose it (decode_bench --compare-greedy reads it).
#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <new>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "sllm/format/imatrix_file.h"
#include "sllm/io/gguf.h"

namespace {

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "llama_cpp_bench: %s\n", msg.c_str());
  std::exit(1);
}

// Big enough for either parameter struct of any recent llama.cpp; passed and returned by value
// they go through memory on x86-64 (SysV: over 16 bytes), so llama.cpp reads and writes only its
// own first bytes of it.
struct Params {
  alignas(16) unsigned char b[512];
  template <class T>
  T get(size_t off) const {
    T v;
    std::memcpy(&v, b + off, sizeof v);
    return v;
  }
  template <class T>
  void set(size_t off, T v) {
    std::memcpy(b + off, &v, sizeof v);
  }
};
struct Batch {  // llama_batch: n_tokens, then token, embd, pos, n_seq_id, seq_id, logits.
  int32_t n_tokens;
  void* p[6];
};

// Offsets in llama_context_params of this build, with the defaults that identify it.
constexpr size_t kNCtx = 0, kNBatch = 4, kNUbatch = 8, kNSeqMax = 12, kNThreads = 28,
                 kNThreadsBatch = 32, kFlashAttnType = 52, kTypeK = 104, kTypeV = 108,
                 kNoPerf = 130;

using Fn0 = void (*)();
using DefaultParams = Params (*)();
using LoadModel = void* (*)(const char*, Params);
using InitContext = void* (*)(void*, Params);
using BatchGetOne = Batch (*)(int32_t*, int32_t);
using Decode = int32_t (*)(void*, Batch);
using Ctx = void (*)(void*);
using GetMemory = void* (*)(void*);
using MemoryClear = void (*)(void*, bool);
using LoadAll = void (*)(const char*);
using LogSet = void (*)(void (*)(int, const char*, void*), void*);
using GetLogits = float* (*)(void*, int32_t);

struct Llama {
  DefaultParams model_defaults, context_defaults;
  LoadModel load_model;
  InitContext init_context;
  BatchGetOne batch_get_one;
  Decode decode;
  Ctx synchronize, free_context, free_model;
  GetMemory get_memory;
  MemoryClear memory_clear;
  GetLogits logits_ith;
};

template <class F>
F sym(void* lib, const char* name) {
  void* p = dlsym(lib, name);
  if (!p) die(std::string("libllama has no ") + name + " (not the pinned node-llama-cpp build?)");
  return reinterpret_cast<F>(p);
}

Llama open_llama(const std::string& dir) {
  const std::string ggml = dir + "/libggml.v0.5.0.so", llama = dir + "/libllama.v0.5.0.so";
  void* g = dlopen(ggml.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!g) die("cannot load " + ggml + ": " + dlerror());
  void* l = dlopen(llama.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!l) die("cannot load " + llama + ": " + dlerror());
  // Only errors from llama.cpp's log (level 4 = GGML_LOG_LEVEL_ERROR).
  sym<LogSet>(l, "llama_log_set")(
      [](int level, const char* text, void*) {
        if (level == 4 || std::getenv("LLAMA_CPP_BENCH_LOG")) std::fputs(text, stderr);
      },
      nullptr);
  sym<LoadAll>(g, "ggml_backend_load_all_from_path")(dir.c_str());  // The libggml-cpu-* variants.
  sym<Fn0>(l, "llama_backend_init")();
  Llama f{};
  f.model_defaults = sym<DefaultParams>(l, "llama_model_default_params");
  f.context_defaults = sym<DefaultParams>(l, "llama_context_default_params");
  f.load_model = sym<LoadModel>(l, "llama_model_load_from_file");
  f.init_context = sym<InitContext>(l, "llama_init_from_model");
  f.batch_get_one = sym<BatchGetOne>(l, "llama_batch_get_one");
  f.decode = sym<Decode>(l, "llama_decode");
  f.synchronize = sym<Ctx>(l, "llama_synchronize");
  f.free_context = sym<Ctx>(l, "llama_free");
  f.free_model = sym<Ctx>(l, "llama_model_free");
  f.get_memory = sym<GetMemory>(l, "llama_get_memory");
  f.memory_clear = sym<MemoryClear>(l, "llama_memory_clear");
  f.logits_ith = sym<GetLogits>(l, "llama_get_logits_ith");

  const Params c = f.context_defaults();
  const bool layout = c.get<uint32_t>(kNCtx) == 512 && c.get<uint32_t>(kNBatch) == 2048 &&
                      c.get<uint32_t>(kNUbatch) == 512 && c.get<uint32_t>(kNSeqMax) == 1 &&
                      c.get<int32_t>(kNThreads) == 4 && c.get<int32_t>(kNThreadsBatch) == 4 &&
                      c.get<int32_t>(kFlashAttnType) == -1 && c.get<int32_t>(kTypeK) == 1 &&
                      c.get<int32_t>(kTypeV) == 1 && c.get<uint8_t>(kNoPerf) == 1;
  if (!layout)
    die("llama_context_default_params() does not have the layout of node-llama-cpp 3.22.1's "
        "build (n_ctx 512, n_batch 2048, n_ubatch 512, n_seq_max 1, n_threads 4/4, flash "
        "attention auto, F16 K/V, no_perf at their offsets); refusing to guess the fields");
  return f;
}

double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

struct Rep {
  double pp, tg, tg_cpu_ms;
};

Rep prefill_decode(const Llama& f, void* ctx, int n) {
  f.memory_clear(f.get_memory(ctx), true);
  std::vector<int32_t> prompt(n);
  for (int i = 0; i < n; ++i) prompt[i] = (i * 7919) % 32000;
  auto decode = [&](int32_t* tokens, int count) {
    if (int rc = f.decode(ctx, f.batch_get_one(tokens, count)); rc != 0)
      die("llama_decode returned " + std::to_string(rc));
    f.synchronize(ctx);
  };
  double t0 = seconds();
  decode(prompt.data(), n);
  const double pp = n / (seconds() - t0);
  int32_t tok = 1;
  const double c0 = cpu_seconds();
  t0 = seconds();
  for (int i = 0; i < n; ++i) {
    decode(&tok, 1);
    tok = i % 32000;
  }
  const double tg = n / (seconds() - t0);
  return {pp, tg, 1e3 * (cpu_seconds() - c0) / n};
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void* new_context(const Llama& f, void* model, int ctx_tokens, int threads, bool flash_attn,
                  bool f32_kv) {
  Params cp = f.context_defaults();
  cp.set<uint32_t>(kNCtx, static_cast<uint32_t>(ctx_tokens));
  cp.set<uint32_t>(kNBatch, 512);
  cp.set<uint32_t>(kNUbatch, 512);
  cp.set<int32_t>(kNThreads, threads);
  cp.set<int32_t>(kNThreadsBatch, threads);
  cp.set<int32_t>(kFlashAttnType, flash_attn ? 1 : 0);
  if (f32_kv) {
    cp.set<int32_t>(kTypeK, 0);  // GGML_TYPE_F32
    cp.set<int32_t>(kTypeV, 0);
  }
  void* ctx = f.init_context(model, cp);
  if (!ctx) die("llama.cpp cannot create a context");
  return ctx;
}

void* load_model(const Llama& f, const std::string& file) {
  if (!std::ifstream(file)) die("cannot open " + file + " (written by decode_bench --write-gguf?)");
  void* model = f.load_model(file.c_str(), f.model_defaults());
  if (!model) die("llama.cpp cannot load " + file);
  return model;
}

// llama.cpp's top logits vs sllm's for the prompts of DIR/sllm_reference.json.
bool check(const Llama& f, const std::string& dir) {
  const std::string path = dir + "/sllm_reference.json";
  std::ifstream in(path);
  if (!in) die("cannot open " + path + " (written by decode_bench --write-gguf)");
  nlohmann::json ref;
  try {
    ref = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    die(path + ": " + e.what());
  }
  bool ok = true;
  for (const auto& [name, cases] : ref.items()) {
    void* model = load_model(f, dir + "/" + name);
    void* ctx = new_context(f, model, 64, 2, false, true);
    for (const auto& c : cases) {
      std::vector<int32_t> prompt = c.at("prompt").get<std::vector<int32_t>>();
      const auto top = c.at("top");  // [[id, logit] x 5], sllm's, best first.
      f.memory_clear(f.get_memory(ctx), true);
      if (int rc =
              f.decode(ctx, f.batch_get_one(prompt.data(), static_cast<int32_t>(prompt.size())));
          rc != 0)
        die("llama_decode returned " + std::to_string(rc));
      const float* logits = f.logits_ith(ctx, -1);
      if (!logits) die("llama.cpp returned no logits");
      std::vector<int> ids(c.value("vocab", 32000));  // The model's vocabulary, from sllm.
      for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int>(i);
      std::partial_sort(ids.begin(), ids.begin() + 5, ids.end(),
                        [&](int a, int b) { return logits[a] > logits[b]; });
      bool same_top5 = true;
      double max_diff = 0;
      for (int i = 0; i < 5; ++i) {
        const int id = top[i][0].get<int>();
        same_top5 = same_top5 && ids[i] == id;
        max_diff = std::max(max_diff, std::abs(double(logits[id]) - top[i][1].get<double>()));
      }
      const int ours = top[0][0].get<int>();
      const bool same = ids[0] == ours;
      ok = ok && same;
      std::string p;
      for (int32_t t : prompt) {
        if (!p.empty()) p += ',';
        p += std::to_string(t);
      }
      std::printf(
          "check %s prompt [%s]: sllm argmax %d (%.5f), llama.cpp %d (%.5f): %s; top 5 %s, max "
          "|logit diff| over sllm's top 5 %.2e\n",
          name.c_str(), p.c_str(), ours, top[0][1].get<double>(), ids[0], logits[ids[0]],
          same ? "same" : "DIFFERENT", same_top5 ? "same order" : "differ", max_diff);
    }
    f.free_context(ctx);
    f.free_model(model);
  }
  std::printf(ok ? "check: llama.cpp's greedy next token agrees with sllm's on every prompt\n"
                 : "check: FAILED, argmax differs\n");
  return ok;
}

// llama_model_quantize_params of this build: nthread at 0, ftype at 4, output_tensor_type at 8,
// quantize_output_tensor at 17, checked against the defaults (0, LLAMA_FTYPE_MOSTLY_Q8_0 = 7,
// GGML_TYPE_COUNT = 43, true) before use.
// imatrix at 24: an array of llama_model_imatrix_data {name, data, size} per tensor, ended by
// an entry with a null name (this build's C API; tools/quantize builds it from the file).
constexpr size_t kQNThread = 0, kQFtype = 4, kQOutputType = 8, kQOutputTensor = 17, kQImatrix = 24;
struct LlamaImatrixData {
  const char* name;
  const float* data;
  size_t size;
};

int quantize(const std::string& lib, const std::string& in, const std::string& out,
             const std::string& ftype, const std::string& imatrix_file) {
  static const std::map<std::string, int32_t> ftypes = {
      {"q4_0", 2},    {"q8_0", 7},    {"q2_k", 10},   {"q3_k_s", 11}, {"q3_k_m", 12},
      {"q3_k_l", 13}, {"q4_k_s", 14}, {"q4_k_m", 15}, {"q5_k_s", 16}, {"q5_k_m", 17},
      {"q6_k", 18},   {"iq4_nl", 25}, {"iq4_xs", 30}};
  const auto it = ftypes.find(ftype);
  if (it == ftypes.end()) die("unknown --ftype " + ftype);
  open_llama(lib);
  void* l = dlopen((lib + "/libllama.v0.5.0.so").c_str(), RTLD_NOW | RTLD_GLOBAL);
  using Defaults = Params (*)();
  using Quantize = uint32_t (*)(const char*, const char*, const Params*);
  Params p = sym<Defaults>(l, "llama_model_quantize_default_params")();
  if (p.get<int32_t>(kQNThread) != 0 || p.get<int32_t>(kQFtype) != 7 ||
      p.get<int32_t>(kQOutputType) != 43 || p.get<uint8_t>(kQOutputTensor) != 1)
    die("llama_model_quantize_default_params() does not have the layout of node-llama-cpp "
        "3.22.1's build (nthread 0, ftype Q8_0, output type COUNT, quantize_output_tensor at "
        "their offsets)");
  p.set<int32_t>(kQNThread, 2);
  p.set<int32_t>(kQFtype, it->second);
  std::map<std::string, std::vector<float>> weights;
  std::vector<LlamaImatrixData> imatrix;
  if (!imatrix_file.empty()) {
    if (p.get<void*>(kQImatrix) != nullptr)
      die("llama_model_quantize_params: no null imatrix at 24");
    const sllm::Imatrix m = sllm::read_imatrix(imatrix_file);
    for (const auto& [name, e] : m.entries) {
      const auto& w = weights[name] = m.weights(name);
      imatrix.push_back({weights.find(name)->first.c_str(), w.data(), w.size()});
    }
    imatrix.push_back({nullptr, nullptr, 0});
    p.set<const void*>(kQImatrix, imatrix.data());
  }
  if (uint32_t rc = sym<Quantize>(l, "llama_model_quantize")(in.c_str(), out.c_str(), &p); rc != 0)
    die("llama_model_quantize failed (" + std::to_string(rc) + ") on " + in);
  std::printf("llama.cpp wrote %s (%s%s) from %s\n", out.c_str(), ftype.c_str(),
              imatrix_file.empty() ? "" : (", imatrix " + imatrix_file).c_str(), in.c_str());
  return 0;
}

// Whether two GGUF files hold the same tensors: names, types, shapes and bytes.
int same_tensors(const std::string& a, const std::string& b) {
  const sllm::GGUFReader ra(a), rb(b);
  int same = 0, differ = 0;
  for (const sllm::GGUFTensorInfo& t : ra.tensors()) {
    const sllm::GGUFTensorInfo* u = rb.find_tensor(t.name);
    if (!u || u->type != t.type || u->dims != t.dims || u->nbytes != t.nbytes ||
        std::memcmp(u->data, t.data, t.nbytes) != 0) {
      std::printf("differs: %s (%s vs %s)\n", t.name.c_str(), sllm::ggml_type_name(t.type),
                  u ? sllm::ggml_type_name(u->type) : "absent");
      ++differ;
    } else {
      ++same;
    }
  }
  if (rb.tensors().size() != ra.tensors().size()) ++differ;
  std::printf("%d of %zu tensors byte-identical (%s vs %s)\n", same, ra.tensors().size(), a.c_str(),
              b.c_str());
  return differ == 0 ? 0 : 1;
}

// follow: a --greedy dump of llama.cpp itself with flash attention off; this run (flash
// attention on) feeds that dump's tokens and reports how far its logits drift from them: how
// closely llama.cpp agrees with itself when only the order of the attention sums changes.
int follow_greedy(const Llama& f, const std::string& file, const std::string& follow, int n) {
  constexpr int32_t kVocab = 32000;
  std::ifstream in(follow, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int32_t dn = 0, dv = 0;
  if (bytes.size() >= 8) std::memcpy(&dn, bytes.data(), 4), std::memcpy(&dv, bytes.data() + 4, 4);
  const size_t step = 4 + 4 * static_cast<size_t>(kVocab);
  if (dv != kVocab || dn < n || bytes.size() != 8 + step * static_cast<size_t>(dn))
    die(follow + ": not a --greedy dump of at least --tokens steps");
  void* model = load_model(f, file);
  void* ctx = new_context(f, model, n + 8, 2, true, true);
  int32_t tok = 1;
  double worst = 0;
  int worst_step = 0, first_diff = -1;
  for (int i = 0; i < n; ++i) {
    if (int rc = f.decode(ctx, f.batch_get_one(&tok, 1)); rc != 0)
      die("llama_decode returned " + std::to_string(rc));
    const float* logits = f.logits_ith(ctx, -1);
    if (!logits) die("llama.cpp returned no logits");
    const char* rec = bytes.data() + 8 + step * static_cast<size_t>(i);
    std::vector<float> ref(kVocab);
    std::memcpy(&tok, rec, 4);
    std::memcpy(ref.data(), rec + 4, 4 * ref.size());
    for (int v = 0; v < kVocab; ++v)
      if (const double d = std::abs(double(logits[v]) - ref[v]); d > worst)
        worst = d, worst_step = i;
    if (first_diff < 0 && std::max_element(logits, logits + kVocab) - logits != tok) first_diff = i;
  }
  f.free_context(ctx);
  f.free_model(model);
  std::printf(
      "llama.cpp flash attention on vs off, %s: %d steps, largest |logit difference| %.3g (step "
      "%d); greedy choice first differs at step %d\n",
      file.c_str(), n, worst, worst_step, first_diff);
  return 0;
}

int greedy(const Llama& f, const std::string& file, const std::string& dump, int n) {
  void* model = load_model(f, file);
  void* ctx = new_context(f, model, n + 8, 2, false, true);
  constexpr int32_t kVocab = 32000;
  std::vector<char> bytes;
  auto put = [&](const void* p, size_t size) {
    bytes.insert(bytes.end(), static_cast<const char*>(p), static_cast<const char*>(p) + size);
  };
  put(&n, 4);
  put(&kVocab, 4);
  int32_t tok = 1;
  for (int i = 0; i < n; ++i) {
    if (int rc = f.decode(ctx, f.batch_get_one(&tok, 1)); rc != 0)
      die("llama_decode returned " + std::to_string(rc));
    const float* logits = f.logits_ith(ctx, -1);
    if (!logits) die("llama.cpp returned no logits");
    tok = static_cast<int32_t>(std::max_element(logits, logits + kVocab) - logits);
    put(&tok, 4);
    put(logits, sizeof(float) * kVocab);
  }
  f.free_context(ctx);
  f.free_model(model);
  const std::string tmp = dump + ".tmp";
  FILE* out = std::fopen(tmp.c_str(), "wb");
  if (!out || std::fwrite(bytes.data(), 1, bytes.size(), out) != bytes.size() ||
      std::fflush(out) != 0 || fsync(fileno(out)) != 0 || std::fclose(out) != 0 ||
      std::rename(tmp.c_str(), dump.c_str()) != 0)
    die("cannot write " + dump);
  std::printf("llama.cpp: %d greedy tokens of %s in %s\n", n, file.c_str(), dump.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a = {{"lib", ""},
                                          {"dir", ""},
                                          {"shapes", "15M,110M"},
                                          {"types", "f32,q8_0,q4_0,q4_1"},
                                          {"threads", "1,2"},
                                          {"tokens", "128"},
                                          {"reps", "3"},
                                          {"json", ""},
                                          {"quantize", ""},
                                          {"from", ""},
                                          {"ftype", ""},
                                          {"greedy", ""},
                                          {"dump", ""},
                                          {"imatrix", ""},
                                          {"same-tensors", ""},
                                          {"as", ""},
                                          {"follow", ""}};
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--check") {
      check_only = true;
      continue;
    }
    if (k.rfind("--", 0) != 0 || !a.count(k.substr(2))) die("unknown flag " + k);
    if (i + 1 >= argc) die(k + " needs a value");
    a[k.substr(2)] = argv[++i];
  }
  const int n = std::atoi(a["tokens"].c_str()), reps = std::atoi(a["reps"].c_str());
  if (n < 1 || n > 4096 || reps < 1 || reps > 100) die("--tokens 1..4096 and --reps 1..100");
  if (!a["same-tensors"].empty()) {
    if (a["as"].empty()) die("--same-tensors needs --as");
    return same_tensors(a["same-tensors"], a["as"]);
  }
  if (a["lib"].empty()) die("--lib DIR is required");
  if (!a["quantize"].empty()) {
    if (a["from"].empty() || a["ftype"].empty()) die("--quantize needs --from and --ftype");
    return quantize(a["lib"], a["from"], a["quantize"], a["ftype"], a["imatrix"]);
  }
  if (!a["greedy"].empty()) {
    if (a["dump"].empty() && a["follow"].empty()) die("--greedy needs --dump or --follow");
    if (!a["follow"].empty())
      return follow_greedy(open_llama(a["lib"]), a["greedy"], a["follow"], n);
    return greedy(open_llama(a["lib"]), a["greedy"], a["dump"], n);
  }
  if (a["dir"].empty()) die("--dir GGUF_DIR is required");

  const Llama f = open_llama(a["lib"]);
  if (check_only) return check(f, a["dir"]) ? 0 : 1;
  std::printf(
      "llama.cpp (node-llama-cpp 3.22.1's libllama, native, one thread calling), prefill %d "
      "/ decode %d tokens, median of %d after a warm-up\n",
      n, n, reps);
  std::printf("%-5s %-5s %3s %10s %10s %10s %13s %7s\n", "shape", "type", "thr", "pp tok/s",
              "tg tok/s", "tg ms/tok", "tg cpu ms/tok", "fa");
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const std::string& shape : split(a["shapes"])) {
    for (const std::string& type : split(a["types"])) {
      void* model = load_model(f, a["dir"] + "/stories" + shape + "-" + type + ".gguf");
      for (const std::string& th_s : split(a["threads"])) {
        const int th = std::atoi(th_s.c_str());
        if (th < 1 || th > 256) die("bad thread count " + th_s);
        Rep best_pp{0, 0, 0}, best_tg{0, 0, 0};
        bool pp_fa = false, tg_fa = false;
        for (bool fa : {true, false}) {
          void* ctx = new_context(f, model, 2 * n, th, fa, false);
          prefill_decode(f, ctx, n);  // Warm-up.
          std::vector<double> pp, tg, cpu;
          for (int r = 0; r < reps; ++r) {
            const Rep x = prefill_decode(f, ctx, n);
            pp.push_back(x.pp);
            tg.push_back(x.tg);
            cpu.push_back(x.tg_cpu_ms);
          }
          f.free_context(ctx);
          const Rep m{median(pp), median(tg), median(cpu)};
          if (m.pp > best_pp.pp) best_pp = m, pp_fa = fa;
          if (m.tg > best_tg.tg) best_tg = m, tg_fa = fa;
        }
        const std::string fa = std::string(pp_fa ? "on" : "off") + "/" + (tg_fa ? "on" : "off");
        std::printf("%-5s %-5s %3d %10.0f %10.1f %10.3f %13.3f %7s\n", shape.c_str(), type.c_str(),
                    th, best_pp.pp, best_tg.tg, 1e3 / best_tg.tg, best_tg.tg_cpu_ms, fa.c_str());
        std::fflush(stdout);
        out[shape + "/" + type + "/" + std::to_string(th)] = {
            {"pp", best_pp.pp}, {"tg", best_tg.tg}, {"tg_cpu_ms", best_tg.tg_cpu_ms}, {"fa", fa}};
      }
      f.free_model(model);
    }
  }
  if (!a["json"].empty()) {
    const std::string tmp = a["json"] + ".tmp", text = out.dump() + "\n";
    FILE* file = std::fopen(tmp.c_str(), "w");
    if (!file || std::fputs(text.c_str(), file) < 0 || std::fflush(file) != 0 ||
        fsync(fileno(file)) != 0 || std::fclose(file) != 0 ||
        std::rename(tmp.c_str(), a["json"].c_str()) != 0)
      die("cannot write " + a["json"]);
  }
  return 0;
}
