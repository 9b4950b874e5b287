// One sllm training configuration, timed: zero_grad, forward, backward, clip to norm 1 and
// AdamW, like nanoGPT's step. Prints one JSON line (tokens/s, step time, MFU, peak RSS).
// Driven by bench/train_vs_torch.py, which runs PyTorch on the same configs.
//
//   train_step_bench --arch gpt2 --vocab 50304 --layers 12 --heads 12 --embd 768 --T 64 --B 4
//   train_step_bench --peak   (measures this machine's fp32 SGEMM GFLOP/s)
//   train_step_bench ... --dtype bfloat16   (bf16 matrix products, fp32 accumulation)
#include <cblas.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "sllm/common/runtime.h"
#include "sllm/model/model.h"
#include "sllm/model/optimizer.h"
#include "sllm/model/presets.h"

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU time of the whole process (all threads), or of the calling thread.
double cpu_s(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Best of 5 n^3 SGEMMs, in GFLOP/s of wall time and of the calling thread's CPU time. On a
// machine shared with other jobs the wall figure drops with the load; the CPU-time figure of
// a single-threaded run does not (much): it is what one core does while it runs this.
struct Peak {
  double wall_gflops = 0, cpu_gflops = 0;
};
Peak sgemm_peak(int n) {
  std::vector<float> a(static_cast<size_t>(n) * n, 0.5f), b(a), c(a.size());
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n,
              0.0f, c.data(), n);
  Peak best;
  const double flops = 2.0 * n * n * n;
  for (int rep = 0; rep < 5; ++rep) {
    const double t0 = now_s(), c0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n,
                0.0f, c.data(), n);
    best.wall_gflops = std::max(best.wall_gflops, flops / (now_s() - t0) / 1e9);
    best.cpu_gflops =
        std::max(best.cpu_gflops, flops / (cpu_s(CLOCK_THREAD_CPUTIME_ID) - c0) / 1e9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"time sllm training steps"};
  std::string arch = "gpt2", dtype = "float32";
  int vocab = 65, layers = 4, heads = 4, kv_heads = 0, embd = 128, T = 64, B = 12, steps = 5,
      warmup = 2, threads = 2, shards = 0;
  double peak = 460.0;
  bool measure_peak = false;
  app.add_option("--arch", arch);
  app.add_option("--vocab", vocab);
  app.add_option("--layers", layers);
  app.add_option("--heads", heads);
  app.add_option("--kv-heads", kv_heads);
  app.add_option("--embd", embd);
  app.add_option("--T", T);
  app.add_option("--B", B);
  app.add_option("--steps", steps);
  app.add_option("--warmup", warmup);
  app.add_option("--threads", threads);
  app.add_option("--dtype", dtype, "float32 | bfloat16 (the matrix products)");
  app.add_option("--shards", shards, "batch shards (Model::set_batch_shards; 0: automatic)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--peak-gflops", peak, "the fp32 peak that MFU is measured against");
  app.add_flag("--peak", measure_peak, "only measure SGEMM GFLOP/s");
  CLI11_PARSE(app, argc, argv);
  sllm::set_num_threads(threads);
  if (measure_peak) {
    const Peak all = sgemm_peak(2048);  // OpenBLAS on `threads` threads
    sllm::set_num_threads(1);
    const Peak one = sgemm_peak(2048);
    std::printf("%s\n", nlohmann::json{{"sgemm_gflops", all.wall_gflops},
                                       {"sgemm_gflops_1thread", one.wall_gflops},
                                       {"sgemm_gflops_per_core_cpu_time", one.cpu_gflops},
                                       {"threads", threads}}
                            .dump()
                            .c_str());
    return 0;
  }

  sllm::ModelConfig cfg;
  sllm::apply_preset(cfg, sllm::preset(arch));
  cfg.vocab_size = vocab;
  cfg.n_layer = layers;
  cfg.n_head = heads;
  cfg.n_kv_head = kv_heads > 0 ? kv_heads : heads;
  cfg.n_embd = embd;
  cfg.block_size = T;
  cfg.tie_word_embeddings = true;
  sllm::Model model(cfg);
  model.init_weights(1337);
  model.set_compute_dtype(sllm::parse_compute_dtype(dtype));
  model.set_batch_shards(shards);
  sllm::AdamWState opt;
  sllm::AdamWParams hp;
  hp.lr = 6e-4f;
  hp.beta1 = 0.9f;
  hp.beta2 = 0.95f;
  hp.weight_decay = 0.1f;

  std::mt19937 gen(1);
  std::vector<int32_t> data(static_cast<size_t>(B) * T + 1);
  for (auto& t : data) t = static_cast<int32_t>(gen() % vocab);
  const int32_t* x = data.data();
  const int32_t* y = data.data() + 1;

  float loss = 0.0f;
  double elapsed = 0.0, cpu = 0.0;
  for (int step = 0; step < warmup + steps; ++step) {
    const double t0 = now_s(), c0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
    model.zero_grad();
    loss = model.forward(x, y, B, T);
    model.backward();
    hp.grad_scale = sllm::clip_scale(sllm::grad_norm(model), 1.0f);  // clip inside the update
    sllm::adamw_step(model, opt, hp);
    if (step >= warmup) {
      elapsed += now_s() - t0;
      cpu += cpu_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
  }
  const double tok_s = static_cast<double>(B) * T * steps / elapsed;
  const double mfu = tok_s * sllm::flops_per_token(cfg, T) / (peak * 1e9);
  nlohmann::json out{{"impl", "sllm"},
                     {"dtype", dtype},
                     {"batch_shards", model.batch_shards(B)},
                     {"tokens_per_s", tok_s},
                     {"ms_per_step", 1e3 * elapsed / steps},
                     {"cpu_s_per_step", cpu / steps},
                     {"mfu", mfu},
                     {"loss", loss},
                     {"peak_rss_mb", sllm::peak_rss_bytes() / 1048576.0},
                     {"params", sllm::num_params(cfg)}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
