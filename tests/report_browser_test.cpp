// report_browser_test: renders campaign_report's report.html in headless Chromium and checks the
// text a person sees (the verdict first, a finding's shrunk trace and replay command, each chart's
// axis labels, "no findings" in words, the trend rows), that no chart text is cut off and that
// nothing sticks out of the page's column. Exit 77 (CTest: skipped) when chromium is not installed.
// Usage: report_browser_test CAMPAIGN_REPORT [SCREENSHOT_DIR]   (screenshots for a person to view)
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

int failures = 0;

void check(bool ok, const std::string& what, const std::string& context = "") {
  if (ok) return;
  ++failures;
  std::cout << "FAIL: " << what << (context.empty() ? "" : "\n" + context) << "\n";
}

void write(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string quoted(const std::string& text) {
  return "'" + text + "'";
}

// Runs chromium headless on FILE with ARGUMENTS (--dump-dom, --screenshot=...); its stdout.
std::string chromium(const fs::path& file, const std::string& arguments, const fs::path& scratch) {
  char profile[] = "/tmp/report-browser-profile-XXXXXX";
  if (!mkdtemp(profile)) return "";
  const fs::path out = scratch / "chromium.out";
  const std::string command =
      "timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
      "--disable-background-networking --disable-component-update --disable-sync "
      "--window-size=1200,2000 --user-data-dir=" +
      std::string(profile) + " " + arguments + " " + quoted("file://" + file.string()) + " >" +
      quoted(out.string()) + " 2>" + quoted((scratch / "chromium.err").string());
  const int status = std::system(command.c_str());
  fs::remove_all(profile);
  check(status == 0, "chromium exited " + std::to_string(status), read(scratch / "chromium.err"));
  return read(out);
}

// Appended to a copy of the report: what the page shows (innerText: no closed <details>, no
// hidden text), each SVG text that sticks out of its chart, each element wider than the column.
constexpr const char* kProbe = R"(<script>
(function () {
  var result = { text: document.body.innerText, clipped: [], styled: false, wider: [] };
  document.querySelectorAll('svg').forEach(function (svg) {
    var frame = svg.getBoundingClientRect();
    svg.querySelectorAll('text').forEach(function (text) {
      var box = text.getBoundingClientRect();
      if (box.left < frame.left - 0.5 || box.right > frame.right + 0.5 ||
          box.top < frame.top - 0.5 || box.bottom > frame.bottom + 0.5)
        result.clipped.push(text.textContent);
    });
  });
  var verdict = document.getElementById('verdict');
  result.styled = getComputedStyle(document.body).maxWidth !== 'none' && verdict !== null &&
                  getComputedStyle(verdict).backgroundColor !== 'rgba(0, 0, 0, 0)';
  result.wider = [];
  var column = document.body.getBoundingClientRect().right + 1;
  document.querySelectorAll('body *').forEach(function (element) {
    if (element.getBoundingClientRect().right > column)
      result.wider.push(element.tagName + '.' + (element.getAttribute('class') || ''));
  });
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
})();
</script>
)";

std::string unescape_html(std::string text) {
  const std::vector<std::pair<std::string, std::string>> entities = {
      {"&lt;", "<"},  {"&gt;", ">"},   {"&quot;", "\""},
      {"&#39;", "'"}, {"&nbsp;", " "}, {"&amp;", "&"}};
  for (const auto& [entity, character] : entities) {
    for (std::size_t at = text.find(entity); at != std::string::npos;
         at = text.find(entity, at + character.size()))
      text.replace(at, entity.size(), character);
  }
  return text;
}

// Renders DIR/report.html with the probe; the probe's findings as JSON.
nlohmann::json render(const fs::path& dir) {
  std::string page = read(dir / "report.html");
  const std::size_t end = page.rfind("</body>");
  if (end == std::string::npos) return {};
  page.insert(end, kProbe);
  write(dir / "probe.html", page);
  const std::string dom = chromium(dir / "probe.html", "--dump-dom", dir);
  const std::string open = "<pre id=\"probe\">";
  const std::size_t from = dom.find(open), to = dom.find("</pre>", from);
  if (from == std::string::npos || to == std::string::npos) return {};
  const std::string json = unescape_html(dom.substr(from + open.size(), to - from - open.size()));
  return nlohmann::json::parse(json, nullptr, false);
}

