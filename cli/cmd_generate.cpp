// sllm generate: stream text from any model sllm loads (sllm model directory, GGUF,
// Hugging Face safetensors folder, llama2.c checkpoint), with the full sampling suite, stop
// strings, chat templates and JSON-constrained output. Reports speed and peak RSS on stderr.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "model_flags.h"
#include "sllm/common/error.h"
#include "sllm/common/runtime.h"
#include "sllm/format/model_tokenizer.h"
#include "sllm/infer/generate.h"
#include "sllm/infer/json_grammar.h"
#include "sllm/io/file.h"
#include "sllm/quant/quant.h"
#include "sllm/tokenizer/chat.h"

namespace {

std::map<int32_t, float> parse_logit_bias(const std::vector<std::string>& items) {
  std::map<int32_t, float> out;
  for (const auto& it : items) {
    const size_t eq = it.find('=');
    if (eq == std::string::npos) sllm::fail("--logit-bias '{}' must look like ID=BIAS", it);
    try {
      out[std::stoi(it.substr(0, eq))] = std::stof(it.substr(eq + 1));
    } catch (const std::exception&) {
      sllm::fail("--logit-bias '{}' must look like ID=BIAS (e.g. 13=-100)", it);
    }
  }
  return out;
}

int run_generate(int argc, char** argv) {
  CLI::App app{
      "Generate text from a model (sllm directory, .gguf, HF safetensors folder, llama2.c .bin)"};
  sllm::cli::ModelFlags m;
  std::string prompt, system, template_name, schema_file;
  std::vector<std::string> stops, biases;
  int ctx = 0;
  bool chat = false, json_mode = false, ignore_eos = false;
  sllm::GenerateOptions opt;
  sllm::SamplingParams& sp = opt.sampling;
  m.add_to(app, "store weights as f32, q8_0, q4_0, q4_1, q2_k..q6_k or iq4_xs at load");
  app.add_option("--prompt,-p", prompt, "prompt text (with --chat: the user message)");
  app.add_option("--max-tokens,-n", opt.max_tokens, "tokens to generate")->capture_default_str();
  app.add_option("--temperature,-t", sp.temperature, "0 = greedy")->capture_default_str();
  app.add_option("--top-k", sp.top_k, "keep the k most likely tokens (0 = off)")
      ->capture_default_str();
  app.add_option("--top-p", sp.top_p, "nucleus sampling mass")->capture_default_str();
  app.add_option("--min-p", sp.min_p, "drop tokens below min-p x the top probability")
      ->capture_default_str();
  app.add_option("--repeat-penalty", sp.repetition_penalty, "CTRL repetition penalty (1 = off)")
      ->capture_default_str();
  app.add_option("--presence-penalty", sp.presence_penalty, "")->capture_default_str();
  app.add_option("--frequency-penalty", sp.frequency_penalty, "")->capture_default_str();
  app.add_option("--repeat-last-n", sp.penalty_last_n, "penalty window (-1 = all)")
      ->capture_default_str();
  app.add_option("--logit-bias", biases, "ID=BIAS, repeatable");
  app.add_option("--seed,-s", sp.seed, "random seed (same seed, same text)")->capture_default_str();
  app.add_option("--stop", stops, "stop string, repeatable");
  app.add_flag("--ignore-eos", ignore_eos, "keep going past the end-of-text token");
  app.add_option("--ctx,-c", ctx,
                 "context (KV cache) size; default: prompt + max-tokens, capped at the model's");
  app.add_flag("--chat", chat, "wrap the prompt in the model's chat template");
  app.add_option("--system", system, "system message for --chat");
  app.add_option(
      "--template", template_name,
      "chat template: chatml, llama2, llama3, zephyr or a .jinja file (default: the model's own)");
  app.add_flag("--json", json_mode, "constrain the output to one JSON value");
  app.add_option("--schema", schema_file, "constrain the output to this JSON schema (file)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto model = m.load();
  auto tok = sllm::model_tokenizer(model->files());
  sp.logit_bias = parse_logit_bias(biases);
  opt.stop = stops;
  opt.stop_at_eos = !ignore_eos;

  std::string text = prompt;
  if (chat) {
    const auto t = sllm::model_chat_template(model->files().chat_template, *tok, template_name);
    std::vector<sllm::ChatMessage> msgs;
    if (!system.empty()) msgs.push_back({"system", system});
    msgs.push_back({"user", prompt});
    text = t.apply(msgs);
    for (auto& s : t.stop_strings()) opt.stop.push_back(s);
  }
  if (!schema_file.empty()) {
    opt.constraint = sllm::json_schema_constraint(sllm::read_file(schema_file));
  } else if (json_mode) {
    opt.constraint = sllm::json_constraint();
  }
  std::vector<int32_t> ids =
      sllm::encode_prompt(*tok, text, model->files().vocab.add_bos || tok->drops_leading_space());
  if (ids.empty()) {
    if (tok->bos_id() < 0)
      sllm::fail("the prompt is empty and the tokenizer has no BOS token to start from");
    ids.push_back(tok->bos_id());
  }
  const int block = model->config().block_size;
  if (static_cast<int>(ids.size()) > block)
    sllm::fail("the prompt has {} tokens but the model's context is {}", ids.size(), block);
  if (ctx <= 0) ctx = std::min<int>(block, static_cast<int>(ids.size()) + opt.max_tokens);
  if (ctx > block) sllm::fail("--ctx {} exceeds the model's context of {}", ctx, block);
  sllm::KVCache cache = model->new_cache(ctx);

  std::fputs(prompt.c_str(), stdout);
  std::fflush(stdout);
  sllm::GenerateStats st;
  std::string reason;
  sllm::generate(
      *model, *tok, ids, opt, cache,
      [](std::string_view s) {
        std::fwrite(s.data(), 1, s.size(), stdout);
        std::fflush(stdout);
      },
      &st, &reason);
  std::fputc('\n', stdout);
  std::fprintf(stderr,
               "[%s, %s weights, ctx %d, %s KV cache %.1f MiB] prompt %d tokens in %.3f s (%.1f "
               "tok/s), generated %d tokens in %.3f s (%.1f tok/s), stop: %s, peak RSS %.1f MiB\n",
               model->files().format.c_str(), sllm::weight_type_name(model->weight_type()).c_str(),
               cache.capacity(), sllm::kv_type_name(cache.type()), cache.bytes() / 1048576.0,
               st.prompt_tokens, st.prefill_seconds,
               st.prompt_tokens / std::max(st.prefill_seconds, 1e-9), st.generated_tokens,
               st.decode_seconds,
               std::max(0, st.generated_tokens - 1) / std::max(st.decode_seconds, 1e-9),
               reason.c_str(), sllm::peak_rss_bytes() / 1048576.0);
  return 0;
}

sllm::cli::Registrar reg("generate", "generate text from a model (sampling, chat, JSON mode)",
                         run_generate);

}  // namespace
