// The parts of `sllm finetune` that preference methods (DPO, IPO, ORPO) add: their data, the
// chat rendering shared with SFT, and DPO's reference log-probs.
#include <memory>
#include <nlohmann/json.hpp>

#include "sllm/adapt/finetune.h"
#include "sllm/common/error.h"
#include "sllm/format/model_dir.h"
#include "sllm/io/file.h"

namespace sllm {

ChatRenderFn chat_renderer(const std::string& chat_template, const Tokenizer& tok,
                           const std::string& model_template) {
  std::string tmpl = chat_template;
  if (tmpl.empty()) tmpl = model_template.empty() ? "chatml" : "model";
  for (const auto& name : chat_template_names())
    if (tmpl == name)
      return [tmpl](const std::vector<ChatMessage>& m) { return render_chat(tmpl, m); };
  if (tmpl == "model" && model_template.empty())
    fail("--chat-template model: the base model carries no chat template");
  auto t = std::make_shared<ChatTemplate>(
      model_chat_template(model_template, tok, tmpl == "model" ? "" : tmpl));
  return [t](const std::vector<ChatMessage>& m) { return render_chat(*t, m); };
}

namespace {

PreferencePairs load_pairs(const std::string& path, const Tokenizer& tok,
                           const ChatRenderFn& render, int T) {
  auto examples = read_preference_jsonl(path);
  EncodeFn enc = [&tok](std::string_view s) { return tok.encode(s); };
  return pack_preferences(examples, render, enc, tok.bos_id(), tok.eos_id(), T, path);
}

}  // namespace

void load_train_val_pairs(const std::string& data, const std::string& val_data, double val_fraction,
                          const Tokenizer& tok, const ChatRenderFn& render, int T,
                          PreferencePairs& train, PreferencePairs& val) {
  PreferencePairs all = load_pairs(data, tok, render, T);
  if (val_data.empty()) {
    split_pairs(all, val_fraction, train, val);
    if (val.pairs == 0)
      fail(
          "preference dataset {} is too short to hold out validation pairs: {} pair(s) (add "
          "rows or give --val-data)",
          data, all.pairs);
  } else {
    train = std::move(all);
    val = load_pairs(val_data, tok, render, T);
  }
  if (train.pairs == 0) fail("preference dataset {} gives no training pairs", data);
}

namespace {

void compute_logps(Learner& learner, bool average, int batch_pairs, PreferencePairs& p) {
  p.ref_logps.assign(p.pairs * 2, 0.0);
  const size_t T = p.T;
  Batch b;
  for (size_t first = 0; first < p.pairs; first += batch_pairs) {
    const size_t n = std::min<size_t>(batch_pairs, p.pairs - first);
    b.B = static_cast<int>(2 * n);
    b.T = p.T;
    b.tokens.assign(p.inputs.begin() + first * 2 * T, p.inputs.begin() + (first + n) * 2 * T);
    b.targets.assign(p.targets.begin() + first * 2 * T, p.targets.begin() + (first + n) * 2 * T);
    learner.completion_logps(b, average, p.ref_logps.data() + first * 2);
  }
}

std::vector<double> doubles_of(const nlohmann::json& j, const char* key, size_t n,
                               const std::string& path) {
  if (!j.contains(key) || !j[key].is_array() || j[key].size() != n)
    fail("reference log-prob cache {}: '{}' does not hold {} numbers", path, key, n);
  std::vector<double> v;
  for (const auto& x : j[key]) {
    if (!x.is_number()) fail("reference log-prob cache {}: '{}' holds a non-number", path, key);
    v.push_back(x.get<double>());
  }
  return v;
}

}  // namespace

void reference_logps(Learner& learner, const PreferenceOptions& opt, const std::string& cache_path,
                     const nlohmann::json& settings, int batch_pairs, PreferencePairs& train,
                     PreferencePairs& val) {
  if (file_exists(cache_path)) {
    const auto j = nlohmann::json::parse(read_file(cache_path), nullptr, false);
    if (j.is_object() && j.contains("settings") && j["settings"] == settings) {
      train.ref_logps = doubles_of(j, "train", train.pairs * 2, cache_path);
      val.ref_logps = doubles_of(j, "val", val.pairs * 2, cache_path);
      return;
    }
  }
  compute_logps(learner, opt.averages_logps(), batch_pairs, train);
  compute_logps(learner, opt.averages_logps(), batch_pairs, val);
  const nlohmann::json j = {
      {"settings", settings}, {"train", train.ref_logps}, {"val", val.ref_logps}};
  write_file_atomic(cache_path, j.dump() + "\n");
}

}  // namespace sllm
