#include "sllm/adapt/distill.h"

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sllm/adapt/finetune.h"
#include "sllm/common/error.h"
#include "sllm/common/runtime.h"
#include "sllm/format/model_dir.h"
#include "sllm/io/file.h"
#include "sllm/tokenizer/fingerprint.h"

namespace sllm {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The teacher's top-k logits for every training row.
TeacherCache build_teacher_cache(Model& teacher, const PackedSequences& rows, int k,
                                 const std::string& teacher_name, const std::string& tok_fp) {
  TeacherCache c;
  c.vocab_size = teacher.config().vocab_size;
  c.k = k;
  c.T = rows.T;
  c.rows = rows.rows;
  c.inputs = rows.inputs;
  c.targets = rows.targets;
  c.teacher = teacher_name;
  c.tokenizer = tok_fp;
  c.ids.resize(c.inputs.size() * k);
  c.logits.resize(c.inputs.size() * k);
  const int B = 8;
  for (size_t r = 0; r < rows.rows; r += B) {
    const int b = static_cast<int>(std::min<size_t>(B, rows.rows - r));
    teacher.forward(rows.row_inputs(r), nullptr, b, rows.T);
    const size_t off = r * rows.T * k;
    topk_logits(teacher.logits(), b * rows.T, c.vocab_size, k, c.ids.data() + off,
                c.logits.data() + off);
  }
  return c;
}

}  // namespace

StudentShape StudentShape::parse(const std::string& spec) {
  StudentShape s;
  std::istringstream in(spec);
  for (std::string item; std::getline(in, item, ',');) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos)
      fail("student shape '{}': expected key=value items, got '{}'", spec, item);
    const std::string key = item.substr(0, eq), val = item.substr(eq + 1);
    int v = 0;
    try {
      size_t used = 0;
      v = std::stoi(val, &used);
      if (used != val.size()) throw std::invalid_argument(val);
    } catch (const std::logic_error&) {
      fail("student shape '{}': '{}' is not an integer", spec, val);
    }
    if (key == "layers")
      s.n_layer = v;
    else if (key == "embd")
      s.n_embd = v;
    else if (key == "heads")
      s.n_head = v;
    else if (key == "kv_heads")
      s.n_kv_head = v;
    else if (key == "ffn")
      s.intermediate_size = v;
    else
      fail("student shape '{}': unknown key '{}' (layers, embd, heads, kv_heads, ffn)", spec, key);
  }
  return s;
}

ModelConfig StudentShape::apply(const ModelConfig& t) const {
  ModelConfig c = t;
  if (n_layer) c.n_layer = n_layer;
  if (n_embd) {
    c.n_embd = n_embd;
    c.intermediate_size = 0;  // The default width for the new embedding size.
  }
  if (n_head) c.n_head = n_head;
  c.n_kv_head = n_kv_head ? n_kv_head : (n_head ? c.n_head : c.n_kv_head);
  if (intermediate_size) c.intermediate_size = intermediate_size;
  c.validate();
  return c;
}

