// sllm finetune: full or LoRA fine-tuning of any model sllm imports: SFT on chat data (JSONL)
// or plain text, or preference tuning (DPO, IPO, ORPO) on TRL's preference rows.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "adapt_options.h"
#include "command.h"
#include "sllm/adapt/finetune.h"
#include "sllm/common/error.h"
#include "sllm/common/runtime.h"

namespace {

int run_finetune_cmd(int argc, char** argv) {
  CLI::App app{"Fine-tune a model: every parameter, or LoRA adapters only (--lora-r)."};
  sllm::FinetuneConfig c;  // Defaults: TrainConfig::defaults(TrainMode::Finetune).
  int lora_r = 0;
  std::string targets = "q,k,v,o,gate,up,down", frozen = "f32", loss_type = "sigmoid";
  app.add_option("--base", c.base, "Model to fine-tune (sllm dir, .gguf, HF dir, llama2.c .bin)")
      ->required();
  app.add_option("--data", c.data,
                 ".jsonl examples (sft: chat/text/prompt-completion/ShareGPT; dpo, orpo: "
                 "prompt/chosen/rejected), or a plain text file (sft)")
      ->required();
  app.add_option("--method", c.method, "sft | dpo | orpo")
      ->check(CLI::IsMember({"sft", "dpo", "orpo"}))
      ->capture_default_str();
  app.add_option("--loss-type", loss_type, "dpo's loss: sigmoid (DPO) | ipo")
      ->check(CLI::IsMember({"sigmoid", "ipo"}))
      ->capture_default_str();
  app.add_option("--beta", c.preference.beta, "DPO/IPO beta, ORPO lambda")->capture_default_str();
  app.add_option("--label-smoothing", c.preference.label_smoothing,
                 "cDPO label smoothing (sigmoid loss), in [0, 0.5)")
      ->capture_default_str();
  app.add_option("--val-data", c.val_data,
                 "Validation file (default: the last --val-fraction of --data)");
  app.add_option("--val-fraction", c.val_fraction, "Rows of --data held out for validation")
      ->capture_default_str();
  app.add_option("--out", c.out, "Output folder (adapter for LoRA, model directory otherwise)")
      ->required();
  app.add_option("--tokenizer", c.tokenizer, "Tokenizer file overriding the base's");
  app.add_option("--chat-template", c.chat_template,
                 "model (the base's own, the default when it has one) | chatml | zephyr | plain | "
                 "llama2 | llama3 | FILE.jinja");
  app.add_option("--seq-len", c.seq_len, "Training sequence length (0: the base's block size)")
      ->capture_default_str();
  app.add_option("--lora-r", lora_r, "LoRA rank; 0 trains every parameter")->capture_default_str();
  app.add_option("--lora-alpha", c.lora_cfg.alpha, "LoRA alpha (scale alpha / r)")
      ->capture_default_str();
  app.add_option("--lora-targets", targets, "Linears that get adapters")->capture_default_str();
  app.add_flag("--rslora", c.lora_cfg.rslora, "Scale adapters by alpha / sqrt(r)");
  app.add_option("--base-dtype", frozen, "Storage of the frozen base weights under LoRA")
      ->capture_default_str();
  sllm::cli::add_loop_options(app, c.loop, c.eval_rows);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  sllm::set_num_threads(c.loop.threads);
  c.lora = lora_r > 0;
  c.lora_cfg.r = c.lora ? lora_r : c.lora_cfg.r;
  c.lora_cfg.targets = sllm::LoraConfig::parse_targets(targets);
  c.frozen = sllm::parse_frozen_type(frozen);
  c.preference.type =
      loss_type == "ipo" ? sllm::PreferenceLossType::Ipo : sllm::PreferenceLossType::Dpo;
  if (c.method != "dpo" && (app.count("--loss-type") || app.count("--label-smoothing")))
    sllm::fail("--loss-type and --label-smoothing are dpo options (--method dpo)");
  if (c.method == "sft" && app.count("--beta"))
    sllm::fail("--beta is a dpo/orpo option, not sft's");
  const sllm::FinetuneResult r = sllm::run_finetune(c);
  std::printf("finetune: %s %s, %zu of %zu parameters trained, %d steps, %.0f tokens in %.1fs\n",
              c.method.c_str(), c.lora ? "LoRA" : "full", r.trainable_params, r.total_params,
              r.loop.steps, r.loop.tokens, r.loop.seconds);
  std::printf("finetune: val loss %.4f -> %.4f; peak RSS %.1f MB; written to %s\n",
              r.initial_val_loss, r.loop.final_val_loss, sllm::peak_rss_bytes() / 1048576.0,
              c.out.c_str());
  return 0;
}

sllm::cli::Registrar reg("finetune",
                         "fine-tune a model (full or LoRA): SFT, or DPO/IPO/ORPO preference tuning",
                         run_finetune_cmd);

}  // namespace
