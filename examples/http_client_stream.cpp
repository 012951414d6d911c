// Bodies that never sit in memory: Client::stream hands pieces to a callback as they arrive,
// and stream_to_file writes a body (here in two ranged halves, as a resumed download) into a file.
#include <gev/gev.hpp>
#include <gev/http/app.hpp>
#include <gev/http/client.hpp>
#include <gev/http/server.hpp>
#include <gev/http/static_files.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <fcntl.h>
#include <unistd.h>

using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace http = gev::http;

std::string slurp(const fs::path& p) {
  std::ostringstream s;
  s << std::ifstream(p, std::ios::binary).rdbuf();
  return s.str();
}

int main() {
  const fs::path dir = fs::temp_directory_path() / ("gev-stream-" + std::to_string(getpid()));
  fs::create_directories(dir / "www");
  std::string data;
  for (int i = 0; data.size() < 100'000; ++i) data += "line " + std::to_string(i) + "\n";
  std::ofstream(dir / "www" / "big.txt", std::ios::binary) << data;

  http::App app;
  app.route("/ticks", [](http::Request&) {
    return http::Response::stream(200, [](http::BodyWriter& out) {
      for (int i = 0; i < 3; ++i) {
        out.write("tick " + std::to_string(i) + "\n");
        gev::sleep(20ms);
      }
    });
  });
  const std::string root = (dir / "www").string();
  app.route("/files/<path:f>", [&root](http::Request& req) {
    return http::send_from_directory(root, req.param("f"), req);
  });
  http::ServerOptions options;
  options.access_log = nullptr;
  http::Server server{{"127.0.0.1", 0}, app, options};
  server.start();
  const std::string base = "http://" + server.address().to_string();
  http::Client client;

  // [stream]
  std::string line;
  auto r = client.stream(
      base + "/ticks",
      [](const http::ClientResponse& head) {  // status and headers, before any body byte
        std::printf("head: %d, Transfer-Encoding: %s\n", head.status,
                    std::string(head.header("Transfer-Encoding")).c_str());
      },
      [&line](std::string_view piece) {  // each piece as it arrives (at most 64 KiB)
        line += piece;
        for (auto nl = line.find('\n'); nl != std::string::npos; nl = line.find('\n')) {
          std::printf("  got \"%s\"\n", line.substr(0, nl).c_str());
          line.erase(0, nl + 1);
        }
      });
  std::printf("done: %d, body kept in memory: %zu bytes\n", r.status, r.body.size());
  // [stream]

  // [to_file]
  const fs::path out = dir / "big.txt.part";
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  auto fetch_range = [&](std::uint64_t first, std::optional<std::uint64_t> last) {
    std::uint64_t written = 0;
    auto resp = client.stream_to_file(
        base + "/files/big.txt",
        [&](const http::ClientResponse& head) {
          if (head.status != 206) throw std::runtime_error("no range support");  // refuse it
          return http::FileTarget{.fd = fd, .offset = first};  // where the body goes
        },
        [&written](std::uint64_t n) { written += n; },  // progress: n more bytes on disk
        {.range = std::pair{first, last}});
    std::printf("%d %s: %llu bytes written\n", resp.status,
                std::string(resp.header("Content-Range")).c_str(),
                static_cast<unsigned long long>(written));
  };
  fetch_range(0, 49'999);             // the first half, as an interrupted download left it
  fetch_range(50'000, std::nullopt);  // the rest: Range: bytes=50000-
  ::close(fd);
  std::printf("identical to the source: %s\n", slurp(out) == data ? "yes" : "no");
  // [to_file]
  server.stop();
  fs::remove_all(dir);
}
