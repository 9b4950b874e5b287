#include "sllm/adapt/finetune.h"

#include <nlohmann/json.hpp>

#include "sllm/common/error.h"
#include "sllm/common/runtime.h"
#include "sllm/format/model_dir.h"
#include "sllm/io/file.h"
#include "sllm/tokenizer/fingerprint.h"

namespace sllm {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

PackedSequences load_training_rows(const std::string& path, const Tokenizer& tok,
                                   const std::string& chat_template, int T,
                                   const std::string& model_template) {
  if (ends_with(path, ".jsonl")) {
    auto examples = read_sft_jsonl(path);
    EncodeFn enc = [&tok](std::string_view s) { return tok.encode(s); };
    std::string tmpl = chat_template;
    if (tmpl.empty()) tmpl = model_template.empty() ? "chatml" : "model";
    for (const auto& name : chat_template_names())  // the segment-wise built-ins
      if (tmpl == name) return pack_sft(examples, tmpl, enc, tok.bos_id(), T, path);
    if (tmpl == "model" && model_template.empty())
      fail("--chat-template model: the base model carries no chat template");
    ChatTemplate t = model_chat_template(model_template, tok, tmpl == "model" ? "" : tmpl);
    return pack_sft(examples, t, enc, tok.bos_id(), T, path);
  }
  const std::string text = read_file(path);
  if (text.empty()) fail("dataset {} is empty", path);
  std::vector<int32_t> ids;
  try {
    ids = encode_parallel(tok, text, 0);
  } catch (const Error& e) {
    fail("dataset {}: cannot tokenize it with the model's tokenizer: {}", path, e.what());
  }
  PackedSequences p = pack_tokens(ids, T);
  if (p.rows == 0) fail("dataset {} is too short: {} tokens", path, ids.size());
  return p;
}

void load_train_val_rows(const std::string& data, const std::string& val_data, double val_fraction,
                         const Tokenizer& tok, const std::string& chat_template, int T,
                         PackedSequences& train, PackedSequences& val,
                         const std::string& model_template) {
  PackedSequences all = load_training_rows(data, tok, chat_template, T, model_template);
  if (val_data.empty()) {
    split_rows(all, val_fraction, train, val);
    if (val.rows == 0)
      fail(
          "dataset {} is too short to hold out validation rows: {} row(s) of {} tokens (add data "
          "or give "
          "--val-data)",
          data, all.rows, T);
  } else {
    train = std::move(all);
    val = load_training_rows(val_data, tok, chat_template, T, model_template);
  }
  if (train.rows == 0) fail("dataset {} gives no training rows", data);
}

FinetuneResult run_finetune(const FinetuneConfig& cfg) {
  if (cfg.out.empty()) fail("finetune: an output folder is needed");
  TrainableModel base = load_trainable_model(cfg.base, cfg.tokenizer);
  Model& model = *base.model;
  const int T = cfg.seq_len > 0 ? cfg.seq_len : model.config().block_size;
  if (T > model.config().block_size)
    fail("sequence length {} exceeds the base model's block size {}", T, model.config().block_size);

  const bool sft = cfg.method == "sft";
  if (!sft && cfg.method != "dpo" && cfg.method != "orpo")
    fail("unknown fine-tuning method '{}' (sft, dpo, orpo)", cfg.method);
  PreferenceOptions popt = cfg.preference;
  if (cfg.method == "orpo") {
    if (popt.type != PreferenceLossType::Dpo)
      fail("--loss-type {} is a dpo variant; orpo has its own loss",
           preference_loss_name(popt.type));
    popt.type = PreferenceLossType::Orpo;
  } else if (!sft && popt.type == PreferenceLossType::Orpo) {
    fail("--loss-type orpo: use --method orpo");
  }
  if (!sft) popt.validate();

  // Every row is read and checked before anything trains.
  PackedSequences train, val;
  PreferencePairs ptrain, pval;
  if (sft)
    load_train_val_rows(cfg.data, cfg.val_data, cfg.val_fraction, *base.tokenizer,
                        cfg.chat_template, T, train, val, base.chat_template);
  else
    load_train_val_pairs(cfg.data, cfg.val_data, cfg.val_fraction, *base.tokenizer,
                         chat_renderer(cfg.chat_template, *base.tokenizer, base.chat_template), T,
                         ptrain, pval);

  make_dirs(cfg.out);
  std::unique_ptr<LoraAdapters> adapters;
  std::unique_ptr<LoraModel> lora;
  if (cfg.lora) {
    adapters = std::make_unique<LoraAdapters>(model.config(), cfg.lora_cfg);
    adapters->init(cfg.loop.seed);
    lora = std::make_unique<LoraModel>(model, *adapters, cfg.frozen);
  }
  auto learner = std::make_unique<Learner>(model, lora.get());
  FinetuneResult res;
  res.trainable_params = learner->trainable_params();
  res.total_params = model.params().size();

  AdaptTraining t{"sllm finetune", cfg.loop, cfg.eval_rows, {}};
  t.cfg.out = cfg.out;
  t.settings = {{"base", cfg.base},
                {"tokenizer", cfg.tokenizer},
                {"data", cfg.data},
                {"val_data", cfg.val_data},
                {"chat_template", cfg.chat_template},
                {"seq_len", T},
                {"val_fraction", cfg.val_fraction},
                {"mode", cfg.lora ? "lora" : "full"}};
  if (cfg.lora)
    t.settings["lora"] = {{"r", cfg.lora_cfg.r},
                          {"alpha", cfg.lora_cfg.alpha},
                          {"rslora", cfg.lora_cfg.rslora},
                          {"targets", cfg.lora_cfg.targets},
                          {"frozen", frozen_type_name(cfg.frozen)}};
  if (sft) {
    res.loop =
        run_adapt_training(t, std::move(learner),
                           std::make_unique<RowBatches>(train, cfg.loop.batch_size, cfg.loop.seed),
                           val, base.tokenizer);
  } else {
    t.settings["method"] = cfg.method;
    t.settings["loss_type"] = preference_loss_name(popt.type);
    t.settings["beta"] = popt.beta;
    t.settings["label_smoothing"] = popt.label_smoothing;
    learner->set_preference(popt);
    // The model is still the base here (LoRA adapters start with B = 0): DPO's reference.
    if (popt.needs_reference())
      reference_logps(*learner, popt, cfg.out + "/reference_logps.json", t.settings,
                      cfg.loop.batch_size, ptrain, pval);
    res.loop =
        run_adapt_training(t, std::move(learner),
                           std::make_unique<RowBatches>(ptrain, cfg.loop.batch_size, cfg.loop.seed),
                           pval, base.tokenizer);
  }
  res.initial_val_loss = res.loop.initial_val_loss;

  // Full fine-tuning: OUT is already the model directory the Trainer's last checkpoint
  // published.
  if (cfg.lora)
    adapters->save(cfg.out, cfg.base);
  else
    save_chat_template(cfg.out, base.chat_template);
  nlohmann::json summary = {{"base", cfg.base},
                            {"data", cfg.data},
                            {"mode", cfg.lora ? "lora" : "full"},
                            {"method", cfg.method},
                            {"trainable_params", res.trainable_params},
                            {"total_params", res.total_params},
                            {"train_rows", sft ? train.rows : ptrain.pairs},
                            {"val_rows", sft ? val.rows : pval.pairs},
                            {"seq_len", T},
                            {"steps", res.loop.steps},
                            {"tokens", res.loop.tokens},
                            {"train_seconds", res.loop.seconds},
                            {"initial_val_loss", res.initial_val_loss},
                            {"final_val_loss", res.loop.final_val_loss},
                            {"peak_rss_bytes", peak_rss_bytes()}};
  if (cfg.lora) {
    summary["lora_r"] = cfg.lora_cfg.r;
    summary["lora_alpha"] = cfg.lora_cfg.alpha;
    summary["frozen_type"] = frozen_type_name(cfg.frozen);
    summary["frozen_bytes"] = lora->frozen_bytes();
  }
  write_file_atomic(cfg.out + "/finetune.json", summary.dump(2) + "\n");
  return res;
}

void merge_adapter(const std::string& base_path, const std::string& adapter_dir,
                   const std::string& out, const std::string& tokenizer) {
  TrainableModel base = load_trainable_model(base_path, tokenizer);
  LoraAdapters adapters = LoraAdapters::load(adapter_dir, base.model->config());
  adapters.merge_into(base.model->specs(), base.model->params().data());
  save_model_dir(out, *base.model, *base.tokenizer);
  save_chat_template(out, base.chat_template);
}

}  // namespace sllm
