// Output file names: from the URL or Content-Disposition, sanitized so a server can never make
// gevget write outside its directory, and unique within one run.
#pragma once

#include <set>
#include <string>
#include <string_view>

namespace gevget {

// The last segment of the URL's path, percent-decoded and sanitized; "index.html" if empty.
std::string name_from_url(std::string_view url);

// The file name a Content-Disposition header gives (filename*=UTF-8''... preferred over
// filename=...), sanitized; empty if it gives none.
std::string name_from_content_disposition(std::string_view header);

// Keeps only the final path component; replaces control characters, '/', '\\' and a leading
// '.'; "." and ".." and empty names become "" (the caller picks a default). At most 200 bytes.
std::string sanitize_file_name(std::string_view name);

// Names taken by this run's downloads: the second claim of NAME gets NAME.1, NAME.2, ...
class NameRegistry {
 public:
  std::string claim(const std::string& name);
  void release(const std::string& name);

 private:
  std::set<std::string> taken_;
};

}  // namespace gevget
