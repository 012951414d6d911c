// gevget's command line: what to download and how (docs/gevget.md is the manual).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace gevget {

using Seconds = std::chrono::duration<double>;

// One URL to fetch, with what its input line or the command line said about it.
struct Target {
  std::string url;
  std::string output_name;  // empty: from Content-Disposition or the URL
  std::string sha256;       // lower-case hex, empty: no checksum
};

enum class ProgressMode { automatic, bar, lines, none };

struct Options {
  std::vector<Target> targets;
  std::string directory = ".";
  bool overwrite = false;
  int jobs = 16;
  int per_host = 0;  // 0: no limit beyond jobs
  int split = 1;
  std::uint64_t min_split_size = 1 << 20;
  bool resume = false;
  int retries = 3;
  Seconds retry_wait{1.0};
  Seconds timeout{30.0};
  Seconds connect_timeout{10.0};
  int max_redirects = 10;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string user_agent = "gevget/" GEVGET_VERSION;
  bool insecure = false;
  std::string ca_file;
  std::uint64_t limit_rate = 0;  // bytes/s over all downloads, 0: unlimited
  ProgressMode progress = ProgressMode::automatic;
  bool quiet = false;
  std::string json_file;  // "-": standard output
  bool help = false;
  bool version = false;
};

// A bad command line or input file: gevget prints it and exits with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses argv (reads -i files, "-" meaning standard input). Throws UsageError.
Options parse_command_line(int argc, char** argv);

// "10", "1.5k", "2M", "1G" (powers of 1024). Throws UsageError naming `what`.
std::uint64_t parse_size(const std::string& text, const std::string& what);
// "5", "0.25". Throws UsageError naming `what`.
Seconds parse_seconds(const std::string& text, const std::string& what);
// The lines of an input file: "URL [out=NAME] [sha256=HEX]", '#' comments. Throws UsageError.
std::vector<Target> parse_input(const std::string& text, const std::string& source);

const char* usage_text();

}  // namespace gevget
