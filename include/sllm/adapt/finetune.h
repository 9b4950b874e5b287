// Fine-tuning a model sllm can import: full (every parameter) or LoRA (only adapters train,
// the frozen base may be kept quantized), on chat SFT data (JSONL) or plain text (continued
// pretraining). `sllm finetune` and `sllm merge` are thin wrappers around these.
#pragma once
#include <string>

#include "sllm/adapt/adapt_train.h"
#include "sllm/adapt/lora_model.h"
#include "sllm/adapt/preference_data.h"
#include "sllm/adapt/preference_loss.h"
#include "sllm/adapt/sft_data.h"
#include "sllm/model/lora_adapter.h"
#include "sllm/tokenizer/tokenizer.h"

namespace sllm {

struct FinetuneConfig {
  std::string base;       // Model path (sllm directory, .gguf, HF directory, llama2.c .bin).
  std::string tokenizer;  // Overrides the base's tokenizer.
  std::string data;       // .jsonl: chat SFT / {"text"} lines; anything else: plain text.
  std::string val_data;   // Empty: the last val_fraction of data's rows.
  std::string out;        // Adapter folder (LoRA) or model directory (full), plus metrics.
  // Empty: the base model's own template (chatml when it has none); "model": its own; a
  // built-in name (chatml, zephyr, plain, llama2, llama3); or a .jinja file.
  std::string chat_template;
  int seq_len = 0;  // 0: the base's block_size.
  double val_fraction = 0.1;
  bool lora = false;
  LoraConfig lora_cfg;
  FrozenType frozen = FrozenType::F32;
  // The Trainer's settings (out and the model come from above); loop.resume continues the
  // checkpoint in OUT, which must have been started with the same settings.
  TrainConfig loop = TrainConfig::defaults(TrainMode::Finetune);
  int eval_rows = 64;  // Validation rows (the first ones of the val set, always the same).
  // "sft" (data: chat/prompt-completion/ShareGPT/text rows), or "dpo" / "orpo" (data:
  // preference rows, sllm/adapt/preference_data.h) with `preference`'s loss (dpo: dpo or ipo).
  // DPO's reference is the base as loaded (with LoRA: without the adapters), its log-probs
  // computed before the first step and cached in OUT/reference_logps.json.
  std::string method = "sft";
  PreferenceOptions preference;
};

struct FinetuneResult {
  AdaptRun loop;
  size_t trainable_params = 0, total_params = 0;
  double initial_val_loss = 0;
};

// Trains and writes OUT: with LoRA adapter_model.safetensors + adapter_config.json, else a
// full sllm model directory; always the Trainer's metrics.jsonl, loss.svg and checkpoint (the
// model, with LoRA merged, and the training state for --resume) and finetune.json (summary).
FinetuneResult run_finetune(const FinetuneConfig& cfg);

// Training rows from a file: .jsonl through the chat template (loss on assistant tokens), any
// other file as plain text (loss on every token). `model_template` is the base model's own
// Jinja template (see FinetuneConfig::chat_template). Throws naming the file (and line).
PackedSequences load_training_rows(const std::string& path, const Tokenizer& tok,
                                   const std::string& chat_template, int T,
                                   const std::string& model_template = "");

// Training and validation rows: val_data's rows, or else the last val_fraction of data's.
// Throws naming the file when either set would be empty (a dataset too short to split).
void load_train_val_rows(const std::string& data, const std::string& val_data, double val_fraction,
                         const Tokenizer& tok, const std::string& chat_template, int T,
                         PackedSequences& train, PackedSequences& val,
                         const std::string& model_template = "");

// The chat rendering --chat-template names (see FinetuneConfig::chat_template).
ChatRenderFn chat_renderer(const std::string& chat_template, const Tokenizer& tok,
                           const std::string& model_template);

// Preference pairs for training and validation: val_data's, or the last val_fraction of data's.
void load_train_val_pairs(const std::string& data, const std::string& val_data, double val_fraction,
                          const Tokenizer& tok, const ChatRenderFn& render, int T,
                          PreferencePairs& train, PreferencePairs& val);

// Fills train's and val's ref_logps with the learner's model as it is now (averaged per token
// where the loss wants it), or from cache_path when that file was written for the same
// `settings`; writes the cache otherwise.
void reference_logps(Learner& learner, const PreferenceOptions& opt, const std::string& cache_path,
                     const nlohmann::json& settings, int batch_pairs, PreferencePairs& train,
                     PreferencePairs& val);

// Folds the adapters in adapter_dir into the base and writes a full sllm model directory.
void merge_adapter(const std::string& base, const std::string& adapter_dir, const std::string& out,
                   const std::string& tokenizer = "");

}  // namespace sllm
