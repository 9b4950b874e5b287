// The GPU trainer's checkpoint and resume logic without a GPU: DeviceBackend (the backend
// `sllm train --device cuda` uses around CudaModel) driven by the Trainer over a CPU stand-in
// with CudaModel's interface. A run stopped after a checkpoint and resumed logs the same
// losses as an uninterrupted one, and its weights and AdamW state round-trip through the host.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "sllm/cuda/device_backend.h"
#include "sllm/format/model_dir.h"
#include "sllm/io/file.h"
#include "sllm/train/checkpoint.h"
#include "sllm/train/checksum.h"
#include "sllm/train/trainer.h"
#include "test_arch.h"
#include "test_util.h"

using namespace sllm;

namespace {

// CudaModel's training interface on the CPU: its own Model and AdamW moments, reachable only
// through the calls a device allows (as the GPU's memory is).
class CpuDevice {
 public:
  explicit CpuDevice(const ModelConfig& c) : m_(c) {}
  float forward(const int32_t* tok, const int32_t* tgt, int B, int T) {
    return m_.forward(tok, tgt, B, T);
  }
  void backward(float scale) { m_.backward(scale); }
  void zero_grad() { m_.zero_grad(); }
  float grad_norm() { return sllm::grad_norm(m_); }
  void adamw_step(const AdamWParams& h, int64_t t) {
    AdamWState s{std::move(mo_), std::move(vo_), t - 1};
    sllm::adamw_step(m_, s, h);
    mo_ = std::move(s.m);
    vo_ = std::move(s.v);
  }
  void set_params(std::span<const float> p) { std::copy(p.begin(), p.end(), m_.params().begin()); }
  void get_params(std::span<float> p) const {
    std::copy(m_.params().begin(), m_.params().end(), p.begin());
  }
  void get_adam_state(std::vector<float>& m, std::vector<float>& v) const {
    const size_t n = m_.params().size();
    m = mo_.empty() ? std::vector<float>(n, 0.0f) : mo_;
    v = vo_.empty() ? std::vector<float>(n, 0.0f) : vo_;
  }
  void set_adam_state(std::span<const float> m, std::span<const float> v) {
    mo_.assign(m.begin(), m.end());
    vo_.assign(v.begin(), v.end());
  }

 private:
  Model m_;
  std::vector<float> mo_, vo_;
};

TrainHooks device_hooks() {
  TrainHooks h;
  h.make_backend = [](std::unique_ptr<Model> host) -> std::unique_ptr<TrainBackend> {
    auto dev = std::make_unique<CpuDevice>(host->config());
    return std::make_unique<cuda::DeviceBackend<CpuDevice>>(std::move(host), std::move(dev),
                                                            "cpu stand-in");
  };
  return h;
}

TrainConfig tiny(const test::TempDir& dir, const std::string& out) {
  TrainConfig c;
  set_arch(c.model, Arch::Llama);
  c.model.n_layer = 1;
  c.model.n_head = 2;
  c.model.n_kv_head = 1;
  c.model.n_embd = 16;
  c.model.block_size = 16;
  c.tokenizer = "byte";
  c.data = dir.file("corpus.txt");
  if (!file_exists(c.data)) {
    std::string text;
    for (int i = 0; i < 300; ++i) text += "the cat sat on the mat and the dog saw it. ";
    write_file_atomic(c.data, text);
  }
  c.out = dir.file(out);
  c.batch_size = 4;
  c.max_iters = 8;
  c.lr = 1e-2f;
  c.min_lr = 1e-3f;
  c.warmup_iters = 2;
  c.eval_interval = 2;
  c.eval_iters = 2;
  c.sample_tokens = 8;
  c.threads = 1;
  c.peak_gflops = 1;
  c.quiet = true;
  return c;
}

std::vector<std::string> losses_of(const std::string& out) {
  std::vector<std::string> v;
  std::ifstream in(out + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    v.push_back(j["step"].dump() + " " + (j.contains("loss") ? j["loss"].dump() : "-") + " " +
                (j.contains("val_loss") ? j["val_loss"].dump() : "-"));
  }
  return v;
}

}  // namespace

TEST(CudaTrainer, DeviceBackendResumesBitExactlyOnACpuStandIn) {
  test::TempDir dir;
  const TrainConfig full = tiny(dir, "full");
  const TrainResult a = train(full, device_hooks());
  EXPECT_EQ(a.steps, 8);
  EXPECT_TRUE(file_exists(full.out + "/samples.txt"));  // Samples read the host weights.

  TrainConfig first = tiny(dir, "resumed");
  TrainHooks stop = device_hooks();
  stop.on_step = [](const StepRecord& r) { return r.step + 1 < 5; };  // Checkpoint at step 5.
  train(first, std::move(stop));
  EXPECT_EQ(Checkpoint(first.out).step(), 5);
  TrainConfig rest = saved_train_config(first.out);
  rest.quiet = true;
  const TrainResult b = train(rest, device_hooks());
  EXPECT_EQ(b.steps, 8);
  EXPECT_EQ(losses_of(full.out), losses_of(first.out));
  // Weights and AdamW moments came back from the device whole.
  EXPECT_EQ(file_checksum_hex(full.out + "/model.safetensors"),
            file_checksum_hex(first.out + "/model.safetensors"));
  EXPECT_EQ(file_checksum_hex(full.out + "/train_state.safetensors"),
            file_checksum_hex(first.out + "/train_state.safetensors"));
}

TEST(CudaTrainer, InitFromStartsTheDeviceWithTheSavedWeights) {
  test::TempDir dir;
  TrainConfig base = tiny(dir, "base");
  base.max_iters = 2;
  train(base, device_hooks());
  TrainConfig c = tiny(dir, "from");
  c.init_from = base.out;
  c.max_iters = 0;
  Trainer t(c, device_hooks());
  t.backend().to_host();
  const TrainableModel saved = load_trainable_model(base.out);
  EXPECT_TRUE(std::equal(saved.model->params().begin(), saved.model->params().end(),
                         t.model().params().begin()));
}
