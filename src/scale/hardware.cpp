#include "sllm/scale/hardware.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "sllm/common/error.h"
#include "sllm/io/file.h"

namespace sllm::scale {

using nlohmann::json;

namespace {

const char kBuiltinCatalog[] =
#include "sllm/hardware_catalog.inc"
    ;

double get_number(const json& j, const char* key, const std::string& where, bool required) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) fail("{}: missing number '{}'", where, key);
    return 0;
  }
  if (!j[key].is_number()) fail("{}: '{}' must be a number", where, key);
  double v = j[key].get<double>();
  if (!std::isfinite(v) || v < 0) fail("{}: '{}' = {} must be a finite number >= 0", where, key, v);
  return v;
}

std::string get_string(const json& j, const char* key, const std::string& where, bool required) {
  if (!j.contains(key)) {
    if (required) fail("{}: missing string '{}'", where, key);
    return {};
  }
  if (!j[key].is_string()) fail("{}: '{}' must be a string", where, key);
  return j[key].get<std::string>();
}

Source parse_source(const json& j, const std::string& where) {
  if (!j.contains("source") || !j["source"].is_object())
    fail("{}: every figure needs a 'source' object with a title (and url)", where);
  Source s;
  s.title = get_string(j["source"], "title", where + ".source", true);
  s.url = get_string(j["source"], "url", where + ".source", false);
  if (s.title.empty()) fail("{}.source: empty title", where);
  return s;
}

json source_json(const Source& s) {
  json j{{"title", s.title}};
  if (!s.url.empty()) j["url"] = s.url;
  return j;
}

