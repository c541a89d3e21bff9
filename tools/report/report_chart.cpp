// report_chart.cpp: one self-contained inline SVG line chart per series, with round ticks, grid
// lines and both axes labelled with their units.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "report_model.hpp"

namespace campaign {
namespace {

struct Axis {
  double max, step;
};

// From 0 to a round number at or above max, in about 5 steps of 1, 2 or 5 times a power of ten.
Axis round_axis(double max, bool whole = false) {
  if (!(max > 0)) max = 1;
  if (whole && max < 5) return {std::ceil(max), 1};
  const double raw = max / 5;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * power;
  for (double multiple : {1.0, 2.0, 5.0}) {
    if (multiple * power >= raw) {
      step = multiple * power;
      break;
    }
  }
  return {std::ceil(max / step - 1e-9) * step, step};
}

std::string tick_label(double value, double step) {
  char buffer[32];
  if (std::fabs(value) >= 1e6 && step >= 1e5) {
    std::snprintf(buffer, sizeof buffer, "%gM", value / 1e6);
    return buffer;
  }
  if (std::fabs(value) >= 1e4 && step >= 1e3) {
    std::snprintf(buffer, sizeof buffer, "%gk", value / 1e3);
    return buffer;
  }
  if (step >= 1) return group_digits(value);
  const int decimals = static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

// The plot area inside the SVG, in its user units.
struct Frame {
  double left = 78, top = 14, width = 618, height = 214;  // a 720 x 280 SVG
  double x(double value, const Axis& axis) const { return left + width * value / axis.max; }
  double y(double value, const Axis& axis) const {
    return top + height - height * value / axis.max;
  }
};

void grid_and_ticks(std::ostringstream& svg, const Frame& f, const Axis& x, const Axis& y) {
  for (double value = 0; value <= y.max + y.step / 2; value += y.step) {
    const double at = f.y(value, y);
    svg << "<line class=\"grid\" x1=\"" << f.left << "\" y1=\"" << at << "\" x2=\""
        << f.left + f.width << "\" y2=\"" << at << "\" stroke=\"#e3e3e3\"/>\n"
        << "<text class=\"tick\" x=\"" << f.left - 8 << "\" y=\"" << at + 4
        << "\" text-anchor=\"end\">" << tick_label(value, y.step) << "</text>\n";
  }
  for (double value = 0; value <= x.max + x.step / 2; value += x.step) {
    const double at = f.x(value, x);
    svg << "<line class=\"grid\" x1=\"" << at << "\" y1=\"" << f.top << "\" x2=\"" << at
        << "\" y2=\"" << f.top + f.height << "\" stroke=\"#e3e3e3\"/>\n"
        << "<text class=\"tick\" x=\"" << at << "\" y=\"" << f.top + f.height + 18
        << "\" text-anchor=\"middle\">" << tick_label(value, x.step) << "</text>\n";
  }
  svg << "<path class=\"axis\" d=\"M" << f.left << "," << f.top << " V" << f.top + f.height << " H"
      << f.left + f.width << "\" fill=\"none\" stroke=\"#666\"/>\n";
}

}  // namespace

std::string svg_chart(const Chart& chart) {
  const Frame f;
  double x_max = 0, y_max = 0;
  for (const auto& [x, y] : chart.points) {
    x_max = std::max(x_max, x);
    y_max = std::max(y_max, y);
  }
  const Axis x_axis = round_axis(x_max, chart.whole_x), y_axis = round_axis(y_max);
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"" << chart.id
      << "\" viewBox=\"0 0 720 280\" width=\"720\" height=\"280\" role=\"img\" "
         "font-family=\"sans-serif\" "
         "font-size=\"13\">\n<title>"
      << escape_xml(chart.title + ": " + chart.y_label + " against " + chart.x_label)
      << "</title>\n";
  grid_and_ticks(svg, f, x_axis, y_axis);
  svg << "<text class=\"axis-label x-label\" x=\"" << f.left + f.width / 2 << "\" y=\"272\" "
      << "text-anchor=\"middle\">" << escape_xml(chart.x_label) << "</text>\n"
      << "<text class=\"axis-label y-label\" transform=\"rotate(-90)\" x=\""
      << -(f.top + f.height / 2) << "\" y=\"16\" text-anchor=\"middle\">"
      << escape_xml(chart.y_label)
      << "</text>\n<polyline class=\"series\" fill=\"none\" stroke=\"#1f5fa8\" stroke-width=\"2\" "
         "points=\"";
  for (const auto& [x, y] : chart.points) svg << f.x(x, x_axis) << "," << f.y(y, y_axis) << " ";
  svg << "\"/>\n";
  if (chart.points.size() <= 60) {
    for (const auto& [x, y] : chart.points)
      svg << "<circle cx=\"" << f.x(x, x_axis) << "\" cy=\"" << f.y(y, y_axis)
          << "\" r=\"3\" fill=\"#1f5fa8\"/>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace campaign
