#include "gevget/file_names.hpp"

#include <cctype>

#include <gev/http/request.hpp>

namespace gevget {

namespace {

// Percent-decoding as in a URL path ('+' stays '+'; invalid escapes stay as sent).
std::string percent_decode(std::string_view s) {
  return gev::http::url_decode(s, false);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string sanitize_file_name(std::string_view name) {
  // Only the last component, whichever separator the server used.
  if (const auto slash = name.find_last_of("/\\"); slash != std::string_view::npos) {
    name.remove_prefix(slash + 1);
  }
  std::string out;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '_' : c);
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '.')) out.pop_back();
  if (out.empty() || out == "." || out == "..") return "";
  if (out[0] == '.') out[0] = '_';  // no hidden files, no ".." prefixes
  if (out.size() > 200) {
    // Keep the extension when shortening.
    const auto dot = out.rfind('.');
    const std::string ext =
        dot != std::string::npos && out.size() - dot <= 16 ? out.substr(dot) : std::string();
    out = out.substr(0, 200 - ext.size()) + ext;
  }
  return out;
}

std::string name_from_url(std::string_view url) {
  // Path only: drop the scheme and authority, the query and the fragment.
  if (const auto scheme = url.find("://"); scheme != std::string_view::npos) {
    url.remove_prefix(scheme + 3);
    const auto path = url.find_first_of("/?#");
    url = path == std::string_view::npos ? std::string_view() : url.substr(path);
  }
  url = url.substr(0, url.find_first_of("?#"));
  if (const auto slash = url.rfind('/'); slash != std::string_view::npos) {
    url.remove_prefix(slash + 1);
  }
  std::string name = sanitize_file_name(percent_decode(url));
  return name.empty() ? "index.html" : name;
}

std::string name_from_content_disposition(std::string_view header) {
  std::string plain, extended;
  // Parameters after the disposition type: name=value or name="quoted value".
  std::size_t i = header.find(';');
  while (i != std::string_view::npos && i < header.size()) {
    ++i;
    const auto eq = header.find('=', i);
    if (eq == std::string_view::npos) break;
    const std::string_view key = trim(header.substr(i, eq - i));
    std::size_t j = eq + 1;
    while (j < header.size() && (header[j] == ' ' || header[j] == '\t')) ++j;
    std::string value;
    if (j < header.size() && header[j] == '"') {
      for (++j; j < header.size() && header[j] != '"'; ++j) {
        if (header[j] == '\\' && j + 1 < header.size()) ++j;
        value.push_back(header[j]);
      }
      i = header.find(';', j);
    } else {
      const auto end = header.find(';', j);
      value = std::string(trim(header.substr(j, end == std::string_view::npos ? end : end - j)));
      i = end;
    }
    if (iequals(key, "filename")) {
      plain = value;
    } else if (iequals(key, "filename*")) {
      // RFC 5987: charset'language'percent-encoded; only UTF-8 and ASCII are taken as is.
      const auto q1 = value.find('\'');
      const auto q2 = q1 == std::string::npos ? q1 : value.find('\'', q1 + 1);
      if (q2 != std::string::npos) {
        const std::string charset = value.substr(0, q1);
        if (iequals(charset, "utf-8") || iequals(charset, "us-ascii")) {
          extended = percent_decode(std::string_view(value).substr(q2 + 1));
        }
      }
    }
  }
  return sanitize_file_name(!extended.empty() ? extended : plain);
}

std::string NameRegistry::claim(const std::string& name) {
  if (taken_.insert(name).second) return name;
  for (int n = 1;; ++n) {
    std::string candidate = name + "." + std::to_string(n);
    if (taken_.insert(candidate).second) return candidate;
  }
}

void NameRegistry::release(const std::string& name) {
  taken_.erase(name);
}

}  // namespace gevget
