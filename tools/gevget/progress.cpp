#include "gevget/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include <gev/runtime/sleep.hpp>

#include "gevget/summary.hpp"

namespace gevget {

namespace {

using Clock = std::chrono::steady_clock;

std::string eta_text(double seconds) {
  if (!(seconds >= 0) || seconds > 359999) return "--:--";
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

}  // namespace

Progress::Progress(const Downloader& downloader, ProgressMode mode, std::FILE* out)
    : d_(downloader), mode_(mode), out_(out), started_(Clock::now()) {
  if (mode_ == ProgressMode::automatic) {
    mode_ = ::isatty(::fileno(out_)) ? ProgressMode::bar : ProgressMode::lines;
  }
  if (mode_ == ProgressMode::bar) {
    winsize ws{};
    if (::ioctl(::fileno(out_), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) {
      width_ = ws.ws_col;
      height_ = std::max<int>(ws.ws_row, 5);
    }
  }
}

Progress::~Progress() {
  if (ticker_) ticker_->kill();
}

void Progress::start() {
  if (mode_ == ProgressMode::none) return;
  ticker_ = gev::spawn([this] {
    for (int tick = 0;; ++tick) {
      if (mode_ == ProgressMode::bar) {
        redraw();
        gev::sleep(std::chrono::milliseconds(100));
      } else {
        gev::sleep(std::chrono::seconds(5));
        char buf[256];
        total_line(buf, sizeof buf);
        std::fprintf(out_, "gevget: %s\n", buf);
        std::fflush(out_);
      }
    }
  });
}

double Progress::speed() {
  // Over the last three seconds, so the figure follows changes without jittering.
  const auto now = Clock::now();
  samples_.emplace_back(now, d_.bytes_received());
  while (samples_.size() > 2 && now - samples_.front().first > std::chrono::seconds(3)) {
    samples_.pop_front();
  }
  const double dt = std::chrono::duration<double>(now - samples_.front().first).count();
  if (dt < 0.05) {
    const double all = std::chrono::duration<double>(now - started_).count();
    return all > 0 ? static_cast<double>(d_.bytes_received()) / all : 0;
  }
  return static_cast<double>(d_.bytes_received() - samples_.front().second) / dt;
}

void Progress::total_line(char* buf, std::size_t size) {
  const double rate = speed();
  std::uint64_t left = 0;
  bool known = true;
  for (const Transfer* t : d_.active()) {
    if (t->size == 0) known = false;
    if (t->size > t->have) left += t->size - t->have;
  }
  const bool more_to_start = d_.finished() + d_.active().size() < d_.total();
  const std::string eta =
      known && !more_to_start && rate > 0 ? eta_text(static_cast<double>(left) / rate) : "--:--";
  std::snprintf(buf, size, "[%zu/%zu files] %s  %s/s  ETA %s  (%zu active)", d_.finished(),
                d_.total(), human_bytes(static_cast<double>(d_.bytes_received())).c_str(),
                human_bytes(rate).c_str(), eta.c_str(), d_.active().size());
}

void Progress::redraw() {
  std::string frame;
  if (drawn_lines_ > 0) frame += "\x1b[" + std::to_string(drawn_lines_) + "A";
  frame += "\r\x1b[J";
  int lines = 0;
  const int room = std::max(1, height_ - 2);
  const auto now = Clock::now();
  const std::size_t cols = static_cast<std::size_t>(width_ - 1);
  int shown = 0;
  for (const Transfer* t : d_.active()) {
    if (shown == room - 1 && static_cast<int>(d_.active().size()) > room) {
      frame += "  ... and " + std::to_string(d_.active().size() - shown) + " more\n";
      ++lines;
      break;
    }
    const double secs = std::chrono::duration<double>(now - t->started).count();
    const double rate = secs > 0 ? static_cast<double>(t->received) / secs : 0;
    char line[512];
    // Narrow terminals get a shorter bar and name column, so a line never wraps.
    const int bar = width_ >= 110 ? 20 : 10;
    const int name_width = std::clamp(width_ - 45 - bar, 8, 40);
    std::string name = t->name;
    if (static_cast<int>(name.size()) > name_width) {
      name = name.substr(0, static_cast<std::size_t>(name_width - 3)) + "...";
    }
    if (t->size > 0) {
      const int pct =
          static_cast<int>(100.0 * static_cast<double>(t->have) / static_cast<double>(t->size));
      const int filled = std::clamp(pct * bar / 100, 0, bar);
      std::snprintf(line, sizeof line, "  %-*s [%s%s] %3d%% %9s/%-9s %9s/s", name_width,
                    name.c_str(), std::string(static_cast<std::size_t>(filled), '#').c_str(),
                    std::string(static_cast<std::size_t>(bar - filled), '.').c_str(), pct,
                    human_bytes(static_cast<double>(t->have)).c_str(),
                    human_bytes(static_cast<double>(t->size)).c_str(), human_bytes(rate).c_str());
    } else {
      std::snprintf(line, sizeof line, "  %-*s %9s %9s/s", name_width, name.c_str(),
                    human_bytes(static_cast<double>(t->have)).c_str(), human_bytes(rate).c_str());
    }
    std::string text = line;
    if (text.size() > cols) text.resize(cols);
    frame += text + "\n";
    ++lines;
    ++shown;
  }
  char total[256];
  total_line(total, sizeof total);
  std::string text = total;
  if (text.size() > cols) text.resize(cols);
  frame += text + "\n";
  ++lines;
  drawn_lines_ = lines;
  std::fwrite(frame.data(), 1, frame.size(), out_);
  std::fflush(out_);
}

void Progress::finished(const Result& r) {
  if (mode_ == ProgressMode::none) return;
  if (mode_ == ProgressMode::lines) {
    if (r.status == Status::ok) {
      std::fprintf(out_, "gevget: done %s (%s in %.2f s)\n", r.file.c_str(),
                   human_bytes(static_cast<double>(r.bytes)).c_str(), r.seconds);
    } else if (r.status == Status::failed) {
      std::fprintf(out_, "gevget: FAILED %s: %s\n", r.url.c_str(), r.error.c_str());
    }
    return;
  }
  if (r.status == Status::failed) {
    // Above the live lines: clear them, print, and let the next redraw put them back.
    if (drawn_lines_ > 0) std::fprintf(out_, "\x1b[%dA\r\x1b[J", drawn_lines_);
    drawn_lines_ = 0;
    std::fprintf(out_, "gevget: FAILED %s: %s\n", r.url.c_str(), r.error.c_str());
  }
}

void Progress::stop() {
  if (ticker_) {
    ticker_->kill();
    ticker_.reset();
  }
  if (mode_ == ProgressMode::bar) redraw();
  std::fflush(out_);
}

}  // namespace gevget