// A campaign folder PARENT/NAME as tools/campaign leaves it before the report: run.tsv, stats.tsv
// (40 lines over 8 minutes) and, when FINDINGS, a new finding, a known one that still fails and
// one fixed since the last run, with two earlier runs in history.jsonl.
fs::path campaign_folder(const fs::path& parent, const std::string& name, bool findings) {
  const fs::path dir = parent / name;
  fs::create_directories(dir / "findings");
  write(dir / "run.tsv",
        "started\t2026-12-06T22:00:00Z\nended\t2026-12-06T22:09:04Z\n"
        "duration_s\t544\ncommit\td21b136\nminutes\t8\nfuzz_s\t481\njobs\t2\n"
        "interrupted\tno\nseeds\t47\ncorpus_failed\tno\nexecs\t1234567\n"
        "fuzz_cpu_s\t955.20\nexecs_per_cpu_s\t1292\n");
  std::ostringstream stats;
  for (int i = 1; i <= 40; ++i)
    stats << i * 12 << "\t" << 300 + 20 * i << "\t" << 500 + 30 * i << "\t" << 40 + 3 * i << "\t"
          << 2000 + (i % 7) * 100 << "\n";
  write(dir / "stats.tsv", stats.str());
  if (!findings) return dir;
  const std::string f = name + "/findings/";
  write(dir / "findings/crash-aaa.min.trace",
        "# signature: result|append|ok|capacity_exceeded\nkvtrace 1\n"
        "config page_size=1 max_pages=1\nappend 1 <2>\n");
  write(dir / "findings/crash-bbb.min.trace", "kvtrace 1\nappend 7 3\nfree 7\n");
  write(dir / "findings/crash-ccc.min.trace", "kvtrace 1\nprefill 1 2:1\n");
  write(dir / "findings.tsv", "known\tstats|free_pages\t" + f + "crash-bbb\t" + f +
                                  "crash-bbb.min.trace\t2026-12-04T22:00:00Z\n" +
                                  "known\tprefix|key\t" + f + "crash-ccc\t" + f +
                                  "crash-ccc.min.trace\t2026-12-05T22:00:00Z\n" +
                                  "new\tresult|append|ok|capacity_exceeded\t" + f + "crash-aaa\t" +
                                  f + "crash-aaa.min.trace\t2026-12-06T22:00:00Z\n");
  write(dir / "replays.tsv", f + "crash-bbb.min.trace\t1\n" + f + "crash-ccc.min.trace\t0\n");
  write(
      dir / "history.jsonl",
      R"({"started":"2026-12-04T22:00:00Z","duration_s":540,"commit":"a1b2c3d","execs":1100000,)"
      R"("coverage":700,"corpus_files":130,"findings":{"new":1,"known":0,"fixed":0},"open":["stats|free_pages"]})"
      "\n"
      R"({"started":"2026-12-05T22:00:00Z","duration_s":541,"commit":"b2c3d4e5f6a7-dirty",)"
      R"("interrupted":true,"execs":1150000,)"
      R"("coverage":740,"corpus_files":150,"findings":{"new":1,"known":1,"fixed":0},)"
      R"("open":["stats|free_pages","prefix|key"]})"
      "\n");
  return dir;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Each of PARTS is shown, in this order.
void in_order(const std::string& text, const std::vector<std::string>& parts,
              const std::string& what) {
  std::size_t at = 0;
  for (const std::string& part : parts) {
    const std::size_t found = text.find(part, at);
    check(found != std::string::npos,
          what + ": \"" + part + "\" is not shown after the ones before it", text);
    if (found == std::string::npos) return;
    at = found + part.size();
  }
}

// What every report shows: styled, nothing cut off or wider than the window, the three charts.
void common_checks(const nlohmann::json& seen, const std::string& what) {
  const std::string text = seen.value("text", "");
  check(seen.value("styled", false), what + ": the page is not styled");
  check(seen.value("wider", nlohmann::json::array()).empty(),
        what + ": wider than the page's column (a 1200 px window): " +
            seen.value("wider", nlohmann::json()).dump());
  check(seen.value("clipped", nlohmann::json::array()).empty(),
        what + ": chart text cut off at the chart's edge: " +
            seen.value("clipped", nlohmann::json()).dump());
  const std::string x_axis = "time since the fuzzer started (s)";
  in_order(text,
           {"This run over time", "Coverage", "0\n500\n1,000\n1,500\n0\n100\n200", x_axis,
            "coverage (edges)", "Corpus size", x_axis, "corpus size (files)", "Execs per second",
            x_axis, "speed (execs/s)"},
           what + ": one chart per series, each with its scale and both axes labelled");
  in_order(text,
           {"Started (UTC)", "Ended (UTC)", "Duration", "9 min 4 s", "Jobs (fuzzer workers)",
            "Execs", "1,234,567", "Execs per CPU second", "1,292"},
           what + ": the summary's labelled fields");
}

void findings_checks(const nlohmann::json& seen) {
  const std::string text = seen.value("text", "");
  check(text.rfind("Fuzz campaign report", 0) == 0, "the page does not open with its title", text);
  in_order(text,
           {"Fuzz campaign report",
            "Verdict: 1 new finding, 1 known finding still failing, "
            "1 fixed since the last run.",
            "Findings"},
           "the verdict comes first");
  in_order(text,
           {"New", "result|append|ok|capacity_exceeded",
            "Replay: build/dev/bin/kvtrace replay nightly/findings/crash-aaa.min.trace",
            "config page_size=1 max_pages=1\nappend 1 <2>", "Known, still failing",
            "stats|free_pages", "Fixed since the last run", "prefix|key", "Summary"},
           "the findings, each with its replay command and the new one's shrunk trace");
  check(!has(text, "append 7 3"),
        "a known finding's trace is shown open (it belongs in <details>)");
  in_order(
      text,
      {"Trend across runs of nightly", "2026-12-06 22:00:00 (this run)", "d21b136", "9 min 4 s",
       "1,234,567", "1,100", "160", "2026-12-05 22:00:00, stopped early", "b2c3d4e5f6a7-dirty",
       "740", "2026-12-04 22:00:00", "a1b2c3d", "700", "Coverage at the end of each run",
       "run (1 = the oldest of the 3 kept)", "coverage (edges)"},
      "the trend: one row per run, newest first, and its chart");
}

void no_findings_checks(const nlohmann::json& seen) {
  const std::string text = seen.value("text", "");
  in_order(
      text,
      {"Fuzz campaign report",
       "Verdict: Nothing new: no findings (no divergence or crash in 1,234,567 execs).", "Findings",
       "No findings: no divergence or crash in this run's 1,234,567 execs", "Coverage"},
      "a run without findings says so in words");
  check(!has(text, "Replay:") && !has(text, "signature"), "a run without findings shows a finding",
        text);
  in_order(text, {"Trend across runs of quiet", "2026-12-06 22:00:00 (this run)", "d21b136"},
           "the first run's trend row");
}

void screenshot(const fs::path& dir, const std::string& shots, const std::string& name) {
  if (shots.empty()) return;
  fs::create_directories(shots);
  chromium(dir / "report.html", "--screenshot=" + quoted((fs::path(shots) / name).string()), dir);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: report_browser_test CAMPAIGN_REPORT [SCREENSHOT_DIR]\n";
    return 2;
  }
  if (std::system("command -v chromium >/dev/null 2>&1") != 0) {
    std::cout << "report_browser_test: SKIPPED: chromium is not installed (tools/setup installs "
                 "Debian's chromium; this test renders report.html in it)\n";
    return 77;
  }
  const std::string report_tool = fs::absolute(argv[1]).string();
  const std::string shots = argc > 2 ? fs::absolute(argv[2]).string() : "";
  char scratch[] = "/tmp/report-browser-XXXXXX";
  if (!mkdtemp(scratch)) return 2;
  const fs::path work = scratch;
  const struct {
    const char* name;
    bool findings;
  } runs[] = {{"nightly", true}, {"quiet", false}};
  for (const auto& run : runs) {
    const fs::path dir = campaign_folder(work, run.name, run.findings);
    const std::string command =
        "cd " + quoted(work.string()) + " && " + quoted(report_tool) + " " + run.name;
    check(std::system(command.c_str()) == 0, std::string("campaign_report failed on ") + run.name);
    const nlohmann::json seen = render(dir);
    check(seen.is_object(), std::string("no rendered text from chromium for ") + run.name);
    if (!seen.is_object()) continue;
    common_checks(seen, run.name);
    run.findings ? findings_checks(seen) : no_findings_checks(seen);
    screenshot(dir, shots, std::string(run.name) + ".png");
  }
  if (failures == 0) fs::remove_all(work);
  std::cout << "report_browser_test: " << (failures == 0 ? "all checks passed" : "FAILED")
            << (failures == 0 ? "" : " (files kept in " + work.string() + ")") << "\n";
  return failures == 0 ? 0 : 1;
}
