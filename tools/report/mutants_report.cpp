// mutants_report: turns the typed TSV records tools/mutants writes (run.tsv, mutants.tsv,
// killers.tsv) into its JSON report with nlohmann-json.
//
// run.tsv:     KEY <tab> KIND <tab> VALUE, one top-level field per line.
// mutants.tsv: a header of NAME:KIND columns, then one row per mutant (the first column, the
//              mutant's name, is the key killers.tsv refers to).
// killers.tsv: the same header form; columns "mutant" and "killer" place each row at
//              mutants[i].killers[KILLER]; the other columns become its fields.
// KIND is str, num, bool or list (comma-separated); an empty value is null (an empty list: []).
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Json = nlohmann::ordered_json;
using Fields = std::vector<std::string>;

constexpr size_t max_lines = 1'000'000;  // a run has a few hundred rows; this bounds bad input

struct Line {
  size_t number = 0;
  Fields fields;
};

// Every non-empty line of `path` split at tabs, or the reason it could not be read.
std::optional<std::string> read_tsv(const std::string& path, std::vector<Line>& lines) {
  std::ifstream in(path);
  if (!in) return path + ": cannot open: " + std::strerror(errno);
  std::string text;
  for (size_t number = 1; std::getline(in, text); number++) {
    if (number > max_lines) return path + ": more than " + std::to_string(max_lines) + " lines";
    if (text.empty()) continue;
    Line line{number, {}};
    size_t start = 0;
    for (size_t tab; (tab = text.find('\t', start)) != std::string::npos; start = tab + 1)
      line.fields.push_back(text.substr(start, tab - start));
    line.fields.push_back(text.substr(start));
    lines.push_back(std::move(line));
  }
  return std::nullopt;
}

// VALUE as a JSON value of KIND, or the reason it is not one.
std::optional<std::string> typed(const std::string& kind, const std::string& value, Json& out) {
  if (kind == "list") {
    out = Json::array();
    std::istringstream items(value);
    for (std::string item; std::getline(items, item, ',');)
      if (!item.empty()) out.push_back(item);
    return std::nullopt;
  }
  if (value.empty()) {
    out = nullptr;
    return std::nullopt;
  }
  if (kind == "str") {
    out = value;
  } else if (kind == "bool") {
    if (value != "true" && value != "false") return "'" + value + "' is not true or false";
    out = value == "true";
  } else if (kind == "num") {
    size_t used = 0;
    try {
      const int64_t whole = std::stoll(value, &used);
      if (used == value.size()) {
        out = whole;
        return std::nullopt;
      }
      const double real = std::stod(value, &used);
      if (used != value.size()) throw std::invalid_argument(value);
      out = real;
    } catch (const std::exception&) {
      return "'" + value + "' is not a number";
    }
  } else {
    return "unknown kind '" + kind + "' (str, num, bool or list)";
  }
  return std::nullopt;
}

std::string where(const std::string& path, const Line& line) {
  return path + ":" + std::to_string(line.number) + ": ";
}

// run.tsv into top-level fields of `report`.
std::optional<std::string> read_run(const std::string& path, Json& report) {
  std::vector<Line> lines;
  if (auto problem = read_tsv(path, lines)) return problem;
  for (const Line& line : lines) {
    if (line.fields.size() != 3)
      return where(path, line) + "expected KEY<tab>KIND<tab>VALUE, found " +
             std::to_string(line.fields.size()) + " fields";
    Json value;
    if (auto problem = typed(line.fields[1], line.fields[2], value))
      return where(path, line) + line.fields[0] + ": " + *problem;
    report[line.fields[0]] = value;
  }
  return std::nullopt;
}

// A header-and-rows table: one JSON object per row, keyed by the header's names.
std::optional<std::string> read_table(const std::string& path, std::vector<Json>& rows) {
  std::vector<Line> lines;
  if (auto problem = read_tsv(path, lines)) return problem;
  if (lines.empty()) return path + ": empty (expected a header line of NAME:KIND columns)";
  Fields names, kinds;
  for (const std::string& column : lines[0].fields) {
    const size_t colon = column.rfind(':');
    if (colon == std::string::npos)
      return where(path, lines[0]) + "header column '" + column + "' is not NAME:KIND";
    names.push_back(column.substr(0, colon));
    kinds.push_back(column.substr(colon + 1));
  }
  for (size_t i = 1; i < lines.size(); i++) {
    const Line& line = lines[i];
    if (line.fields.size() != names.size())
      return where(path, line) + "expected " + std::to_string(names.size()) + " fields, found " +
             std::to_string(line.fields.size());
    Json row = Json::object();
    for (size_t c = 0; c < names.size(); c++) {
      Json value;
      if (auto problem = typed(kinds[c], line.fields[c], value))
        return where(path, line) + names[c] + ": " + *problem;
      row[names[c]] = value;
    }
    rows.push_back(std::move(row));
  }
  return std::nullopt;
}

// The whole report from DIR's three files.
std::optional<std::string> build_report(const std::string& dir, Json& report) {
  report = Json::object();
  if (auto problem = read_run(dir + "/run.tsv", report)) return problem;
  std::vector<Json> mutants, killers;
  if (auto problem = read_table(dir + "/mutants.tsv", mutants)) return problem;
  if (auto problem = read_table(dir + "/killers.tsv", killers)) return problem;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < mutants.size(); i++) {
    if (!mutants[i].contains("mutant") || !mutants[i]["mutant"].is_string())
      return dir + "/mutants.tsv: row " + std::to_string(i + 1) + " has no mutant name";
    index[mutants[i]["mutant"].get<std::string>()] = i;
    mutants[i]["killers"] = Json::object();
  }
  for (Json& row : killers) {
    if (!row.contains("mutant") || !row["mutant"].is_string() || !row.contains("killer") ||
        !row["killer"].is_string())
      return dir + "/killers.tsv: a row without mutant and killer names";
    const auto found = index.find(row["mutant"].get<std::string>());
    if (found == index.end())
      return dir + "/killers.tsv: mutant '" + row["mutant"].get<std::string>() +
             "' is not in mutants.tsv";
    const std::string killer = row["killer"].get<std::string>();
    row.erase("mutant");
    row.erase("killer");
    mutants[found->second]["killers"][killer] = row;
  }
  report["mutants"] = mutants;
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string usage =
      "usage: mutants_report DIR -o OUT.json  (DIR holds run.tsv, "
      "mutants.tsv and killers.tsv, as tools/mutants writes them)";
  if (argc == 2 && std::string(argv[1]) == "--help") {
    std::cout << usage << "\n";
    return 0;
  }
  if (argc != 4 || std::string(argv[2]) != "-o") {
    std::cerr << "mutants_report: " << usage << "\n";
    return 2;
  }
  Json report;
  if (auto problem = build_report(argv[1], report)) {
    std::cerr << "mutants_report: " << *problem << "\n";
    return 2;
  }
  const std::string out_path = argv[3];
  std::ofstream out(out_path);
  out << report.dump(2) << "\n";
  out.close();
  if (!out) {
    std::cerr << "mutants_report: cannot write " << out_path << ": " << std::strerror(errno)
              << "\n";
    return 1;
  }
  return 0;
}
