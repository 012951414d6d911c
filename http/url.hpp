/// @file
/// URLs as the HTTP client needs them: "http://host:port/path?query" and "https://[::1]/x".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gev::http {

/// An absolute http(s) URL, split into the parts a request needs (parse_url() makes one).
struct Url {
  std::string scheme;      ///< "http" or "https"
  std::string host;        ///< without brackets for IPv6 literals
  std::uint16_t port = 0;  ///< the port, explicit or the scheme's default
  std::string target;      ///< path and query, "/" at least; never the fragment

  /// Whether the scheme is "https".
  bool is_https() const noexcept { return scheme == "https"; }
  /// Whether the port is the scheme's default (80 for http, 443 for https).
  bool default_port() const noexcept { return port == (is_https() ? 443 : 80); }
  /// "host" or "host:port" (brackets around IPv6), as the Host header wants it.
  std::string authority() const;
  /// The URL as text: scheme, "://", authority() and target.
  std::string to_string() const;
};

/// Parses an absolute http(s) URL. nullopt for anything else: another scheme, no host, a bad
/// port, user info (`user:pass@`: refused rather than sent in clear), spaces or control
/// characters.
std::optional<Url> parse_url(std::string_view text);

/// A redirect's Location resolved against the URL that answered (absolute, scheme-relative,
/// absolute-path and relative-path references).
std::optional<Url> resolve_location(const Url& base, std::string_view location);

}  // namespace gev::http