DistillResult run_distill(const DistillConfig& cfg) {
  if (cfg.mode != "logits" && cfg.mode != "synthetic" && cfg.mode != "ce")
    fail("unknown distillation mode '{}' (expected logits, synthetic or ce)", cfg.mode);
  if (cfg.out.empty()) fail("distill: an output folder is needed");
  if (cfg.teacher.empty()) fail("distill: a teacher model is needed (--teacher)");
  cfg.loss.validate();

  TrainableModel teacher = load_trainable_model(cfg.teacher);
  TrainableModel student;
  if (!cfg.student.empty()) {
    student = load_trainable_model(cfg.student);
    check_same_tokenizer(*teacher.tokenizer, "teacher " + cfg.teacher, *student.tokenizer,
                         "student " + cfg.student);
    if (student.model->config().vocab_size != teacher.model->config().vocab_size)
      fail("teacher {} and student {} have different vocabulary sizes ({} vs {})", cfg.teacher,
           cfg.student, teacher.model->config().vocab_size, student.model->config().vocab_size);
  } else {
    student.model = std::make_unique<Model>(cfg.shape.apply(teacher.model->config()));
    student.model->init_weights(cfg.loop.seed);
    student.tokenizer = teacher.tokenizer;
  }
  const Tokenizer& tok = *teacher.tokenizer;
  const int block =
      std::min(teacher.model->config().block_size, student.model->config().block_size);
  const int T = cfg.seq_len > 0 ? cfg.seq_len : block;
  if (T > block)
    fail("sequence length {} exceeds the block size {} of teacher or student", T, block);

  if (cfg.data.empty()) fail("distill: training data is needed (--data)");
  PackedSequences train, val;
  load_train_val_rows(cfg.data, cfg.val_data, cfg.val_fraction, tok, cfg.chat_template, T, train,
                      val);
  make_dirs(cfg.out);

  DistillResult res;
  res.student_params = student.model->params().size();
  res.teacher_params = teacher.model->params().size();
  auto learner = std::make_unique<Learner>(*student.model, nullptr);
  const int B = cfg.loop.batch_size;
  const uint64_t seed = cfg.loop.seed;
  const std::string fp = tokenizer_fingerprint(tok);
  TeacherCache cache;
  std::unique_ptr<BatchSource> batches;
  PackedSequences synthetic;
  auto t0 = std::chrono::steady_clock::now();
  if (cfg.mode == "logits" && !cfg.teacher_cache.empty()) {
    if (file_exists(cfg.teacher_cache)) {
      cache = load_teacher_cache(cfg.teacher_cache);
      if (cache.tokenizer != fp)
        fail("teacher cache {} was made with another tokenizer than teacher {}", cfg.teacher_cache,
             cfg.teacher);
      if (cache.vocab_size != student.model->config().vocab_size || cache.T > block)
        fail("teacher cache {} (vocab {}, length {}) does not fit the student (vocab {}, block {})",
             cfg.teacher_cache, cache.vocab_size, cache.T, student.model->config().vocab_size,
             block);
    } else {
      cache = build_teacher_cache(*teacher.model, train, cfg.topk, cfg.teacher, fp);
      save_teacher_cache(cfg.teacher_cache, cache);
    }
    learner->set_distillation({}, cfg.loss);
    batches = std::make_unique<RowBatches>(cache, B, seed);
  } else if (cfg.mode == "logits") {
    Model* t = teacher.model.get();
    if (t->config().vocab_size != student.model->config().vocab_size)
      fail(
          "teacher and student vocabularies differ ({} vs {} tokens): they must share the "
          "tokenizer",
          t->config().vocab_size, student.model->config().vocab_size);
    learner->set_distillation(
        [t](const int32_t* tokens, int b, int len) {
          t->forward(tokens, nullptr, b, len);
          return t->logits();
        },
        cfg.loss);
    batches = std::make_unique<RowBatches>(train, B, seed);
  } else if (cfg.mode == "synthetic") {
    const std::string corpus_path = cfg.out + "/synthetic.txt";
    std::string text;
    if (cfg.loop.resume && file_exists(corpus_path)) {
      text = read_file(corpus_path);  // The interrupted run's corpus: the same text.
    } else {
      const std::vector<Prompt> prompts = read_prompts(cfg.synthetic.prompts);
      if (!cfg.generator)
        fail("synthetic distillation needs a text generator for teacher {}", cfg.teacher);
      const SyntheticCorpus corpus = synthesize_corpus(*cfg.generator, tok, prompts, cfg.synthetic);
      res.synthetic_tokens = corpus.generated_tokens;
      text = corpus.text;
      write_file_atomic(corpus_path, text);
    }
    synthetic = pack_tokens(tok.encode(text), T);
    if (synthetic.rows == 0) fail("the teacher's synthetic corpus is too short to train on");
    batches = std::make_unique<RowBatches>(synthetic, B, seed);
  } else {
    batches = std::make_unique<RowBatches>(train, B, seed);
  }
  res.teacher_seconds = cfg.mode == "logits" && cfg.teacher_cache.empty() ? 0.0 : seconds_since(t0);
  if (cfg.mode != "logits" || !cfg.teacher_cache.empty())
    teacher.model.reset();  // Free it for training.

  AdaptTraining t{"sllm distill", cfg.loop, cfg.eval_rows, {}};
  t.cfg.out = cfg.out;
  t.settings = {{"mode", cfg.mode},
                {"teacher", cfg.teacher},
                {"student", cfg.student},
                {"student_config", student.model->config().to_json()},
                {"data", cfg.data},
                {"val_data", cfg.val_data},
                {"chat_template", cfg.chat_template},
                {"seq_len", T},
                {"val_fraction", cfg.val_fraction},
                {"temperature", cfg.loss.temperature},
                {"alpha", cfg.loss.alpha},
                {"reverse_kl", cfg.loss.reverse_kl},
                {"teacher_cache", cfg.teacher_cache},
                {"topk", cfg.topk}};
  res.loop = run_adapt_training(t, std::move(learner), std::move(batches), val, student.tokenizer);
  nlohmann::json summary = {{"mode", cfg.mode},
                            {"teacher", cfg.teacher},
                            {"teacher_params", res.teacher_params},
                            {"student_params", res.student_params},
                            {"student_config", student.model->config().to_json()},
                            {"temperature", cfg.loss.temperature},
                            {"alpha", cfg.loss.alpha},
                            {"reverse_kl", cfg.loss.reverse_kl},
                            {"teacher_cache", cfg.teacher_cache},
                            {"teacher_seconds", res.teacher_seconds},
                            {"synthetic_tokens", res.synthetic_tokens},
                            {"steps", res.loop.steps},
                            {"tokens", res.loop.tokens},
                            {"train_seconds", res.loop.seconds},
                            {"final_val_loss", res.loop.final_val_loss},
                            {"peak_rss_bytes", peak_rss_bytes()}};
  write_file_atomic(cfg.out + "/distill.json", summary.dump(2) + "\n");
  return res;
}

}  // namespace sllm
