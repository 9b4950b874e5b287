// `--resume [latest-valid]`, shared by `sllm train`, `sllm finetune` and `sllm distill`.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "sllm/train/trainer.h"

namespace sllm::cli {

inline void add_resume_option(CLI::App& app, TrainConfig& c, const std::string& help) {
  app.add_option_function<std::string>(
         "--resume",
         [&c](const std::string& from) {
           c.resume = true;
           c.resume_latest_valid = from == "latest-valid";
         },
         help +
             "; with latest-valid, from the newest checkpoint that verifies (a checkpoints/step-N "
             "folder when the published checkpoint is missing or damaged)")
      ->expected(0, 1)
      ->default_str("last")  // The bare flag: the published checkpoint.
      ->type_name("[latest-valid]")
      ->check(CLI::IsMember({"last", "latest-valid"}));
}

}  // namespace sllm::cli
