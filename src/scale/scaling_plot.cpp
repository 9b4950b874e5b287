// SVG rendering of a scaling-law fit: log-x, linear-y panels with measured points and the
// fitted L(N, D) curves.
#include <algorithm>
#include <cmath>
#include <map>

#include "sllm/common/error.h"
#include "sllm/scale/scaling_law.h"

namespace sllm::scale {

namespace {

const char* kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

struct Series {
  std::string label, color;
  std::vector<std::pair<double, double>> points, curve;
};

struct Panel {
  std::string title, xlabel;
  std::vector<Series> series;
};

std::string short_num(double v) {
  const double e = std::floor(std::log10(v));
  const double m = v / std::pow(10.0, e);
  if (std::abs(m - 1) < 1e-9) return fmt::format("1e{}", int(e));
  return fmt::format("{:.2g}e{}", m, int(e));
}

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else
      o += c;
  }
  return o;
}

void render_panel(std::string& o, const Panel& p, double ox, double oy, double w, double h) {
  const double ml = 60, mr = 130, mt = 30, mb = 45;  // margins: legend on the right
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const auto& s : p.series)
    for (const auto* v : {&s.points, &s.curve})
      for (const auto& [x, y] : *v) {
        if (!(x > 0) || !std::isfinite(y)) continue;
        x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
      }
  if (!(x0 < x1)) x0 /= 2, x1 *= 2;
  if (!(y0 < y1)) y0 -= 0.5, y1 += 0.5;
  const double pad = 0.05 * (y1 - y0);
  y0 -= pad, y1 += pad;
  const double lx0 = std::log10(x0), lx1 = std::log10(x1);
  const double pw = w - ml - mr, ph = h - mt - mb;
  auto X = [&](double x) { return ox + ml + (std::log10(x) - lx0) / (lx1 - lx0) * pw; };
  auto Y = [&](double y) { return oy + mt + (1 - (y - y0) / (y1 - y0)) * ph; };
  o += fmt::format(
      "<rect x='{:.1f}' y='{:.1f}' width='{:.1f}' height='{:.1f}' fill='none' stroke='#333'/>\n",
      ox + ml, oy + mt, pw, ph);
  o += fmt::format("<text x='{:.1f}' y='{:.1f}' text-anchor='middle' font-size='14'>{}</text>\n",
                   ox + ml + pw / 2, oy + 18, escape(p.title));
  o += fmt::format("<text x='{:.1f}' y='{:.1f}' text-anchor='middle'>{}</text>\n", ox + ml + pw / 2,
                   oy + h - 8, escape(p.xlabel));
  o += fmt::format(
      "<text x='{:.1f}' y='{:.1f}' text-anchor='middle' transform='rotate(-90 {:.1f} "
      "{:.1f})'>loss</text>\n",
      ox + 16, oy + mt + ph / 2, ox + 16, oy + mt + ph / 2);
  for (int e = int(std::ceil(lx0 - 1e-9)); e <= int(std::floor(lx1 + 1e-9)); ++e) {
    const double x = X(std::pow(10.0, e));
    o += fmt::format("<line x1='{0:.1f}' x2='{0:.1f}' y1='{1:.1f}' y2='{2:.1f}' stroke='#ddd'/>\n",
                     x, oy + mt, oy + mt + ph);
    o += fmt::format("<text x='{:.1f}' y='{:.1f}' text-anchor='middle'>1e{}</text>\n", x,
                     oy + mt + ph + 16, e);
  }
  const double step = std::pow(10.0, std::floor(std::log10((y1 - y0) / 4)));
  const double nice = (y1 - y0) / step > 8 ? step * 2 : step;
  for (double y = std::ceil(y0 / nice) * nice; y <= y1; y += nice) {
    o += fmt::format("<line x1='{0:.1f}' x2='{1:.1f}' y1='{2:.1f}' y2='{2:.1f}' stroke='#ddd'/>\n",
                     ox + ml, ox + ml + pw, Y(y));
    o += fmt::format("<text x='{:.1f}' y='{:.1f}' text-anchor='end'>{:.3g}</text>\n", ox + ml - 4,
                     Y(y) + 4, y);
  }
  for (size_t i = 0; i < p.series.size(); ++i) {
    const Series& s = p.series[i];
    std::string path;
    for (const auto& [x, y] : s.curve)
      if (x > 0 && std::isfinite(y) && y >= y0 && y <= y1)
        path += fmt::format("{:.1f},{:.1f} ", X(x), Y(y));
    if (!path.empty())
      o += fmt::format("<polyline fill='none' stroke='{}' stroke-width='1.5' points='{}'/>\n",
                       s.color, path);
    for (const auto& [x, y] : s.points)
      o +=
          fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='3.5' fill='{}'/>\n", X(x), Y(y), s.color);
    const double ly = oy + mt + 12 + 16 * double(i);
    o += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='4' fill='{}'/>\n", ox + ml + pw + 14,
                     ly - 4, s.color);
    o += fmt::format("<text x='{:.1f}' y='{:.1f}'>{}</text>\n", ox + ml + pw + 24, ly,
                     escape(s.label));
  }
}

Panel make_panel(const std::vector<ScalePoint>& pts, const ChinchillaParams& fit, bool by_n) {
  Panel p;
  p.title = by_n ? "loss vs parameters (one line per token budget)"
                 : "loss vs tokens (one line per model size)";
  p.xlabel = by_n ? "parameters N" : "tokens D";
  std::map<double, std::vector<std::pair<double, double>>> groups;
  double lo = 1e300, hi = 0;
  for (const auto& q : pts) {
    const double x = by_n ? q.params : q.tokens, g = by_n ? q.tokens : q.params;
    groups[g].push_back({x, q.loss});
    lo = std::min(lo, x), hi = std::max(hi, x);
  }
  size_t i = 0;
  for (auto& [g, v] : groups) {
    Series s;
    s.label = (by_n ? "D=" : "N=") + short_num(g);
    s.color = kColors[i++ % (sizeof kColors / sizeof *kColors)];
    std::sort(v.begin(), v.end());
    s.points = v;
    for (int k = 0; k <= 60; ++k) {
      const double x = lo * std::pow(hi / lo, k / 60.0);
      s.curve.push_back({x, by_n ? fit.loss(x, g) : fit.loss(g, x)});
    }
    p.series.push_back(std::move(s));
  }
  return p;
}

}  // namespace

std::string scaling_plot_svg(const std::vector<ScalePoint>& pts, const ScalingReport& r) {
  if (pts.empty()) fail("nothing to plot: no points");
  const double w = 620, h = 420;
  std::string o = fmt::format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{0}' height='{1}' viewBox='0 0 {0} {1}' "
      "font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n",
      2 * w, h + 24);
  render_panel(o, make_panel(pts, r.chinchilla.p, true), 0, 0, w, h);
  render_panel(o, make_panel(pts, r.chinchilla.p, false), w, 0, w, h);
  const auto& p = r.chinchilla.p;
  o += fmt::format(
      "<text x='{:.0f}' y='{:.0f}' text-anchor='middle'>fit: L = {:.4g} + {:.4g}/N^{:.4g} + "
      "{:.4g}/D^{:.4g}  (points: measured; lines: fit)</text>\n",
      w, h + 16, p.E, p.A, p.alpha, p.B, p.beta);
  o += "</svg>\n";
  return o;
}

}  // namespace sllm::scale
