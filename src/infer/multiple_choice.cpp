#include "sllm/infer/multiple_choice.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <regex>

#include "sllm/common/error.h"
#include "sllm/common/lines.h"
#include "sllm/io/file.h"

namespace sllm {

using nlohmann::json;

namespace {

// Python's str.replace(from, to): every non-overlapping match, left to right.
std::string replace_all(const std::string& s, const std::string& from, const std::string& to) {
  std::string out;
  size_t pos = 0;
  for (size_t p; (p = s.find(from, pos)) != std::string::npos; pos = p + from.size())
    out.append(s, pos, p - pos).append(to);
  return out.append(s, pos, std::string::npos);
}

// lm-eval's hellaswag preprocess().
std::string hellaswag_clean(std::string t) {
  const auto b = t.find_first_not_of(" \t\n\r"), e = t.find_last_not_of(" \t\n\r");
  t = b == std::string::npos ? "" : t.substr(b, e - b + 1);
  t = replace_all(t, " [title]", ". ");
  t = std::regex_replace(t, std::regex("\\[.*?\\]"), "");
  return replace_all(t, "  ", " ");
}

std::string capitalize(std::string s) {  // Python's str.capitalize() on ASCII
  for (size_t i = 0; i < s.size(); ++i)
    s[i] = static_cast<char>(i ? std::tolower(static_cast<unsigned char>(s[i]))
                               : std::toupper(static_cast<unsigned char>(s[i])));
  return s;
}

std::string str(const json& j, const char* k, int line, const std::string& src) {
  if (!j.contains(k) || !j[k].is_string()) fail("{}:{}: '{}' must be a string", src, line, k);
  return j[k].get<std::string>();
}

std::vector<std::string> strings(const json& a, const char* k, int line, const std::string& src) {
  if (!a.is_array() || a.size() < 2)
    fail("{}:{}: '{}' must be an array of at least 2 strings", src, line, k);
  std::vector<std::string> out;
  for (const auto& x : a) {
    if (!x.is_string()) fail("{}:{}: '{}' holds a non-string", src, line, k);
    out.push_back(x.get<std::string>());
  }
  return out;
}

int index_of(const json& j, const char* k, int line, const std::string& src) {
  if (j.contains(k) && j[k].is_number_integer()) return j[k].get<int>();
  if (j.contains(k) && j[k].is_string()) {
    const std::string s = j[k].get<std::string>();
    if (!s.empty() && s.size() < 9 && std::all_of(s.begin(), s.end(), ::isdigit))
      return std::stoi(s);
  }
  fail("{}:{}: '{}' must be a choice index", src, line, k);
}

// One layout per row: the sllm schema or one of the published ones, by its keys.
ChoiceItem parse_item(const json& j, int line, const std::string& src) {
  ChoiceItem it;
  it.line = line;
  if (j.contains("context")) {
    it.context = str(j, "context", line, src);
    it.choices = strings(j.value("choices", json()), "choices", line, src);
    it.gold = index_of(j, "gold", line, src);
    if (j.contains("target_delimiter")) it.delimiter = str(j, "target_delimiter", line, src);
  } else if (j.contains("endings")) {  // HellaSwag
    const std::string ctx =
        str(j, "ctx_a", line, src) + " " + capitalize(str(j, "ctx_b", line, src));
    it.context = hellaswag_clean(str(j, "activity_label", line, src) + ": " + ctx);
    for (auto& e : strings(j["endings"], "endings", line, src))
      it.choices.push_back(hellaswag_clean(e));
    it.gold = index_of(j, "label", line, src);
  } else if (j.contains("answerKey")) {  // ARC
    const json& c = j.value("choices", json());
    if (!c.is_object()) fail("{}:{}: ARC 'choices' must be {{\"text\", \"label\"}}", src, line);
    it.context = "Question: " + str(j, "question", line, src) + "\nAnswer:";
    it.choices = strings(c.value("text", json()), "choices.text", line, src);
    const auto labels = strings(c.value("label", json()), "choices.label", line, src);
    const auto pos = std::find(labels.begin(), labels.end(), str(j, "answerKey", line, src));
    if (pos == labels.end()) fail("{}:{}: 'answerKey' is not one of the labels", src, line);
    it.gold = static_cast<int>(pos - labels.begin());
    if (labels.size() != it.choices.size())
      fail("{}:{}: ARC choices have {} texts and {} labels", src, line, it.choices.size(),
           labels.size());
  } else if (j.contains("answer") && j.contains("question")) {  // MMLU
    const auto opts = strings(j.value("choices", json()), "choices", line, src);
    if (opts.size() > 26) fail("{}:{}: more than 26 choices", src, line);
    std::string q = str(j, "question", line, src);
    const auto b = q.find_first_not_of(" \t\n\r"), e = q.find_last_not_of(" \t\n\r");
    it.context = b == std::string::npos ? "" : q.substr(b, e - b + 1);
    for (size_t i = 0; i < opts.size(); ++i) {
      const std::string letter(1, static_cast<char>('A' + i));
      it.context += "\n" + letter + ". " + opts[i];
      it.choices.push_back(letter);
    }
    it.context += "\nAnswer:";
    it.gold = index_of(j, "answer", line, src);
    if (j.contains("subject") && j["subject"].is_string()) {
      std::string s = j["subject"].get<std::string>();
      std::replace(s.begin(), s.end(), '_', ' ');
      it.description =
          "The following are multiple choice questions (with answers) about " + s + ".\n\n";
    }
  } else {
    fail(
        "{}:{}: not a task row: expected 'context'/'choices'/'gold' (or a HellaSwag, ARC or "
        "MMLU row)",
        src, line);
  }
  if (it.gold < 0 || it.gold >= static_cast<int>(it.choices.size()))
    fail("{}:{}: gold answer {} is not one of the {} choices", src, line, it.gold,
         it.choices.size());
  return it;
}

double stderr_of(const std::vector<double>& x) {  // lm-eval's mean_stderr
  const size_t n = x.size();
  if (n < 2) return NAN;
  double mu = 0, ss = 0;
  for (double v : x) mu += v / n;
  for (double v : x) ss += (v - mu) * (v - mu);
  return std::sqrt(ss / (n - 1)) / std::sqrt(static_cast<double>(n));
}

}  // namespace

std::vector<ChoiceItem> parse_task_jsonl(std::string_view contents, const std::string& src) {
  std::vector<ChoiceItem> out;
  for_each_line(contents, [&](std::string_view l, int line) {
    const json j = json::parse(l, nullptr, false);
    if (j.is_discarded() || !j.is_object()) fail("{}:{}: not a JSON object", src, line);
    out.push_back(parse_item(j, line, src));
  });
  return out;
}

std::vector<ChoiceItem> read_task_jsonl(const std::string& path) {
  auto items = parse_task_jsonl(read_file(path), path);
  if (items.empty()) fail("task file {} holds no items", path);
  return items;
}

std::vector<std::vector<ChoiceRequest>> choice_requests(const std::vector<ChoiceItem>& items,
                                                        const Tokenizer& tok,
                                                        const ChoiceOptions& opt) {
  if (opt.fewshot < 0 || static_cast<size_t>(opt.fewshot) >= items.size())
    fail("--fewshot {} leaves no item to score of {}", opt.fewshot, items.size());
  std::string shots;
  for (int i = 0; i < opt.fewshot; ++i)
    shots += items[i].context + items[i].delimiter + items[i].choices[items[i].gold] + "\n\n";
  std::vector<std::vector<ChoiceRequest>> out;
  for (size_t i = opt.fewshot; i < items.size(); ++i) {
    const ChoiceItem& it = items[i];
    std::string ctx = it.description + shots + it.context;
    std::vector<ChoiceRequest> reqs;
    for (const std::string& c : it.choices) {
      // lm-eval's _encode_pair: the context's trailing spaces move to the continuation.
      std::string context = ctx, cont = it.delimiter + c;
      const size_t keep = context.find_last_not_of(" \t\n\r\f\v") + 1;
      cont = context.substr(keep) + cont;
      context.resize(keep);
      const auto whole = tok.encode(context + cont, false);
      ChoiceRequest r;
      r.context = tok.encode(context, false);
      if (r.context.size() >= whole.size() ||
          !std::equal(r.context.begin(), r.context.end(), whole.begin()))
        fail("task item at line {}: the choice's tokens do not extend the context's", it.line);
      r.continuation.assign(whole.begin() + r.context.size(), whole.end());
      r.choice_bytes = c.size();
      reqs.push_back(std::move(r));
    }
    out.push_back(std::move(reqs));
  }
  return out;
}

void choice_metrics(const std::vector<std::vector<double>>& ll,
                    const std::vector<std::vector<size_t>>& bytes, const std::vector<int>& gold,
                    ChoiceResult& r) {
  std::vector<double> acc, norm;
  for (size_t i = 0; i < ll.size(); ++i) {
    size_t best = 0, best_n = 0;
    for (size_t c = 1; c < ll[i].size(); ++c) {
      if (ll[i][c] > ll[i][best]) best = c;
      if (ll[i][c] / bytes[i][c] > ll[i][best_n] / bytes[i][best_n]) best_n = c;
    }
    acc.push_back(static_cast<int>(best) == gold[i]);
    norm.push_back(static_cast<int>(best_n) == gold[i]);
  }
  r.n = ll.size();
  r.acc = r.acc_norm = 0;
  for (size_t i = 0; i < r.n; ++i) r.acc += acc[i] / r.n, r.acc_norm += norm[i] / r.n;
  r.acc_stderr = stderr_of(acc);
  r.acc_norm_stderr = stderr_of(norm);
}

ChoiceResult score_choices(InferenceModel& model, const std::vector<ChoiceItem>& items,
                           const Tokenizer& tok, const ChoiceOptions& opt) {
  if (opt.batch < 1) fail("--batch {} must be >= 1", opt.batch);
  const auto reqs = choice_requests(items, tok, opt);
  const int L = model.config().block_size, V = model.config().vocab_size;
  struct Flat {
    size_t item, choice;
    std::vector<int32_t> input;  // what the model reads
    size_t cont;                 // continuation tokens: the last `cont` of full
    std::vector<int32_t> full;
  };
  std::vector<Flat> flat;
  ChoiceResult r;
  std::vector<std::vector<size_t>> bytes;
  std::vector<int> gold;
  for (size_t i = 0; i < reqs.size(); ++i) {
    r.loglikelihoods.emplace_back(reqs[i].size(), 0.0);
    bytes.emplace_back();
    gold.push_back(items[opt.fewshot + i].gold);
    for (size_t c = 0; c < reqs[i].size(); ++c) {
      const ChoiceRequest& q = reqs[i][c];
      bytes.back().push_back(std::max<size_t>(q.choice_bytes, 1));
      if (q.continuation.size() > static_cast<size_t>(L))
        fail("task item at line {}: choice {} is {} tokens, longer than the model's context {}",
             items[opt.fewshot + i].line, c + 1, q.continuation.size(), L);
      Flat f{i, c, {}, q.continuation.size(), q.context};
      f.full.insert(f.full.end(), q.continuation.begin(), q.continuation.end());
      const size_t start = f.full.size() > static_cast<size_t>(L) + 1 ? f.full.size() - L - 1 : 0;
      f.input.assign(f.full.begin() + start, f.full.end() - 1);
      flat.push_back(std::move(f));
    }
  }
  std::vector<float> logits;
  for (size_t b = 0; b < flat.size(); b += opt.batch) {
    const size_t n = std::min<size_t>(opt.batch, flat.size() - b);
    std::vector<KVCache> caches;
    caches.reserve(n);
    std::vector<InferenceModel::Seq> seqs;
    for (size_t k = 0; k < n; ++k) {
      caches.push_back(model.new_cache(static_cast<int>(flat[b + k].input.size())));
      seqs.push_back({&caches.back(), flat[b + k].input});
    }
    model.forward_batch(seqs, logits, true);
    size_t row = 0;
    for (size_t k = 0; k < n; ++k) {
      const Flat& f = flat[b + k];
      const size_t len = f.input.size();
      double ll = 0;
      for (size_t t = len - f.cont; t < len; ++t) {
        const float* z = logits.data() + (row + t) * V;
        const float mx = *std::max_element(z, z + V);
        double s = 0;
        for (int v = 0; v < V; ++v) s += std::exp(static_cast<double>(z[v]) - mx);
        ll += z[f.full[f.full.size() - len - 1 + t + 1]] - mx - std::log(s);
      }
      r.loglikelihoods[f.item][f.choice] = ll;
      row += len;
    }
  }
  choice_metrics(r.loglikelihoods, bytes, gold, r);
  return r;
}

nlohmann::json lm_eval_results(const std::string& task, const ChoiceResult& r, int fewshot) {
  auto num = [](double x) { return std::isfinite(x) ? json(x) : json(nullptr); };
  json t = {{"alias", task},
            {"acc,none", r.acc},
            {"acc_stderr,none", num(r.acc_stderr)},
            {"acc_norm,none", r.acc_norm},
            {"acc_norm_stderr,none", num(r.acc_norm_stderr)},
            {"acc", r.acc},
            {"acc_stderr", num(r.acc_stderr)},
            {"acc_norm", r.acc_norm},
            {"acc_norm_stderr", num(r.acc_norm_stderr)}};
  return {{"results", {{task, t}}},
          {"n-shot", {{task, fewshot}}},
          {"n-samples", {{task, {{"original", r.n}, {"effective", r.n}}}}},
          {"higher_is_better", {{task, {{"acc", true}, {"acc_norm", true}}}}}};
}

}  // namespace sllm
