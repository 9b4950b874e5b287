// sllm distill: teach a small student from a big teacher that shares its tokenizer.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "adapt_options.h"
#include "command.h"
#include "inference_teacher.h"
#include "sllm/adapt/distill.h"
#include "sllm/common/runtime.h"
#include "sllm/format/model_dir.h"

namespace {

int run_distill_cmd(int argc, char** argv) {
  CLI::App app{
      "Distill a teacher into a student: logit distillation (on the fly or from a top-k cache), "
      "synthetic data the teacher writes, or the student alone (ce) as a baseline."};
  sllm::DistillConfig c;  // Defaults: TrainConfig::defaults(TrainMode::Distill).
  std::string shape;
  app.add_option("--teacher", c.teacher, "Teacher model (any format sllm imports)")->required();
  app.add_option("--student", c.student, "Student model to start from (same tokenizer)");
  app.add_option("--student-shape", shape,
                 "New student from the teacher's config: layers=2,embd=128,heads=4");
  app.add_option("--mode", c.mode, "logits | synthetic | ce")->capture_default_str();
  app.add_option("--data", c.data,
                 "Training text or .jsonl (logits and ce modes; validation for all)")
      ->required();
  app.add_option("--val-data", c.val_data,
                 "Validation file (default: the last --val-fraction of --data)");
  app.add_option("--val-fraction", c.val_fraction, "Rows of --data held out for validation")
      ->capture_default_str();
  app.add_option("--out", c.out, "Output model directory for the student")->required();
  app.add_option("--chat-template", c.chat_template, "For .jsonl data: chatml | zephyr | plain");
  app.add_option("--seq-len", c.seq_len, "Sequence length (0: the smaller block size)")
      ->capture_default_str();
  app.add_option("--temperature", c.loss.temperature, "KD temperature tau")->capture_default_str();
  app.add_option("--alpha", c.loss.alpha, "Weight of the KD term (1 - alpha: cross-entropy)")
      ->capture_default_str();
  app.add_flag("--reverse-kl", c.loss.reverse_kl,
               "KL(student || teacher) instead of KL(teacher || student)");
  app.add_option("--teacher-cache", c.teacher_cache,
                 "Top-k teacher logits file: read if present, else written");
  app.add_option("--topk", c.topk, "Logits per position in a new cache")->capture_default_str();
  app.add_option("--prompts", c.synthetic.prompts, "synthetic: prompt file, one per line");
  app.add_option("--samples-per-prompt", c.synthetic.samples_per_prompt,
                 "synthetic: generations per prompt")
      ->capture_default_str();
  app.add_option("--gen-tokens", c.synthetic.max_tokens, "synthetic: tokens per generation")
      ->capture_default_str();
  app.add_option("--gen-temperature", c.synthetic.sampling.temperature,
                 "synthetic: sampling temperature")
      ->capture_default_str();
  app.add_option("--gen-top-k", c.synthetic.sampling.top_k, "synthetic: top-k (0: off)")
      ->capture_default_str();
  app.add_option("--gen-top-p", c.synthetic.sampling.top_p, "synthetic: top-p")
      ->capture_default_str();
  app.add_option("--gen-seed", c.synthetic.sampling.seed, "synthetic: sampling seed")
      ->capture_default_str();
  app.add_option("--gen-batch", c.synthetic.batch, "synthetic: sequences generated together")
      ->capture_default_str();
  sllm::cli::add_loop_options(app, c.loop, c.eval_rows);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (c.student.empty() == shape.empty()) {
    std::fprintf(stderr,
                 "sllm distill: give exactly one of --student MODEL and --student-shape SPEC\n");
    return 2;
  }
  if (!shape.empty()) c.shape = sllm::StudentShape::parse(shape);
  sllm::set_num_threads(c.loop.threads);
  // Synthetic data: the teacher runs on the inference engine.
  std::unique_ptr<sllm::cli::InferenceTeacher> generator;
  if (c.mode == "synthetic") {
    generator = std::make_unique<sllm::cli::InferenceTeacher>(
        c.teacher, sllm::load_trainable_model(c.teacher).tokenizer);
    c.generator = generator.get();
  }
  const sllm::DistillResult r = sllm::run_distill(c);
  std::printf(
      "distill (%s): student %zu params, teacher %zu; %d steps, %.0f tokens in %.1fs (+%.1fs "
      "teacher)\n",
      c.mode.c_str(), r.student_params, r.teacher_params, r.loop.steps, r.loop.tokens,
      r.loop.seconds, r.teacher_seconds);
  std::printf("distill: final val loss %.4f; peak RSS %.1f MB; written to %s\n",
              r.loop.final_val_loss, sllm::peak_rss_bytes() / 1048576.0, c.out.c_str());
  return 0;
}

sllm::cli::Registrar reg("distill", "distill a teacher into a smaller student (same tokenizer)",
                         run_distill_cmd);

}  // namespace
