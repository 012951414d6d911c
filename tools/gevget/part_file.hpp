// NAME.part and its state file NAME.part.gevget: what a later `gevget -c` needs to continue a
// download safely (the URL, the validator, the size, and the progress of each segment).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gevget {

struct Segment {
  std::uint64_t start = 0;
  std::uint64_t end = 0;   // exclusive
  std::uint64_t done = 0;  // bytes of [start, end) in the file, from start
  std::uint64_t remaining() const noexcept { return end - start - done; }
};

struct PartState {
  std::string url;
  std::string etag;           // strong ETag, or empty
  std::string last_modified;  // or empty
  std::optional<std::uint64_t> total;
  std::vector<Segment> segments;  // a split download's map; empty for one stream

  // The If-Range value: the ETag if strong, else Last-Modified, else empty.
  std::string validator() const;
};

// Reads NAME.part.gevget; nullopt if missing or unreadable (then the .part is not trusted
// beyond its size).
std::optional<PartState> load_part_state(const std::string& path);
// Writes it atomically (a temporary file renamed over it). Returns false on failure.
bool save_part_state(const std::string& path, const PartState& state);

}  // namespace gevget
