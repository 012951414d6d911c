// Fetch a URL with gev's HTTP client (urllib.request.urlopen): status, a few headers, the body
// size, and the first line of the body. HTTPS is verified against the system trust store, or
// against CA_FILE when given.
//
//   https_fetch URL [CA_FILE]
//
// Exit status: 0 for a 2xx answer, 1 for another status or a failure (printed), 2 for usage.
#include <cstdio>
#include <string>

#include <gev/gev.hpp>
#include <gev/http/client.hpp>

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s URL [CA_FILE]\n", argv[0]);
    return 2;
  }
  gev::http::ClientOptions options;
  if (argc == 3) options.ca_file = argv[2];
  gev::http::Client client(options);
  try {
    using namespace std::chrono_literals;
    const auto r = client.get(argv[1], {.timeout = 30s});
    std::printf("%d %s\n", r.status, r.reason.c_str());
    for (const char* h : {"Content-Type", "Content-Length", "Server"}) {
      if (!r.header(h).empty())
        std::printf("%s: %.*s\n", h, int(r.header(h).size()), r.header(h).data());
    }
    std::printf("%zu bytes from %s (%d redirects)\n", r.body.size(), r.url.c_str(), r.redirects);
    std::printf("%s\n", r.body.substr(0, r.body.find('\n')).c_str());
    return r.status >= 200 && r.status < 300 ? 0 : 1;
  } catch (const gev::http::ClientError& e) {
    std::fprintf(stderr, "https_fetch: %s\n", e.what());
    return 1;
  }
}
