#include "gevget/part_file.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace gevget {

std::string PartState::validator() const {
  if (!etag.empty() && etag.rfind("W/", 0) != 0) return etag;
  return last_modified;
}

std::optional<PartState> load_part_state(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  PartState s;
  std::string line;
  bool version_seen = false;
  while (std::getline(in, line)) {
    const auto space = line.find(' ');
    const std::string key = line.substr(0, space);
    const std::string value = space == std::string::npos ? "" : line.substr(space + 1);
    try {
      if (key == "gevget-part") {
        version_seen = value == "1";
      } else if (key == "url") {
        s.url = value;
      } else if (key == "etag") {
        s.etag = value;
      } else if (key == "last-modified") {
        s.last_modified = value;
      } else if (key == "total") {
        s.total = std::stoull(value);
      } else if (key == "segment") {
        std::istringstream words(value);
        Segment seg;
        if (!(words >> seg.start >> seg.end >> seg.done) || seg.end < seg.start ||
            seg.done > seg.end - seg.start) {
          return std::nullopt;
        }
        s.segments.push_back(seg);
      }
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  if (!version_seen || s.url.empty()) return std::nullopt;
  return s;
}

bool save_part_state(const std::string& path, const PartState& state) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return false;
    out << "gevget-part 1\nurl " << state.url << "\n";
    if (!state.etag.empty()) out << "etag " << state.etag << "\n";
    if (!state.last_modified.empty()) out << "last-modified " << state.last_modified << "\n";
    if (state.total) out << "total " << *state.total << "\n";
    for (const Segment& s : state.segments) {
      out << "segment " << s.start << " " << s.end << " " << s.done << "\n";
    }
    out.flush();
    if (!out) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace gevget
