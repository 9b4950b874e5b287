// sllm's side of bench/tokenizer/run.py: encode throughput and BPE training, one line of JSON
// per measurement (the script runs the peer and prints the ratios).
//   tokenizer_bench encode TOKENIZER TEXT_FILE THREADS [SECONDS]
//   tokenizer_bench train TEXT_FILE VOCAB THREADS OUT
//   tokenizer_bench count TOKENIZER TEXT_FILE
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "sllm/common/error.h"
#include "sllm/common/runtime.h"
#include "sllm/io/file.h"
#include "sllm/tokenizer/bpe_trainer.h"
#include "sllm/tokenizer/loaders.h"

using Clock = std::chrono::steady_clock;

static double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

static double cpu_seconds() {  // user + system time of the whole process (all threads)
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

// CPU time of each thread of this process (ns), from /proc/self/task/TID/schedstat.
static std::map<std::string, double> thread_cpu_ns() {
  std::map<std::string, double> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream f(e.path() / "schedstat");
    double ns = 0;
    if (f >> ns) out[e.path().filename().string()] = ns;
  }
  return out;
}

// Total CPU time over the busiest thread's, between two thread_cpu_ns() snapshots: the speedup
// the split of the work allows when every thread gets a core of its own (1 for one thread).
static double work_split(const std::map<std::string, double>& before,
                         const std::map<std::string, double>& after) {
  double total = 0, busiest = 0;
  for (const auto& [tid, ns] : after) {
    auto it = before.find(tid);
    double d = ns - (it == before.end() ? 0 : it->second);
    total += d;
    busiest = std::max(busiest, d);
  }
  return busiest > 0 ? total / busiest : 1;
}

// Repeats the encode for at least min_seconds after a warm-up. Reports the best repetition
// (the least disturbed by the other jobs sharing the cores) and the mean, plus the CPU time per
// wall second: about `threads` when the machine gave us all the cores we asked for. MB per CPU
// second is the single-thread speed with the other jobs on the machine taken out.
static int encode(const char* tok_path, const char* text_path, int threads, double min_seconds) {
  auto tok = sllm::open_tokenizer(tok_path);
  std::string text = sllm::read_file(text_path);
  size_t tokens =
      sllm::encode_parallel(*tok, text, threads).size();  // warm-up (caches, page faults)
  int reps = 0;
  double best = 1e30;
  const double cpu0 = cpu_seconds();
  const auto threads0 = thread_cpu_ns();
  auto t0 = Clock::now();
  do {
    auto r0 = Clock::now();
    tokens = sllm::encode_parallel(*tok, text, threads).size();
    best = std::min(best, since(r0));
    ++reps;
  } while (since(t0) < min_seconds);
  const double wall = since(t0), mean = wall / reps, cpu = cpu_seconds() - cpu0;
  const double split = work_split(threads0, thread_cpu_ns());
  std::printf(
      "{\"what\":\"encode\",\"tokenizer\":\"%s\",\"threads\":%d,\"bytes\":%zu,"
      "\"tokens\":%zu,\"reps\":%d,\"seconds\":%.6f,\"mean_seconds\":%.6f,\"mb_per_s\":%.3f,"
      "\"cpu_per_wall\":%.2f,\"mb_per_cpu_s\":%.3f,\"work_split\":%.2f}\n",
      tok->name().c_str(), threads, text.size(), tokens, reps, best, mean, text.size() / 1e6 / best,
      cpu / wall, text.size() * reps / 1e6 / cpu, split);
  return 0;
}

static int train(const char* text_path, int vocab, int threads, const char* out) {
  sllm::BpeTrainOptions o;
  o.vocab_size = vocab;
  o.threads = threads;
  sllm::BpeTrainStats st;
  const double cpu0 = cpu_seconds();
  auto t0 = Clock::now();
  auto tok = sllm::train_bpe_on_files(text_path, o, &st);
  double s = since(t0);
  tok->save(out);
  std::printf(
      "{\"what\":\"train\",\"vocab\":%d,\"threads\":%d,\"bytes\":%zu,\"seconds\":%.3f,"
      "\"count_seconds\":%.3f,\"merge_seconds\":%.3f,\"peak_rss_mb\":%.1f,\"cpu_per_wall\":%.2f}\n",
      tok->vocab_size(), threads, st.bytes, s, st.count_seconds, st.merge_seconds,
      sllm::peak_rss_bytes() / 1e6, (cpu_seconds() - cpu0) / s);
  return 0;
}

static int count(const char* tok_path, const char* text_path) {
  auto tok = sllm::open_tokenizer(tok_path);
  std::string text = sllm::read_file(text_path);
  size_t n = sllm::encode_parallel(*tok, text, 0).size();
  std::printf(
      "{\"what\":\"count\",\"tokenizer\":\"%s\",\"vocab\":%d,\"bytes\":%zu,\"tokens\":%zu}\n",
      tok->name().c_str(), tok->vocab_size(), text.size(), n);
  return 0;
}

int main(int argc, char** argv) {
  try {
    if (argc >= 5 && !std::strcmp(argv[1], "encode"))
      return encode(argv[2], argv[3], std::atoi(argv[4]), argc > 5 ? std::atof(argv[5]) : 2.0);
    if (argc == 6 && !std::strcmp(argv[1], "train"))
      return train(argv[2], std::atoi(argv[3]), std::atoi(argv[4]), argv[5]);
    if (argc == 4 && !std::strcmp(argv[1], "count")) return count(argv[2], argv[3]);
  } catch (const sllm::Error& e) {
    std::fprintf(stderr, "tokenizer_bench: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr,
               "usage: tokenizer_bench encode TOKENIZER TEXT THREADS [SECONDS] | train TEXT VOCAB "
               "THREADS OUT | count "
               "TOKENIZER TEXT\n");
  return 2;
}
