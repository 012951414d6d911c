// Static files with send_from_directory (nginx's root, Flask's send_from_directory): byte
// ranges, conditional GETs and a root that no path can leave.
#include <gev/gev.hpp>
#include <gev/http/app.hpp>
#include <gev/http/client.hpp>
#include <gev/http/server.hpp>
#include <gev/http/static_files.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

namespace fs = std::filesystem;
namespace http = gev::http;

int main() {
  const fs::path dir = fs::temp_directory_path() / ("gev-static-" + std::to_string(getpid()));
  fs::create_directories(dir / "www");
  std::ofstream(dir / "www" / "hello.txt") << "hello, static world\n";
  std::ofstream(dir / "secret.txt") << "outside the root\n";  // must never be served

  // [route]
  const std::string root = (dir / "www").string();
  http::App app;
  app.route("/static/<path:file>", [&root](http::Request& req) {
    return http::send_from_directory(root, req.param("file"), req);
  });
  // [route]
  http::ServerOptions options;
  options.access_log = nullptr;
  http::Server server{{"127.0.0.1", 0}, app, options};
  server.start();
  const std::string url = "http://" + server.address().to_string() + "/static/";

  http::Client client;
  auto show = [](const char* what, const http::ClientResponse& r) {
    std::string detail = r.body.empty() ? "(no body)" : r.body.substr(0, r.body.find('\n'));
    if (!r.header("Content-Range").empty())
      detail = "Content-Range: " + std::string(r.header("Content-Range")) + "  " + detail;
    std::printf("%-26s %d %s\n", what, r.status, detail.c_str());
  };
  // [fetch]
  const auto whole = client.get(url + "hello.txt");
  show("GET hello.txt", whole);
  std::printf("  Content-Type: %s, Accept-Ranges: %s\n",
              std::string(whole.header("Content-Type")).c_str(),
              std::string(whole.header("Accept-Ranges")).c_str());
  show("Range: bytes=7-12", client.get(url + "hello.txt", {.range = {{7, 12}}}));
  show("Range: bytes=100-", client.get(url + "hello.txt", {.range = {{100, std::nullopt}}}));
  const std::string etag{whole.header("ETag")};  // "<mtime hex>-<size hex>", as nginx makes it
  show("If-None-Match: <its ETag>",
       client.get(url + "hello.txt", {.headers = {{"If-None-Match", etag}}}));
  show("GET ..%2fsecret.txt", client.get(url + "..%2fsecret.txt"));  // decoded to ../: refused
  show("GET missing.txt", client.get(url + "missing.txt"));
  show("POST hello.txt", client.post(url + "hello.txt", "x"));
  // [fetch]
  server.stop();
  fs::remove_all(dir);
}
