#include "gevget/options.hpp"

#include <cctype>
#include <cmath>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <gev/http/url.hpp>

namespace gevget {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_hex_sha256(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

void check_url(const std::string& url, const std::string& where) {
  if (!gev::http::parse_url(url)) {
    throw UsageError(where + "not an http:// or https:// URL: " + url);
  }
}

int parse_count(const std::string& text, const std::string& what, int min, int max) {
  std::size_t used = 0;
  long v = 0;
  try {
    v = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < min || v > max) {
    throw UsageError(what + " wants a whole number from " + std::to_string(min) + " to " +
                     std::to_string(max) + ", not '" + text + "'");
  }
  return static_cast<int>(v);
}

std::string read_all(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), {});
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("cannot read the input file " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

// The number text starts with; `used` says how many characters it took (0: none).
static double leading_number(const std::string& text, std::size_t& used) {
  used = 0;
  try {
    return std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
    return -1;
  }
}

std::uint64_t parse_size(const std::string& text, const std::string& what) {
  std::size_t used = 0;
  const double v = leading_number(text, used);
  double scale = 1;
  if (used > 0 && used + 1 == text.size()) {
    switch (text.back()) {
      case 'k':
      case 'K':
        scale = 1024.0;
        break;
      case 'm':
      case 'M':
        scale = 1024.0 * 1024;
        break;
      case 'g':
      case 'G':
        scale = 1024.0 * 1024 * 1024;
        break;
      default:
        used = 0;
    }
    if (used > 0) ++used;
  }
  if (used == 0 || used != text.size() || !(v >= 0) || !std::isfinite(v) || v * scale > 1e18) {
    throw UsageError(what + " wants a size like 100, 512k, 2M or 1G, not '" + text + "'");
  }
  return static_cast<std::uint64_t>(v * scale);
}

Seconds parse_seconds(const std::string& text, const std::string& what) {
  std::size_t used = 0;
  const double v = leading_number(text, used);
  if (used == 0 || used != text.size() || !(v >= 0) || v > 1e7) {
    throw UsageError(what + " wants a number of seconds like 5 or 0.5, not '" + text + "'");
  }
  return Seconds(v);
}

std::vector<Target> parse_input(const std::string& text, const std::string& source) {
  std::vector<Target> out;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream words(line);
    std::string word;
    if (!(words >> word) || word[0] == '#') continue;
    const std::string where = source + ":" + std::to_string(number) + ": ";
    Target t;
    t.url = word;
    check_url(t.url, where);
    while (words >> word) {
      const auto eq = word.find('=');
      const std::string key = lower(word.substr(0, eq));
      const std::string value = eq == std::string::npos ? "" : word.substr(eq + 1);
      if (key == "out" && !value.empty()) {
        t.output_name = value;
      } else if (key == "sha256" || key == "checksum") {
        std::string hex = value;
        if (key == "checksum") {
          if (lower(hex.substr(0, 7)) != "sha256=") {
            throw UsageError(where + "only sha256 checksums are supported: " + word);
          }
          hex = hex.substr(7);
        }
        hex = lower(hex);
        if (!is_hex_sha256(hex)) throw UsageError(where + "not a sha256 digest: " + word);
        t.sha256 = hex;
      } else {
        throw UsageError(where + "unknown field '" + word + "' (out=NAME, sha256=HEX)");
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

const char* usage_text() {
  return R"(usage: gevget [OPTIONS] URL...
       gevget [OPTIONS] -i FILE
Downloads URLs concurrently; files are written as NAME.part and renamed when complete.

  -i, --input-file FILE     URLs one per line ("-": stdin), fields out=NAME sha256=HEX
  -d, --dir DIR             save into DIR (default .)
  -o, --output NAME         output file name (one URL only)
      --overwrite           replace existing files (default: skip them)
  -j, --jobs N              concurrent downloads (16)
      --per-host N          connections per host:port (0: no limit beyond -j)
  -x, --split N             split a large file over N ranged connections (1)
      --min-split-size SIZE smallest segment for -x (1M)
  -c, --continue            resume NAME.part files from an earlier run
      --retry N             retries per URL (3)
      --retry-wait SECONDS  first back-off, doubled per retry with jitter (1)
      --timeout SECONDS     fail an attempt after this long without data (30)
      --connect-timeout SECONDS  DNS + TCP + TLS time limit (10)
      --max-redirects N     redirects followed per URL (10)
      --checksum sha256=HEX verify the download (one URL only)
  -H, --header "K: V"       extra request header (repeatable)
  -U, --user-agent TEXT     User-Agent header
  -k, --insecure            do not verify HTTPS certificates
      --ca-file FILE        trust these CA certificates (PEM)
      --limit-rate RATE     total bytes/s over all downloads (k, M, G suffixes)
      --progress MODE       auto, bar, lines or none
  -q, --quiet               print only errors
      --json FILE           write a JSON summary to FILE ("-": stdout)
  -h, --help                this text
  -V, --version             the version

Exit status: 0 all done, 1 a download failed, 2 usage error, 3 local file error,
4 TLS failure, 5 checksum mismatch, 128+N interrupted by signal N.
)";
}

Options parse_command_line(int argc, char** argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  std::vector<std::string> urls;
  std::vector<std::string> input_files;
  std::string output, checksum;
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (options_done || arg.empty() || arg[0] != '-' || arg == "-") {
      urls.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    std::optional<std::string> inline_value;
    if (arg.rfind("--", 0) == 0) {
      if (const auto eq = arg.find('='); eq != std::string::npos) {
        inline_value = arg.substr(eq + 1);
        arg.resize(eq);
      }
    } else if (arg.size() > 2) {  // -j50, -xN: the value glued to a short option
      inline_value = arg.substr(2);
      arg.resize(2);
    }
    auto value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) throw UsageError(arg + " needs a value");
      return args[++i];
    };
    auto flag = [&] {
      if (inline_value) throw UsageError(arg + " takes no value");
    };
    if (arg == "-h" || arg == "--help") {
      flag();
      o.help = true;
    } else if (arg == "-V" || arg == "--version") {
      flag();
      o.version = true;
    } else if (arg == "-i" || arg == "--input-file") {
      input_files.push_back(value());
    } else if (arg == "-d" || arg == "--dir" || arg == "--directory") {
      o.directory = value();
      if (o.directory.empty()) throw UsageError("-d needs a directory");
    } else if (arg == "-o" || arg == "--output") {
      output = value();
      if (output.empty()) throw UsageError("-o needs a file name");
    } else if (arg == "--overwrite") {
      flag();
      o.overwrite = true;
    } else if (arg == "-j" || arg == "--jobs") {
      o.jobs = parse_count(value(), "-j", 1, 10000);
    } else if (arg == "--per-host") {
      o.per_host = parse_count(value(), "--per-host", 0, 10000);
    } else if (arg == "-x" || arg == "--split") {
      o.split = parse_count(value(), "-x", 1, 64);
    } else if (arg == "--min-split-size") {
      o.min_split_size = parse_size(value(), "--min-split-size");
      if (o.min_split_size < 4096) throw UsageError("--min-split-size is at least 4k");
    } else if (arg == "-c" || arg == "--continue") {
      flag();
      o.resume = true;
    } else if (arg == "--retry") {
      o.retries = parse_count(value(), "--retry", 0, 1000);
    } else if (arg == "--retry-wait") {
      o.retry_wait = parse_seconds(value(), "--retry-wait");
    } else if (arg == "--timeout") {
      o.timeout = parse_seconds(value(), "--timeout");
      if (o.timeout.count() <= 0) throw UsageError("--timeout must be above 0");
    } else if (arg == "--connect-timeout") {
      o.connect_timeout = parse_seconds(value(), "--connect-timeout");
      if (o.connect_timeout.count() <= 0) throw UsageError("--connect-timeout must be above 0");
    } else if (arg == "--max-redirects") {
      o.max_redirects = parse_count(value(), "--max-redirects", 0, 100);
    } else if (arg == "--checksum") {
      checksum = value();
    } else if (arg == "-H" || arg == "--header") {
      const std::string h = value();
      const auto colon = h.find(':');
      if (colon == std::string::npos || colon == 0 ||
          h.find_first_of("\r\n") != std::string::npos) {
        throw UsageError("--header wants \"Name: value\", not '" + h + "'");
      }
      std::string v = h.substr(colon + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      o.headers.emplace_back(h.substr(0, colon), v);
    } else if (arg == "-U" || arg == "--user-agent") {
      o.user_agent = value();
      if (o.user_agent.find_first_of("\r\n") != std::string::npos) {
        throw UsageError("--user-agent must be one line");
      }
    } else if (arg == "-k" || arg == "--insecure") {
      flag();
      o.insecure = true;
    } else if (arg == "--ca-file") {
      o.ca_file = value();
    } else if (arg == "--limit-rate") {
      o.limit_rate = parse_size(value(), "--limit-rate");
    } else if (arg == "--progress") {
      const std::string m = value();
      if (m == "auto")
        o.progress = ProgressMode::automatic;
      else if (m == "bar")
        o.progress = ProgressMode::bar;
      else if (m == "lines")
        o.progress = ProgressMode::lines;
      else if (m == "none")
        o.progress = ProgressMode::none;
      else
        throw UsageError("--progress is auto, bar, lines or none, not '" + m + "'");
    } else if (arg == "-q" || arg == "--quiet") {
      flag();
      o.quiet = true;
    } else if (arg == "--json") {
      o.json_file = value();
    } else {
      throw UsageError("unknown option " + args[i] + " (see gevget --help)");
    }
  }
  if (o.help || o.version) return o;
  for (const std::string& u : urls) {
    check_url(u, "");
    o.targets.push_back(Target{u, "", ""});
  }
  for (const std::string& f : input_files) {
    auto more = parse_input(read_all(f), f == "-" ? "stdin" : f);
    o.targets.insert(o.targets.end(), more.begin(), more.end());
  }
  if (o.targets.empty()) throw UsageError("no URLs given (see gevget --help)");
  if (!output.empty()) {
    if (o.targets.size() != 1) throw UsageError("-o names one file: give exactly one URL");
    o.targets[0].output_name = output;
  }
  if (!checksum.empty()) {
    if (o.targets.size() != 1) throw UsageError("--checksum applies to exactly one URL");
    std::string c = lower(checksum);
    if (c.rfind("sha256=", 0) != 0 || !is_hex_sha256(c.substr(7))) {
      throw UsageError("--checksum wants sha256=<64 hex digits>, not '" + checksum + "'");
    }
    o.targets[0].sha256 = c.substr(7);
  }
  return o;
}

}  // namespace gevget