Sourced parse_sourced(const json& defaults, const char* key, const std::string& origin) {
  const std::string where = origin + ": defaults." + key;
  if (!defaults.contains(key) || !defaults[key].is_object()) fail("{}: missing", where);
  Sourced s;
  s.value = get_number(defaults[key], "value", where, true);
  s.source = parse_source(defaults[key], where);
  return s;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

double Accelerator::peak_flops(const std::string& dtype) const {
  auto it = peak_tflops.find(dtype);
  if (it == peak_tflops.end()) {
    std::string have;
    for (const auto& [k, v] : peak_tflops) have += (have.empty() ? "" : ", ") + k;
    fail("accelerator '{}' has no {} peak in the catalog (it lists: {})", id, dtype, have);
  }
  return it->second * 1e12;
}

namespace {
// Log-log interpolation of a rate table at this width, clamped at its ends; FLOP/s.
double interpolate_rate(const std::vector<GemmRate>& g, int width) {
  if (width <= g.front().width) return g.front().gflops * 1e9;
  if (width >= g.back().width) return g.back().gflops * 1e9;
  for (size_t i = 1; i < g.size(); ++i) {
    if (width <= g[i].width) {
      const double t =
          std::log(double(width) / g[i - 1].width) / std::log(double(g[i].width) / g[i - 1].width);
      return std::exp(std::log(g[i - 1].gflops) * (1 - t) + std::log(g[i].gflops) * t) * 1e9;
    }
  }
  return g.back().gflops * 1e9;
}

json rates_json(const std::vector<GemmRate>& rates) {
  json out = json::array();
  for (const auto& r : rates) out.push_back({{"width", r.width}, {"gflops", r.gflops}});
  return out;
}

std::vector<GemmRate> parse_rates(const json& j, const char* key, const std::string& where) {
  std::vector<GemmRate> out;
  if (!j.contains(key)) return out;
  if (!j[key].is_array()) fail("{}: '{}' must be an array", where, key);
  for (const auto& r : j[key]) {
    GemmRate g;
    g.width = static_cast<int>(get_number(r, "width", where + "." + key, true));
    g.gflops = get_number(r, "gflops", where + "." + key, true);
    if (g.width <= 0 || g.gflops <= 0)
      fail("{}: {} entries need width > 0 and gflops > 0", where, key);
    out.push_back(g);
  }
  std::sort(out.begin(), out.end(), [](auto& x, auto& y) { return x.width < y.width; });
  return out;
}
}  // namespace

double Accelerator::gemm_flops_at_width(int width) const {
  if (gemm_gflops.empty())
    fail("accelerator '{}' has no measured GEMM rates (run sllm plan --calibrate)", id);
  return interpolate_rate(gemm_gflops, width);
}

double Accelerator::train_flops_at_width(int width) const {
  if (train_gflops.empty())
    fail("accelerator '{}' has no measured training rates (run sllm plan --calibrate)", id);
  return interpolate_rate(train_gflops, width);
}

const TrainProbe* Accelerator::probe_for(const std::string& arch, int layers, int width, int heads,
                                         int kv_heads, int vocab, int ctx, int batch) const {
  for (auto it = train_probes.rbegin(); it != train_probes.rend(); ++it)
    if (it->arch == arch && it->layers == layers && it->width == width && it->heads == heads &&
        it->kv_heads == kv_heads && it->vocab == vocab && it->ctx == ctx && it->batch == batch)
      return &*it;
  return nullptr;
}

bool Accelerator::matches(const std::string& key) const {
  const std::string k = lower(key);
  if (lower(id) == k) return true;
  return std::any_of(aliases.begin(), aliases.end(),
                     [&](const std::string& a) { return lower(a) == k; });
}

json Accelerator::to_json() const {
  json j{{"id", id},
         {"name", name},
         {"kind", kind},
         {"memory_gb", memory_gb},
         {"memory_bandwidth_gbs", memory_bandwidth_gbs},
         {"peak_tflops", peak_tflops},
         {"source", source_json(source)}};
  if (!aliases.empty()) j["aliases"] = aliases;
  if (board_power_w > 0) j["board_power_w"] = board_power_w;
  if (!gemm_gflops.empty()) j["gemm_gflops"] = rates_json(gemm_gflops);
  if (!train_gflops.empty()) j["train_gflops"] = rates_json(train_gflops);
  for (const TrainProbe& p : train_probes)
    j["train_probes"].push_back({{"arch", p.arch},
                                 {"layers", p.layers},
                                 {"width", p.width},
                                 {"heads", p.heads},
                                 {"kv_heads", p.kv_heads},
                                 {"vocab", p.vocab},
                                 {"ctx", p.ctx},
                                 {"batch", p.batch},
                                 {"gflops", p.gflops}});
  if (!measured_at.empty()) j["measured_at"] = measured_at;
  if (threads > 0) j["threads"] = threads;
  return j;
}

Accelerator Accelerator::from_json(const json& j, const std::string& origin) {
  if (!j.is_object()) fail("{}: accelerator entries must be objects", origin);
  Accelerator a;
  a.id = get_string(j, "id", origin, true);
  if (a.id.empty()) fail("{}: empty accelerator id", origin);
  const std::string where = origin + ": accelerator '" + a.id + "'";
  a.name = get_string(j, "name", where, true);
  a.kind = get_string(j, "kind", where, true);
  if (a.kind != "gpu" && a.kind != "cpu") fail("{}: kind '{}' must be gpu or cpu", where, a.kind);
  if (j.contains("aliases")) {
    if (!j["aliases"].is_array()) fail("{}: 'aliases' must be an array of strings", where);
    for (const auto& s : j["aliases"]) {
      if (!s.is_string()) fail("{}: 'aliases' must be an array of strings", where);
      a.aliases.push_back(s.get<std::string>());
    }
  }
  a.memory_gb = get_number(j, "memory_gb", where, true);
  a.memory_bandwidth_gbs = get_number(j, "memory_bandwidth_gbs", where, true);
  a.board_power_w = get_number(j, "board_power_w", where, false);
  if (!j.contains("peak_tflops") || !j["peak_tflops"].is_object() || j["peak_tflops"].empty())
    fail("{}: needs a non-empty 'peak_tflops' object (dtype -> TFLOP/s)", where);
  for (const auto& [k, v] : j["peak_tflops"].items()) {
    if (!v.is_number() || !(v.get<double>() > 0))
      fail("{}: peak_tflops.{} must be a positive number", where, k);
    a.peak_tflops[k] = v.get<double>();
  }
  a.gemm_gflops = parse_rates(j, "gemm_gflops", where);
  a.train_gflops = parse_rates(j, "train_gflops", where);
  if (j.contains("train_probes")) {
    if (!j["train_probes"].is_array()) fail("{}: 'train_probes' must be an array", where);
    for (const auto& e : j["train_probes"]) {
      const std::string w = where + ".train_probes";
      TrainProbe p;
      p.arch = get_string(e, "arch", w, true);
      p.layers = static_cast<int>(get_number(e, "layers", w, true));
      p.width = static_cast<int>(get_number(e, "width", w, true));
      p.heads = static_cast<int>(get_number(e, "heads", w, true));
      p.kv_heads = static_cast<int>(get_number(e, "kv_heads", w, true));
      p.vocab = static_cast<int>(get_number(e, "vocab", w, true));
      p.ctx = static_cast<int>(get_number(e, "ctx", w, true));
      p.batch = static_cast<int>(get_number(e, "batch", w, true));
      p.gflops = get_number(e, "gflops", w, true);
      if (p.layers <= 0 || p.width <= 0 || p.heads <= 0 || p.vocab <= 0 || p.ctx <= 0 ||
          p.batch <= 0 || !(p.gflops > 0))
        fail(
            "{}: train_probes entries need positive layers, width, heads, vocab, ctx, batch and "
            "gflops",
            where);
      a.train_probes.push_back(p);
    }
  }
  a.measured_at = get_string(j, "measured_at", where, false);
  a.threads = static_cast<int>(get_number(j, "threads", where, false));
  a.source = parse_source(j, where);
  return a;
}

const Accelerator& Catalog::find(const std::string& key) const {
  for (const auto& a : accelerators)
    if (a.matches(key)) return a;
  std::string ids;
  for (const auto& a : accelerators) ids += (ids.empty() ? "" : ", ") + a.id;
  if (lower(key) == "cpu")
    fail(
        "no 'cpu' entry in the hardware catalog: run `sllm plan --calibrate` first (catalog has: "
        "{})",
        ids);
  fail("unknown hardware '{}' (catalog has: {})", key, ids);
}

void Catalog::merge(const Catalog& overlay) {
  for (const auto& a : overlay.accelerators) {
    auto it = std::find_if(accelerators.begin(), accelerators.end(),
                           [&](auto& b) { return b.id == a.id; });
    if (it != accelerators.end())
      *it = a;
    else
      accelerators.push_back(a);
  }
  if (overlay.pue.value > 0) pue = overlay.pue;
  if (overlay.usd_per_kwh.value > 0) usd_per_kwh = overlay.usd_per_kwh;
  if (overlay.mfu.value > 0) mfu = overlay.mfu;
}

Catalog Catalog::parse(const json& j, const std::string& origin, bool need_defaults) {
  if (!j.is_object()) fail("{}: a hardware catalog must be a JSON object", origin);
  Catalog c;
  if (j.contains("defaults")) {
    c.pue = parse_sourced(j["defaults"], "pue", origin);
    c.usd_per_kwh = parse_sourced(j["defaults"], "usd_per_kwh", origin);
    c.mfu = parse_sourced(j["defaults"], "mfu", origin);
  } else if (need_defaults) {
    fail("{}: missing 'defaults' (pue, usd_per_kwh, mfu)", origin);
  }
  if (!j.contains("accelerators") || !j["accelerators"].is_array())
    fail("{}: needs an 'accelerators' array", origin);
  for (const auto& e : j["accelerators"]) {
    Accelerator a = Accelerator::from_json(e, origin);
    for (const auto& b : c.accelerators)
      if (b.id == a.id) fail("{}: accelerator id '{}' appears twice", origin, a.id);
    c.accelerators.push_back(std::move(a));
  }
  return c;
}

Catalog builtin_catalog() {
  static const Catalog c =
      Catalog::parse(json::parse(kBuiltinCatalog), "built-in data/hardware.json", true);
  return c;
}

std::string default_user_catalog_path() {
  if (const char* p = std::getenv("SLLM_HARDWARE_CATALOG"); p && *p) return p;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x)
    return std::string(x) + "/sllm/hardware.json";
  if (const char* h = std::getenv("HOME"); h && *h)
    return std::string(h) + "/.config/sllm/hardware.json";
  return ".sllm-hardware.json";
}

