// Checkpoints: an sllm model directory plus the training state, crash-safe.
//
// save_checkpoint(OUT, ...) writes every file of step S into OUT/checkpoints/step-0000000S/
// (config.json, model.safetensors, tokenizer.sllmtok, train_state.safetensors with AdamW's
// moments, train_state.json with the step, data position, train args and the checksums of the
// two safetensors files), each atomically, and writes that folder's manifest.json (magic,
// version, size and XXH64 of every file) last. Only then does it publish the files into OUT
// itself as hard links (link + rename), manifest.json last, and delete older step folders.
// The manifest in OUT always names a complete step folder, so a kill -9 at any moment leaves
// the previous checkpoint loadable, and OUT is itself a model directory for `sllm generate`.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "sllm/model/config.h"
#include "sllm/model/model.h"
#include "sllm/model/optimizer.h"
#include "sllm/model/train_backend.h"
#include "sllm/tokenizer/tokenizer.h"

namespace sllm {

inline constexpr const char* kCheckpointMagic = "sllm-checkpoint";
inline constexpr const char* kTrainStateMagic = "sllm-train-state";
inline constexpr int kCheckpointVersion = 1;

// extra: the caller's part of train_state.json (data position, train args, ...). keep: how
// many step folders to keep (at least 1). trained: the tensors opt belongs to when they are not
// the model's parameters (LoRA adapters); train_state.safetensors then holds them
// ("trained.NAME") with their moments.
void save_checkpoint(const std::string& out, int step, const Model& model, const Tokenizer& tok,
                     const AdamWState& opt, const AdamWParams& hyper, const nlohmann::json& extra,
                     int keep = 2, const TrainedTensors* trained = nullptr);

// A checkpoint whose files have been verified (sizes and checksums against the manifest, magic
// and version of the manifest and train_state.json). Throws sllm::Error naming the file and
// the defect.
class Checkpoint {
 public:
  explicit Checkpoint(const std::string& path);  // OUT, or one of its step folders.

  const std::string& dir() const { return dir_; }  // The folder the files are read from.
  int step() const { return step_; }
  const nlohmann::json& train_state() const { return state_; }
  const ModelConfig& model_config() const { return config_; }
  std::unique_ptr<Tokenizer> tokenizer() const;
  void load_model(Model& model) const;
  void load_optimizer(const Model& model, AdamWState& opt) const;
  // The trained tensors and their moments, as save_checkpoint(..., trained) wrote them.
  void load_trained(TrainedTensors& trained, AdamWState& opt) const;

 private:
  std::string dir_;
  int step_ = 0;
  nlohmann::json state_;
  ModelConfig config_;
};

// The newest checkpoint of OUT after publishing it again into OUT (repairs a publication a
// crash interrupted). Throws like Checkpoint.
Checkpoint reopen_for_resume(const std::string& out);

}  // namespace sllm
