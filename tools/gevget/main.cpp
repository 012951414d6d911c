// gevget: downloads many URLs concurrently on one gev hub (docs/gevget.md is the manual).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <gev/gev.hpp>

#include "gevget/download.hpp"
#include "gevget/options.hpp"
#include "gevget/progress.hpp"
#include "gevget/summary.hpp"

namespace {

int run(const gevget::Options& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.directory, ec);
  if (ec) {
    std::fprintf(stderr, "gevget: cannot create %s: %s\n", options.directory.c_str(),
                 ec.message().c_str());
    return gevget::exit_status::local_file;
  }
  const auto started = std::chrono::steady_clock::now();
  gevget::Downloader downloader(options);
  const gevget::ProgressMode mode = options.quiet ? gevget::ProgressMode::none : options.progress;
  gevget::Progress progress(downloader, mode, stderr);
  downloader.on_finish = [&](const gevget::Result& r) { progress.finished(r); };

  // The first signal stops the downloads cleanly (their .part files stay for -c); a second
  // one exits at once.
  int signalled = 0;
  auto on_signal = [&](int signum) {
    if (signalled != 0) ::_exit(gevget::exit_status::interrupted_base + signum);
    signalled = signum;
    static const char note[] = "\ngevget: stopping (a second signal exits at once)\n";
    if (!options.quiet) (void)!::write(2, note, sizeof note - 1);
    downloader.stop();
  };
  auto sigint = gev::signal_handler(SIGINT, [&] { on_signal(SIGINT); });
  auto sigterm = gev::signal_handler(SIGTERM, [&] { on_signal(SIGTERM); });
  auto sigquit = gev::signal_handler(SIGQUIT, [&] { on_signal(SIGQUIT); });

  progress.start();
  const auto& results = downloader.run();
  progress.stop();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const int status = gevget::exit_status_of(results, signalled);
  gevget::print_summary(stderr, results, seconds, options.quiet);
  if (!options.json_file.empty()) {
    const std::string json = gevget::json_summary(results, seconds, status);
    if (options.json_file == "-") {
      std::fwrite(json.data(), 1, json.size(), stdout);
      std::fflush(stdout);
    } else {
      std::ofstream out(options.json_file, std::ios::trunc);
      out << json;
      if (!out) {
        std::fprintf(stderr, "gevget: cannot write %s\n", options.json_file.c_str());
        return std::max(status, gevget::exit_status::local_file);
      }
    }
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  gevget::Options options;
  try {
    options = gevget::parse_command_line(argc, argv);
  } catch (const gevget::UsageError& e) {
    std::fprintf(stderr, "gevget: %s\n", e.what());
    return gevget::exit_status::usage;
  }
  if (options.help) {
    std::fputs(gevget::usage_text(), stdout);
    return 0;
  }
  if (options.version) {
    std::printf("gevget %s (gev)\n", GEVGET_VERSION);
    return 0;
  }
  ::signal(SIGPIPE, SIG_IGN);
  return run(options);
}
