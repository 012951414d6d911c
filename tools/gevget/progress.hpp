// The progress display. On a terminal: one live line per active download and a total line,
// redrawn at most 10 times a second. Elsewhere: a line per finished download and a total line
// every 5 seconds.
#pragma once

#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
#include <utility>

#include <gev/runtime/greenlet.hpp>

#include "gevget/download.hpp"
#include "gevget/options.hpp"

namespace gevget {

class Progress {
 public:
  // `mode` automatic picks bar when `out` is a terminal, lines otherwise.
  Progress(const Downloader& downloader, ProgressMode mode, std::FILE* out);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void start();
  // A download ended (called from Downloader::on_finish).
  void finished(const Result& r);
  // The last redraw, leaving the cursor below the display.
  void stop();

  bool live() const noexcept { return mode_ == ProgressMode::bar; }

 private:
  void redraw();
  void total_line(char* buf, std::size_t size);
  double speed();

  const Downloader& d_;
  ProgressMode mode_;
  std::FILE* out_;
  int drawn_lines_ = 0;
  int width_ = 80;
  int height_ = 24;
  std::chrono::steady_clock::time_point started_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> samples_;
  std::shared_ptr<gev::Greenlet<void>> ticker_;
};

}  // namespace gevget
