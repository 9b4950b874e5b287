#include "sllm/train/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sllm/common/error.h"
#include "sllm/io/file.h"

namespace sllm {

using nlohmann::json;

std::string StepRecord::to_json_line() const {
  json j;
  j["step"] = step;
  if (loss) j["loss"] = *loss;
  if (val_loss) j["val_loss"] = *val_loss;
  j["lr"] = lr;
  if (loss) {
    j["grad_norm"] = grad_norm;
    j["tokens_per_s"] = tokens_per_s;
  }
  j["elapsed_s"] = elapsed_s;
  j["tokens"] = tokens;
  j["train_s"] = train_s;
  for (const auto& [k, v] : extra) j[k] = v;
  return j.dump();
}

StepRecord StepRecord::from_json_line(const std::string& s) {
  json j = json::parse(s, nullptr, false);
  if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer())
    fail("metrics record is not a JSON object with an integer 'step': {}", s.substr(0, 200));
  StepRecord r;
  r.step = j["step"].get<int>();
  auto num = [&](const char* k) -> std::optional<double> {
    if (j.contains(k) && j[k].is_number()) return j[k].get<double>();
    return std::nullopt;
  };
  r.loss = num("loss");
  r.val_loss = num("val_loss");
  r.lr = num("lr").value_or(0);
  r.grad_norm = num("grad_norm").value_or(0);
  r.tokens_per_s = num("tokens_per_s").value_or(0);
  r.elapsed_s = num("elapsed_s").value_or(0);
  if (j.contains("tokens") && j["tokens"].is_number_unsigned())
    r.tokens = j["tokens"].get<uint64_t>();
  r.train_s = num("train_s").value_or(0);
  for (const auto& [k, v] : j.items())
    if (k.find('/') != std::string::npos && v.is_number()) r.extra[k] = v.get<double>();
  return r;
}

MetricsLog::MetricsLog(const std::string& path, int keep_before) : path_(path) {
  if (keep_before >= 0 && file_exists(path)) {
    std::istringstream in(read_file(path));
    std::string line, kept;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      json j = json::parse(line, nullptr, false);
      // A torn last line (kill -9 mid-write) is dropped like the records after the checkpoint.
      if (j.is_discarded()) continue;
      StepRecord r = StepRecord::from_json_line(line);
      if (r.step >= keep_before) continue;
      records_.push_back(r);
      kept += line + "\n";
    }
    write_file_atomic(path, kept);
  } else {
    write_file_atomic(path, "");
  }
  f_ = std::fopen(path.c_str(), "a");
  if (!f_) fail("cannot open {} for appending: {}", path, std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (f_) std::fclose(f_);
}

void MetricsLog::append(const StepRecord& r) {
  std::string line = r.to_json_line() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), f_) != line.size() || std::fflush(f_) != 0)
    fail("cannot append to {}: {}", path_, std::strerror(errno));
  records_.push_back(r);
}

namespace {
struct Pt {
  double x, y;
};

// Tick values at 1, 2 or 5 times a power of ten, about n of them across [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int n) {
  std::vector<double> out;
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / n, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / mag, step = (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push_back(v);
  return out;
}

std::string polyline(const std::vector<Pt>& pts, const char* color, double width) {
  std::string s =
      fmt::format(R"(<polyline fill="none" stroke="{}" stroke-width="{}" points=")", color, width);
  for (const auto& p : pts) s += fmt::format("{:.1f},{:.1f} ", p.x, p.y);
  return s + "\"/>\n";
}
}  // namespace

std::string loss_curve_svg(const std::vector<StepRecord>& records, const std::string& title) {
  const double W = 800, H = 480, left = 60, right = 20, top = 40, bottom = 50;
  std::vector<Pt> train, val;
  for (const auto& r : records) {
    if (r.loss && std::isfinite(*r.loss)) train.push_back({double(r.step), *r.loss});
    if (r.val_loss && std::isfinite(*r.val_loss)) val.push_back({double(r.step), *r.val_loss});
  }
  // Long runs: average the train loss over buckets so the file stays small and readable.
  const size_t max_pts = 1000;
  if (train.size() > max_pts) {
    const size_t k = (train.size() + max_pts - 1) / max_pts;
    std::vector<Pt> avg;
    for (size_t i = 0; i < train.size(); i += k) {
      const size_t e = std::min(train.size(), i + k);
      Pt p{0, 0};
      for (size_t j = i; j < e; ++j) p.x += train[j].x, p.y += train[j].y;
      avg.push_back({p.x / double(e - i), p.y / double(e - i)});
    }
    train = std::move(avg);
  }
  double x0 = 0, x1 = 1, y0 = INFINITY, y1 = -INFINITY;
  for (const auto* v : {&train, &val})
    for (const auto& p : *v) x1 = std::max(x1, p.x), y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
  if (!std::isfinite(y0)) y0 = 0, y1 = 1;
  if (y1 - y0 < 1e-6) y0 -= 0.5, y1 += 0.5;
  const double pad = 0.05 * (y1 - y0);
  y0 = std::max(0.0, y0 - pad), y1 += pad;
  auto X = [&](double x) { return left + (x - x0) / (x1 - x0) * (W - left - right); };
  auto Y = [&](double y) { return top + (y1 - y) / (y1 - y0) * (H - top - bottom); };

  std::string s = fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" font-family="sans-serif" font-size="12">)"
      "\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      W, H, W, H);
  std::string esc;
  for (char c : title)
    esc += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  s += fmt::format("<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
                   W / 2, esc);
  for (double t : nice_ticks(y0, y1, 6)) {
    s += fmt::format(R"(<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" stroke="#ddd"/>)", left,
                     W - right, Y(t), Y(t));
    s += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:g}</text>\n", left - 6,
                     Y(t) + 4, t);
  }
  for (double t : nice_ticks(x0, x1, 8)) {
    s += fmt::format(R"(<line x1="{:.1f}" x2="{:.1f}" y1="{}" y2="{}" stroke="#ddd"/>)", X(t), X(t),
                     top, H - bottom);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{:g}</text>\n", X(t),
                     H - bottom + 18, t);
  }
  s += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#444"/>)",
                   left, top, W - left - right, H - top - bottom);
  s += fmt::format("\n<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">step</text>\n", W / 2, H - 12);
  std::vector<Pt> tp, vp;
  for (const auto& p : train) tp.push_back({X(p.x), Y(p.y)});
  for (const auto& p : val) vp.push_back({X(p.x), Y(p.y)});
  if (!tp.empty()) s += polyline(tp, "#1f77b4", 1);
  if (!vp.empty()) s += polyline(vp, "#d62728", 2);
  for (const auto& p : vp)
    s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"#d62728\"/>\n", p.x, p.y);
  const double lx = W - right - 130;
  s += fmt::format(
      R"(<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#1f77b4"/><text x="{}" y="{}">train loss</text>)",
      lx, lx + 20, top + 15, top + 15, lx + 26, top + 19);
  s += fmt::format(
      R"(<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#d62728" stroke-width="2"/><text x="{}" y="{}">val loss</text>)",
      lx, lx + 20, top + 33, top + 33, lx + 26, top + 37);
  return s + "\n</svg>\n";
}

void write_loss_curve(const std::string& path, const std::vector<StepRecord>& records,
                      const std::string& title) {
  write_file_atomic(path, loss_curve_svg(records, title));
}

}  // namespace sllm
