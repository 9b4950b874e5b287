#include "sllm/train/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "sllm/common/error.h"
#include "sllm/format/model_dir.h"
#include "sllm/io/file.h"
#include "sllm/io/safetensors.h"
#include "sllm/train/checksum.h"

namespace sllm {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* const kModelFiles[] = {"config.json", "tokenizer.sllmtok", "model.safetensors"};
const char* const kStateFiles[] = {"train_state.safetensors", "train_state.json"};

// Fault injection for the crash-safety test: SLLM_CRASH_AFTER_CHECKPOINT_WRITES=N kills the
// process with SIGKILL right after the N-th file a checkpoint writes or publishes.
void crash_point() {
  static const long limit = [] {
    const char* e = std::getenv("SLLM_CRASH_AFTER_CHECKPOINT_WRITES");
    return e ? std::atol(e) : 0L;
  }();
  static long count = 0;
  if (limit > 0 && ++count == limit) ::raise(SIGKILL);
}

std::string step_dir_name(int step) {
  return fmt::format("checkpoints/step-{:08d}", step);
}

json file_entry(const std::string& path) {
  MappedFile f(path);
  return {{"size", f.size()}, {"xxh64", checksum_hex(f.data(), f.size())}};
}

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Makes dst the same file as src: a hard link renamed into place (atomic), or an atomic copy
// where the file system has no hard links.
void publish(const std::string& src, const std::string& dst) {
  const std::string tmp = dst + ".tmp.link." + std::to_string(::getpid());
  ::unlink(tmp.c_str());
  if (::link(src.c_str(), tmp.c_str()) == 0) {
    if (::rename(tmp.c_str(), dst.c_str()) != 0) {
      const int e = errno;
      ::unlink(tmp.c_str());
      fail("rename {} -> {} failed: {}", tmp, dst, std::strerror(e));
    }
  } else {
    MappedFile in(src);
    AtomicFile out(dst);
    out.write(in.data(), in.size());
    out.commit();
  }
  crash_point();
}

json parse_json_file(const std::string& path, const char* what) {
  json j = json::parse(read_file(path), nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail("{} {} is corrupt: not a JSON object", what, path);
  return j;
}

void check_magic_version(const json& j, const std::string& path, const char* magic) {
  const std::string got =
      j.contains("magic") && j["magic"].is_string() ? j["magic"].get<std::string>() : "";
  if (got != magic)
    fail("{} has the wrong magic '{}' (expected '{}'): not an sllm checkpoint", path, got, magic);
  if (!j.contains("version") || !j["version"].is_number_integer())
    fail("{} has no integer 'version'", path);
  const int v = j["version"].get<int>();
  if (v != kCheckpointVersion)
    fail("{} has version {}, but this sllm reads checkpoint version {}", path, v,
         kCheckpointVersion);
}

// Checks every file a manifest or train_state.json lists: present, the recorded size, the
// recorded checksum.
void verify_files(const std::string& dir, const json& files, const std::string& listed_in) {
  if (!files.is_object()) fail("{}: 'files' must be an object", listed_in);
  for (const auto& [name, want] : files.items()) {
    const std::string path = dir + "/" + name;
    if (!want.is_object() || !want.contains("size") || !want.contains("xxh64"))
      fail("{}: entry for {} needs 'size' and 'xxh64'", listed_in, name);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
      fail("checkpoint file {} is missing ({} lists it)", path, listed_in);
    const auto size = want["size"].get<uint64_t>();
    if (static_cast<uint64_t>(st.st_size) != size)
      fail("checkpoint file {} is {}: {} bytes, but {} records {} bytes", path,
           static_cast<uint64_t>(st.st_size) < size ? "truncated" : "the wrong size",
           static_cast<uint64_t>(st.st_size), listed_in, size);
    const std::string sum = file_checksum_hex(path);
    if (sum != want["xxh64"].get<std::string>())
      fail("checkpoint file {} is corrupt: its XXH64 checksum is {}, but {} records {}", path, sum,
           listed_in, want["xxh64"].get<std::string>());
  }
}

int parse_step_dir(const std::string& name) {
  if (name.rfind("step-", 0) != 0 || name.size() != 13) return -1;
  for (size_t i = 5; i < name.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return -1;
  return std::stoi(name.substr(5));
}

// Deletes step folders beyond the newest `keep` (never the published one) and temp files a
// killed writer left behind.
void clean_up(const std::string& out, int published_step, int keep) {
  std::error_code ec;
  std::vector<int> steps;
  for (const auto& e : fs::directory_iterator(out + "/checkpoints", ec)) {
    const int s = parse_step_dir(e.path().filename().string());
    if (s >= 0) steps.push_back(s);
  }
  std::sort(steps.rbegin(), steps.rend());
  int kept = 0;
  for (int s : steps) {
    if (s == published_step) continue;
    // Older folders beyond `keep`, and newer ones a killed run left unpublished, go.
    if (s < published_step && kept < keep - 1) {
      ++kept;
      continue;
    }
    fs::remove_all(out + "/" + step_dir_name(s), ec);
  }
  for (const auto& e : fs::directory_iterator(out, ec))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) fs::remove(e.path(), ec);
}

const std::vector<std::string>& published_files() {
  static const std::vector<std::string> names = {"config.json",       "tokenizer.sllmtok",
                                                 "model.safetensors", "train_state.safetensors",
                                                 "train_state.json",  "manifest.json"};
  return names;
}

void publish_step(const std::string& out, int step) {
  const std::string dir = out + "/" + step_dir_name(step);
  for (const auto& name : published_files()) {
    if (name == "manifest.json") continue;
    publish(dir + "/" + name, out + "/" + name);
  }
  // The top-level manifest points at the step folder; written last, it commits the checkpoint.
  json m = parse_json_file(dir + "/manifest.json", "checkpoint manifest");
  m["checkpoint_dir"] = step_dir_name(step);
  write_file_atomic(out + "/manifest.json", m.dump(1) + "\n");
  crash_point();
  fsync_dir(out);
}

}  // namespace

void save_checkpoint(const std::string& out, int step, const Model& model, const Tokenizer& tok,
                     const AdamWState& opt, const AdamWParams& hyper, const json& extra, int keep,
                     const TrainedTensors* trained) {
  const std::string rel = step_dir_name(step), dir = out + "/" + rel;
  // A folder for this step that the manifest does not name is a leftover of a killed run.
  std::error_code ec;
  fs::remove_all(dir, ec);
  save_model_dir(dir, model, tok, crash_point);
  {
    // Before the first update AdamW's moments are still unallocated: they are zeros.
    const std::vector<ParamSpec>& specs = trained ? trained->specs : model.specs();
    const size_t n = trained ? trained->params.size() : model.params().size();
    const std::vector<float> zeros(opt.m.empty() ? n : 0, 0.0f);
    const float* m = opt.m.empty() ? zeros.data() : opt.m.data();
    const float* v = opt.v.empty() ? zeros.data() : opt.v.data();
    if ((!opt.m.empty() && opt.m.size() != n) || (!opt.v.empty() && opt.v.size() != n))
      fail("AdamW state holds {} / {} values but {} parameters are trained", opt.m.size(),
           opt.v.size(), n);
    std::vector<TensorToWrite> t;
    if (trained)
      for (const auto& s : specs)
        t.push_back({"trained." + s.name, DType::F32, s.shape, trained->params.data() + s.offset,
                     s.numel * 4});
    for (const auto& s : specs)
      t.push_back({"exp_avg." + s.name, DType::F32, s.shape, m + s.offset, s.numel * 4});
    for (const auto& s : specs)
      t.push_back({"exp_avg_sq." + s.name, DType::F32, s.shape, v + s.offset, s.numel * 4});
    write_safetensors(dir + "/train_state.safetensors", t, {{"format", "sllm"}});
    crash_point();
  }
  json st = extra;
  st["magic"] = kTrainStateMagic;
  st["version"] = kCheckpointVersion;
  st["step"] = step;
  st["optimizer"] = {{"type", "adamw"},      {"t", opt.step},
                     {"beta1", hyper.beta1}, {"beta2", hyper.beta2},
                     {"eps", hyper.eps},     {"weight_decay", hyper.weight_decay}};
  st["model_config"] = model.config().to_json();
  st["files"] = {{"model.safetensors", file_entry(dir + "/model.safetensors")},
                 {"train_state.safetensors", file_entry(dir + "/train_state.safetensors")}};
  write_file_atomic(dir + "/train_state.json", st.dump(1) + "\n");
  crash_point();
  json m = {{"magic", kCheckpointMagic},
            {"version", kCheckpointVersion},
            {"step", step},
            {"checkpoint_dir", "."}};
  json files = json::object();
  for (const auto& name : published_files())
    if (name != "manifest.json") files[name] = file_entry(dir + "/" + name);
  m["files"] = files;
  write_file_atomic(dir + "/manifest.json", m.dump(1) + "\n");
  crash_point();
  fsync_dir(out + "/checkpoints");
  publish_step(out, step);
  clean_up(out, step, std::max(keep, 1));
}

Checkpoint::Checkpoint(const std::string& path) {
  const std::string manifest_path = path + "/manifest.json";
  if (!file_exists(manifest_path)) {
    if (file_exists(path + "/config.json"))
      fail(
          "{} holds a model but no training state (manifest.json not found): start from it with "
          "--init-from",
          path);
    fail("no checkpoint in {}: {} not found", path, manifest_path);
  }
  json m = parse_json_file(manifest_path, "checkpoint manifest");
  check_magic_version(m, manifest_path, kCheckpointMagic);
  if (!m.contains("step") || !m["step"].is_number_integer() || m["step"].get<int>() < 0)
    fail("{} has no valid 'step'", manifest_path);
  step_ = m["step"].get<int>();
  const std::string rel = m.value("checkpoint_dir", std::string("."));
  if (rel != "." && rel != step_dir_name(step_))
    fail("{}: checkpoint_dir '{}' does not match step {}", manifest_path, rel, step_);
  dir_ = rel == "." ? path : path + "/" + rel;
  // Someone may have deleted the step folders to save space; the published copies remain.
  if (rel != "." && !file_exists(dir_ + "/manifest.json")) dir_ = path;
  if (!m.contains("files")) fail("{} has no 'files'", manifest_path);
  verify_files(dir_, m["files"], manifest_path);
  for (const char* f : kModelFiles)
    if (!m["files"].contains(f)) fail("{} does not list {}", manifest_path, f);
  for (const char* f : kStateFiles)
    if (!m["files"].contains(f)) fail("{} does not list {}", manifest_path, f);

  const std::string state_path = dir_ + "/train_state.json";
  state_ = parse_json_file(state_path, "training state");
  check_magic_version(state_, state_path, kTrainStateMagic);
  if (state_.value("step", -1) != step_)
    fail("{} is for step {}, but the manifest says step {}", state_path, state_.value("step", -1),
         step_);
  if (state_.contains("files")) verify_files(dir_, state_["files"], state_path);
  config_ = ModelConfig::from_json(parse_json_file(dir_ + "/config.json", "model config"));
}

std::unique_ptr<Tokenizer> Checkpoint::tokenizer() const {
  return load_tokenizer(dir_ + "/tokenizer.sllmtok");
}

void Checkpoint::load_model(Model& model) const {
  if (model.config().to_json() != config_.to_json())
    fail("checkpoint {} holds a different model ({}) than the one to load into ({})", dir_,
         config_.to_json().dump(), model.config().to_json().dump());
  load_model_params(model, dir_ + "/model.safetensors");
}

namespace {
void read_optimizer(const std::string& dir, const json& state, const SafetensorsReader& r,
                    const std::vector<ParamSpec>& specs, size_t n, AdamWState& opt) {
  opt.m.assign(n, 0.0f);
  opt.v.assign(n, 0.0f);
  read_f32_params(r, specs, opt.m.data(), "exp_avg.");
  read_f32_params(r, specs, opt.v.data(), "exp_avg_sq.");
  const json o = state.value("optimizer", json::object());
  if (!o.contains("t") || !o["t"].is_number_integer() || o["t"].get<int64_t>() < 0)
    fail("{}/train_state.json: optimizer has no valid step count 't'", dir);
  opt.step = o["t"].get<int64_t>();
}
}  // namespace

void Checkpoint::load_optimizer(const Model& model, AdamWState& opt) const {
  SafetensorsReader r(dir_ + "/train_state.safetensors");
  read_optimizer(dir_, state_, r, model.specs(), model.params().size(), opt);
}

void Checkpoint::load_trained(TrainedTensors& trained, AdamWState& opt) const {
  SafetensorsReader r(dir_ + "/train_state.safetensors");
  read_f32_params(r, trained.specs, trained.params.data(), "trained.");
  read_optimizer(dir_, state_, r, trained.specs, trained.params.size(), opt);
}

Checkpoint reopen_for_resume(const std::string& out) {
  Checkpoint c(out);
  if (c.dir() != out) {
    publish_step(out, c.step());
    clean_up(out, c.step(), 2);
  }
  return c;
}

}  // namespace sllm