static json read_json_file(const std::string& path) {
  try {
    return json::parse(read_file(path));
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", path, e.what());
  }
}

Catalog load_catalog(const std::string& user_path) {
  Catalog c = builtin_catalog();
  if (!user_path.empty() && file_exists(user_path))
    c.merge(Catalog::parse(read_json_file(user_path), user_path, false));
  return c;
}

void save_to_user_catalog(const std::string& path, const Accelerator& a) {
  json j = {{"format", "sllm-hardware-catalog"}, {"version", 1}, {"accelerators", json::array()}};
  if (file_exists(path)) {
    j = read_json_file(path);
    Catalog::parse(j, path, false);  // Refuse to rewrite a catalog we cannot read back.
  }
  json kept = json::array();
  for (const auto& e : j["accelerators"])
    if (e.value("id", "") != a.id) kept.push_back(e);
  kept.push_back(a.to_json());
  j["accelerators"] = kept;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) make_dirs(parent.string());
  write_file_atomic(path, j.dump(2) + "\n");
}

double catalog_bf16_peak(const std::string& device_name) {
  const std::string name = lower(device_name);
  const Catalog cat = builtin_catalog();
  const Accelerator* best = nullptr;
  for (const Accelerator& a : cat.accelerators)
    if (a.kind == "gpu" && a.has_dtype("bf16") && name.find(lower(a.id)) != std::string::npos &&
        (!best || a.id.size() > best->id.size()))
      best = &a;
  return best ? best->peak_flops("bf16") : 0.0;
}

}  // namespace sllm::scale
