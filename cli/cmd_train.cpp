// sllm train: pretrain a GPT-2 or Llama-style model from raw text (nanoGPT's flag names).
// With no --data it trains on the King James Bible with defaults that take a few minutes on
// two cores; --resume continues a run in --out bit-exactly.
#include <CLI/CLI.hpp>
#include <memory>
#include <set>

#include "command.h"
#include "resume_option.h"
#include "sllm/common/error.h"
#include "sllm/cuda/cuda_model.h"
#include "sllm/cuda/gpu_trainer.h"
#include "sllm/model/presets.h"
#include "sllm/scale/hardware.h"
#include "sllm/train/data_parallel.h"
#include "sllm/train/trainer.h"

namespace {

int run_train(int argc, char** argv) {
  // Defaults: the demo, a byte-level Llama on the KJV Bible, a few minutes on 2 cores.
  sllm::TrainConfig c = sllm::TrainConfig::defaults(sllm::TrainMode::Pretrain);
  std::string arch = "llama";

  CLI::App app{
      "Train a language model from raw text. Without --data: the King James Bible (Debian "
      "bible-kjv)."};
  app.name("sllm train");
  app.add_option("--arch", arch, "gpt2 | llama")->capture_default_str();
  bool bias = true;
  app.add_option("--n-layer", c.model.n_layer, "Transformer blocks")->capture_default_str();
  app.add_option("--n-head", c.model.n_head, "Attention heads")->capture_default_str();
  app.add_option("--n-kv-head", c.model.n_kv_head,
                 "Key/value heads (llama GQA; default: --n-head)");
  app.add_option("--n-embd", c.model.n_embd, "Model width")->capture_default_str();
  app.add_option("--intermediate-size", c.model.intermediate_size,
                 "MLP width (default: 4 n_embd; gated: 8/3 n_embd rounded up to 32)");
  app.add_option("--bias", bias,
                 "gpt2: biases in the linear layers and LayerNorms (nanoGPT's --bias)")
      ->capture_default_str();
  float init_std = 0.0f;
  app.add_option(
         "--init-std", init_std,
         "Std of the weights' N(0, std) init, residual projections at std/sqrt(2 n_layer) "
         "(default: 0.02*sqrt(768/n_embd), GPT-2's 0.02 scaled to the width; nanoGPT: 0.02)")
      ->check(CLI::Range(1e-6f, 1.0f));
  app.add_option("--block-size", c.model.block_size, "Context length (training sequence length)")
      ->capture_default_str();
  app.add_option("--batch-size", c.batch_size, "Sequences per micro-batch")->capture_default_str();
  app.add_option("--grad-accum", c.grad_accum, "Micro-batches per optimizer step")
      ->capture_default_str();
  app.add_option("--max-iters", c.max_iters, "Optimizer steps")->capture_default_str();
  app.add_option("--lr", c.lr, "Peak learning rate")->capture_default_str();
  app.add_option("--min-lr", c.min_lr, "Learning rate at the end of the cosine decay")
      ->capture_default_str();
  app.add_option("--warmup-iters", c.warmup_iters, "Linear warmup steps")->capture_default_str();
  app.add_option("--lr-decay-iters", c.lr_decay_iters,
                 "Step where the cosine reaches --min-lr (default: --max-iters)");
  app.add_option("--weight-decay", c.weight_decay, "AdamW decoupled weight decay")
      ->capture_default_str();
  app.add_option("--beta1", c.beta1, "AdamW beta1")->capture_default_str();
  app.add_option("--beta2", c.beta2, "AdamW beta2")->capture_default_str();
  app.add_option("--grad-clip", c.grad_clip, "Global gradient-norm clip (0: off)")
      ->capture_default_str();
  app.add_option("--eval-interval", c.eval_interval, "Steps between evaluations")
      ->capture_default_str();
  app.add_option("--eval-iters", c.eval_iters,
                 "Validation batches per evaluation (-1: the whole validation split)")
      ->capture_default_str();
  app.add_option("--val-fraction", c.val_fraction, "Last fraction of the tokens held out")
      ->capture_default_str();
  app.add_option("--sample-interval", c.sample_interval,
                 "Steps between samples (0: only at the end)")
      ->capture_default_str();
  app.add_option("--sample-tokens", c.sample_tokens, "Tokens per sample")->capture_default_str();
  app.add_option("--sample-prompt", c.sample_prompt, "Prompt of the samples");
  app.add_option("--temperature", c.sample_temperature, "Sampling temperature")
      ->capture_default_str();
  app.add_option("--top-k", c.sample_top_k, "Sample from the k likeliest tokens (0: all)")
      ->capture_default_str();
  app.add_option("--checkpoint-interval", c.checkpoint_interval,
                 "Steps between checkpoints (default: --eval-interval)");
  app.add_option("--keep-checkpoints", c.keep_checkpoints, "Step folders kept in OUT/checkpoints")
      ->capture_default_str();
  app.add_option("--seed", c.seed, "Random seed (init and data order)")->capture_default_str();
  app.add_option("--threads", c.threads, "Threads (0: all cores)")->capture_default_str();
  app.add_option("--dtype", c.dtype,
                 "Matrix products: float32, or bfloat16 (bf16 operands, fp32 accumulation, "
                 "fp32 master weights and AdamW; AMX / AVX512-BF16 through oneDNN)")
      ->check(CLI::IsMember({"float32", "bfloat16"}))
      ->capture_default_str();
  app.add_option("--peak-gflops", c.peak_gflops,
                 "The machine's fp32 GEMM peak in GFLOP/s, for MFU (0: measured)")
      ->capture_default_str();
  app.add_option("--tokenizer", c.tokenizer, "char | byte | PATH of a saved tokenizer")
      ->capture_default_str();
  app.add_option("--data", c.data, "Text file or folder (default: the King James Bible)");
  app.add_option("--out", c.out, "Run folder: model, checkpoints, metrics.jsonl, loss.svg")
      ->capture_default_str();
  app.add_option("--init-from", c.init_from,
                 "Start from this model directory's weights and tokenizer");
  sllm::cli::add_resume_option(app, c,
                               "Continue the run in --out from its last checkpoint, bit-exactly");
  app.add_flag("--quiet", c.quiet, "No progress lines");
  std::string device = "cpu";
  app.add_option("--device", device, "cpu | cuda (one NVIDIA GPU, bf16 with fp32 master weights)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (c.resume) {
    // The run's own args come back from the checkpoint; only these may change on resume.
    static const std::set<std::string> may_change = {"--max-iters",
                                                     "--eval-interval",
                                                     "--eval-iters",
                                                     "--sample-interval",
                                                     "--sample-tokens",
                                                     "--sample-prompt",
                                                     "--temperature",
                                                     "--top-k",
                                                     "--checkpoint-interval",
                                                     "--keep-checkpoints",
                                                     "--threads",
                                                     "--peak-gflops",
                                                     "--out",
                                                     "--resume",
                                                     "--quiet"};
    for (const CLI::Option* o : app.get_options())
      if (o->count() > 0 && !may_change.count(o->get_name()))
        sllm::fail(
            "{} cannot change on --resume: the run continues with the settings it was started with",
            o->get_name());
    sllm::TrainConfig saved = sllm::saved_train_config(c.out, c.resume_latest_valid);
    auto keep = [&](const char* flag, auto& dst, const auto& src) {
      if (app.count(flag)) dst = src;
    };
    keep("--max-iters", saved.max_iters, c.max_iters);
    keep("--eval-interval", saved.eval_interval, c.eval_interval);
    keep("--eval-iters", saved.eval_iters, c.eval_iters);
    keep("--sample-interval", saved.sample_interval, c.sample_interval);
    keep("--sample-tokens", saved.sample_tokens, c.sample_tokens);
    keep("--sample-prompt", saved.sample_prompt, c.sample_prompt);
    keep("--temperature", saved.sample_temperature, c.sample_temperature);
    keep("--top-k", saved.sample_top_k, c.sample_top_k);
    keep("--checkpoint-interval", saved.checkpoint_interval, c.checkpoint_interval);
    keep("--keep-checkpoints", saved.keep_checkpoints, c.keep_checkpoints);
    keep("--threads", saved.threads, c.threads);
    keep("--peak-gflops", saved.peak_gflops, c.peak_gflops);
    saved.quiet = c.quiet;
    c = saved;
  } else {
    const sllm::ModelPreset& family = sllm::preset(arch);
    sllm::apply_preset(c.model, family);
    if (family.optional_biases) c.model.set_biases(bias);
    if (!app.count("--n-kv-head")) c.model.n_kv_head = c.model.n_head;
    c.model.tie_word_embeddings = true;
    c.model.initializer_range =
        app.count("--init-std") ? init_std : sllm::width_scaled_init_std(c.model.n_embd);
  }
  sllm::TrainHooks hooks;
  if (device == "cuda") {
    if (sllm::launched_world_size() > 1)
      sllm::fail("--device cuda under mpirun is not supported: use one process per GPU run");
    // MFU against the GPU's bf16 peak from the hardware catalog, unless --peak-gflops says.
    if (!app.count("--peak-gflops"))
      c.peak_gflops = sllm::scale::catalog_bf16_peak(sllm::cuda::require_device()) / 1e9;
    hooks.make_backend = sllm::cuda::make_train_backend;
    sllm::train(c, std::move(hooks));
    return 0;
  }
  // Under `mpirun -np N`: data parallel over MPI (sllm/train/data_parallel.h).
  std::unique_ptr<sllm::MpiSession> mpi;
  if (sllm::launched_world_size() > 1) {
    mpi = std::make_unique<sllm::MpiSession>(&argc, &argv);
    sllm::setup_data_parallel(*mpi, c, hooks);
  }
  sllm::train(c, std::move(hooks));
  return 0;
}

sllm::cli::Registrar reg("train", "pretrain a GPT-2 or Llama-style model from raw text", run_train);

}  // namespace
