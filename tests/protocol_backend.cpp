// kv_protocol_backend: serves the in-tree `host` backend over backend protocol v2 (or v1) on
// stdin/stdout (a C++ adapter); --misbehave MODE --at-op N, --corrupt-cache and --corrupt-pages
// play broken backends. Its profile declares the host cache's sliding windows
// (`sliding_window 0 1048576`, docs/semantics.md section 16) unless --window-line no, which
// leaves the line out (an external backend then gets none). A null entry (V-W2) is `-` in
// `? pages`. KV groups (section 17): `kv_groups 0 8` once the host cache implements them
// (Capabilities::all() says so; --groups-line yes|no overrides), `? pages` separating the groups'
// tables with `|` and `? cache` naming each key's group (PAGE=G:RANGES).
// --ignore-variant KEY (repeatable) runs the host cache under KEY's default word whatever the
// config says: with `--profile-line 'config KEY=WORD'` a backend that declares a variant it does
// not implement (the in-tree cache implements every one). --buffer-replies yes holds replies until
// its input runs dry (otherwise each goes out at once), so ops sent ahead lose theirs when a later
// op misbehaves.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "backends/host_backend.hpp"
#include "trace/digest.hpp"

namespace {

struct Options {
  std::string misbehave;  // garbage, wrong-word, wrong-result, exit, hang, long-line, close
  uint64_t at_op = 0;     // the op (index after `config`) that misbehaves
  std::string ops;        // the `ops` profile line, default every op
  std::string eviction = "none lru";
  std::string
      profile_lines;  // --profile-line LINE (repeatable): e.g. `config append_atomicity=token`
  std::string version = "2";  // the handshake's protocol version; 1 has no `? cache`
  std::string corrupt_cache;  // queue (reversed) or key (last token id + 1) in `? cache` replies;
                              // cached: every cached=C (stats op and `? stats`) is C + 1
  std::string data = "yes";   // the `data` profile line
  uint64_t words_max = 0;     // when not 0, `? words` answers at most this many words
  bool hash_keys = false;     // `keys hash`: `? cache` names keys by a hash word
  bool window_line = true;    // declare `sliding_window 0 1048576`
  // declare `kv_groups 0 8`: by default once the host cache implements groups
  bool groups_line = kv::Capabilities::all().kv_groups.max > 0;
  bool buffer_replies = false;                // --buffer-replies yes
  std::vector<std::string> ignored_variants;  // --ignore-variant KEY: the cache runs the default
  std::string corrupt_pages;  // `? pages` of a table with 2 or more entries: null (its first entry
                              // shown as `-`) or word (its last entry shown as `page7`); in a
                              // kv_groups config bars (no `|` between the groups)
};

uint64_t number(std::string_view text) {
  uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

// `? pages S`: page ids, `-` for a null entry (V-W2); with kv_groups the `groups` tables
// (concatenated in `table`, equally long) separated by `|` (V-G7): `ok 3 4 | - 5`, `ok |`.
std::string pages_reply(const std::vector<uint64_t>& table, uint32_t groups,
                        const Options& options) {
  std::vector<std::string> words;
  for (uint64_t page : table) words.push_back(page == kv::null_page ? "-" : std::to_string(page));
  if (words.size() >= 2 && options.corrupt_pages == "null") words.front() = "-";
  if (words.size() >= 2 && options.corrupt_pages == "word") words.back() = "page7";
  const size_t length = table.size() / groups;
  std::string out = "ok";
  for (uint32_t g = 0; g < groups; g++) {
    if (g > 0 && options.corrupt_pages != "bars") out += " |";
    const size_t end = g + 1 == groups ? words.size() : (g + 1) * length;  // the rest: the last
    for (size_t i = g * length; i < end; i++) out += " " + words[i];
  }
  return out;
}

std::string join(const auto& values) {
  std::string out = "ok";
  for (const auto& value : values) out += " " + std::to_string(value);
  return out;
}

// Misbehaves as asked; returns true when it printed something instead of the reply.
bool misbehave(const Options& options) {
  const std::string& mode = options.misbehave;
  if (mode == "garbage") std::cout << "hello from a confused backend" << std::endl;
  if (mode == "wrong-word") std::cout << "okay" << std::endl;
  if (mode == "wrong-result") std::cout << "capacity_exceeded" << std::endl;
  if (mode == "exit") std::exit(3);
  if (mode == "long-line") {
    const std::string chunk(1 << 20, 'x');
    for (int i = 0; i < 100 && std::cout; i++) std::cout << chunk;
    std::cout << std::endl;
  }
  if (mode == "close") {
    close(1);
    close(0);
  }
  if (mode == "hang" || mode == "close") {
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return true;
}

// Token ids as comma-separated inclusive ranges: {5,6,7,9} -> "5-7,9".
std::string ranges(const std::vector<uint64_t>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) j++;
    out += (out.empty() ? "" : ",") + std::to_string(ids[i]);
    if (j > i) out += "-" + std::to_string(ids[j]);
    i = j + 1;
  }
  return out;
}

// --hash-keys: a key as an engine's own hash word would name it (hex of a hash of its ids);
// --corrupt-cache collide gives every key of more than one block the same hash.
std::string hash_word(const std::vector<uint64_t>& ids, const Options& options) {
  if (options.corrupt_cache == "collide" && ids.size() > 1) return "c0111de";
  uint64_t hash = 1469598103934665603ull;
  for (uint64_t id : ids) hash = (hash ^ id) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

// `? cache`: PAGE=RANGES, PAGE=G:RANGES in a kv_groups config (V-G7), PAGE=HASH with --hash-keys.
std::string cache_reply(const kv::Backend& backend, const kv::Config& config,
                        const Options& options) {
  kv::PrefixCacheView view = backend.prefix_cache().value_or(kv::PrefixCacheView{});
  if (options.corrupt_cache == "queue") std::reverse(view.queue.begin(), view.queue.end());
  if (options.corrupt_cache == "key" && !view.registered.empty()) view.registered[0].key.back()++;
  if (options.corrupt_cache == "malformed") return "ok 0=7-x queue";
  std::string out = "ok";
  for (const auto& entry : view.registered) {
    const std::string group =
        config.group_count > 0 && !options.hash_keys ? std::to_string(entry.group) + ":" : "";
    out += " " + std::to_string(entry.page) + "=" +
           (options.hash_keys ? hash_word(entry.key, options) : group + ranges(entry.key));
  }
  out += " queue";
  for (uint64_t page : view.queue) out += " " + std::to_string(page);
  return out;
}

std::string observe(kv::Backend& backend, const kv::Config& config, const std::string& line,
                    const Options& options) {
  const std::string_view rest = std::string_view(line).substr(2);
  const std::string_view what = rest.substr(0, rest.find(' '));
  const std::string_view arg = rest.find(' ') == std::string_view::npos
                                   ? std::string_view()
                                   : rest.substr(rest.find(' ') + 1);
  const auto seq = static_cast<kv::SeqId>(number(arg.substr(0, arg.find(' '))));
  if (what == "stats") {
    kv::StatsView stats = backend.stats();
    if (options.corrupt_cache == "cached" && stats.cached_keys) ++*stats.cached_keys;
    return kv::format_result(kv::Result{kv::Status::ok, {}, std::nullopt, stats});
  }
  if (what == "ids") return join(backend.sequence_ids());
  if (what == "cache" && options.version == "2") return cache_reply(backend, config, options);
  const auto info = backend.info(seq);
  if (!info) return "unknown_sequence";
  if (what == "info") return kv::format_result(kv::Result{kv::Status::ok, {}, info, std::nullopt});
  if (what == "pages") return pages_reply(backend.block_table(seq), config.groups(), options);
  const std::vector<uint32_t> words = backend.gather_words(seq);
  if (what == "digest") {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx",
                  static_cast<unsigned long long>(kv::words_digest(words)));
    return std::string("ok ") + hex;
  }
  if (what == "words") {
    const std::string_view counts = arg.substr(arg.find(' ') + 1);
    const uint64_t first =
        std::min<uint64_t>(number(counts.substr(0, counts.find(' '))), words.size());
    uint64_t count = number(counts.substr(counts.find(' ') + 1));
    if (options.words_max != 0) count = std::min(count, options.words_max);
    std::vector<uint32_t> chunk(words.begin() + first,
                                words.begin() + std::min<uint64_t>(words.size(), first + count));
    return join(chunk);
  }
  return "error unknown observation '" + line + "'";
}

int serve(const Options& options) {
  std::cout << "kvbackend " << options.version << " protocol-host\nops "
            << (options.ops.empty() ? kv::Capabilities::all().op_list() : options.ops)
            << "\neviction " << options.eviction << "\ndata " << options.data << "\naudit yes\n"
            << (options.hash_keys ? "keys hash\n" : "")
            << (options.window_line ? "sliding_window 0 1048576\n" : "")
            << (options.groups_line ? "kv_groups 0 " + std::to_string(kv::kv_groups_max) + "\n"
                                    : "")
            << options.profile_lines << "ready" << std::endl;
  std::unique_ptr<kv::Backend> backend;
  kv::Config config;
  kv::Tick tick = 0;
  uint64_t op_index = 0;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::string reply;
    if (line.rfind("config", 0) == 0) {
      auto parsed = kv::parse_trace("kvtrace 3\n" + line + "\n", kv::memory_budget_default_bytes);
      if (auto* error = std::get_if<kv::ParseError>(&parsed)) {
        reply = "error " + error->message;
      } else {
        config = std::get<kv::Trace>(parsed).config;
        kv::Config run = config;  // --ignore-variant: the default word instead
        for (const std::string& key : options.ignored_variants) {
          if (const kv::VariantKey* variant = kv::find_variant_key(key)) run.*variant->field = 0;
        }
        backend = std::make_unique<kv::HostBackend>(run);
        tick = op_index = 0;
        reply = "ok";
      }
    } else if (!backend) {
      reply = "error no config yet";
    } else if (line.rfind("tick ", 0) == 0) {
      tick = number(std::string_view(line).substr(5));
      reply = "ok";
    } else if (line == "? audit") {
      for (const std::string& problem : backend->audit())
        std::cout << "problem " << problem << "\n";
      reply = "ok";
    } else if (line.rfind("? ", 0) == 0) {
      reply = observe(*backend, config, line, options);
    } else {
      auto op = kv::parse_op(line);
      if (auto* error = std::get_if<std::string>(&op)) {
        reply = "error " + *error;
      } else {
        if (!options.misbehave.empty() && op_index == options.at_op && misbehave(options)) {
          tick++;
          op_index++;
          continue;
        }
        kv::OpResult result = backend->apply(std::get<kv::Op>(op), tick++);
        for (kv::Result& entry : result.entries) {
          if (options.corrupt_cache == "cached" && entry.stats && entry.stats->cached_keys)
            ++*entry.stats->cached_keys;
        }
        reply = kv::format_op_result(result);
        op_index++;
      }
    }
    std::cout << reply << "\n";
    if (std::cin.rdbuf()->in_avail() <= 0) std::cout.flush();
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--misbehave") options.misbehave = argv[i + 1];
    if (flag == "--at-op") options.at_op = number(argv[i + 1]);
    if (flag == "--ops") options.ops = argv[i + 1];
    if (flag == "--eviction") options.eviction = argv[i + 1];
    if (flag == "--profile-line") options.profile_lines += std::string(argv[i + 1]) + "\n";
    if (flag == "--version") options.version = argv[i + 1];
    if (flag == "--corrupt-cache") options.corrupt_cache = argv[i + 1];
    if (flag == "--data") options.data = argv[i + 1];
    if (flag == "--words-max") options.words_max = number(argv[i + 1]);
    if (flag == "--hash-keys") options.hash_keys = std::string_view(argv[i + 1]) == "yes";
    if (flag == "--corrupt-pages") options.corrupt_pages = argv[i + 1];
    if (flag == "--window-line") options.window_line = std::string_view(argv[i + 1]) == "yes";
    if (flag == "--groups-line") options.groups_line = std::string_view(argv[i + 1]) == "yes";
    if (flag == "--buffer-replies") options.buffer_replies = std::string_view(argv[i + 1]) == "yes";
    if (flag == "--ignore-variant") options.ignored_variants.emplace_back(argv[i + 1]);
  }
  std::ios::sync_with_stdio(false);
  // std::cin is tied to std::cout: each read of a request flushes the replies before it.
  if (options.buffer_replies) std::cin.tie(nullptr);
  return serve(options);
}
