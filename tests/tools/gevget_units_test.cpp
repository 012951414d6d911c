// gevget's pieces one by one: the command line, file names from URLs and Content-Disposition,
// Retry-After and back-off, the .part state file, the exit status and the JSON summary.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gevget/file_names.hpp"
#include "gevget/options.hpp"
#include "gevget/part_file.hpp"
#include "gevget/retry.hpp"
#include "gevget/summary.hpp"

using namespace gevget;

namespace {

Options parse(std::vector<std::string> args) {
  args.insert(args.begin(), "gevget");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

TEST_CASE("command line: defaults, values, glued short options") {
  Options o = parse({"http://h/a", "https://h/b"});
  CHECK(o.targets.size() == 2);
  CHECK(o.jobs == 16);
  CHECK(o.split == 1);
  CHECK(o.retries == 3);
  CHECK(o.directory == ".");
  CHECK_FALSE(o.insecure);
  o = parse({"-j50", "-x", "8", "--per-host=4", "-d", "out", "--limit-rate", "1.5M", "-c",
             "--retry", "0", "--timeout", "0.5", "-H", "X-A:  b", "-k", "http://h/a"});
  CHECK(o.jobs == 50);
  CHECK(o.split == 8);
  CHECK(o.per_host == 4);
  CHECK(o.directory == "out");
  CHECK(o.limit_rate == 1572864);
  CHECK(o.resume);
  CHECK(o.retries == 0);
  CHECK(o.timeout.count() == doctest::Approx(0.5));
  REQUIRE(o.headers.size() == 1);
  CHECK(o.headers[0] == std::pair<std::string, std::string>("X-A", "b"));
  CHECK(o.insecure);
  o = parse({"-o", "x.bin", "--checksum",
             "sha256=9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
             "http://h/a"});
  CHECK(o.targets[0].output_name == "x.bin");
  CHECK(o.targets[0].sha256 == "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
}

TEST_CASE("command line: every mistake is a UsageError that says what is wrong") {
  CHECK_THROWS_WITH_AS(parse({}), doctest::Contains("no URLs"), UsageError);
  CHECK_THROWS_WITH_AS(parse({"ftp://h/a"}), doctest::Contains("ftp://h/a"), UsageError);
  CHECK_THROWS_WITH_AS(parse({"--bogus", "http://h/a"}), doctest::Contains("--bogus"), UsageError);
  CHECK_THROWS_WITH_AS(parse({"-j", "0", "http://h/a"}), doctest::Contains("-j"), UsageError);
  CHECK_THROWS_WITH_AS(parse({"-j", "many", "http://h/a"}), doctest::Contains("many"), UsageError);
  CHECK_THROWS_WITH_AS(parse({"-o", "x", "http://h/a", "http://h/b"}),
                       doctest::Contains("exactly one URL"), UsageError);
  CHECK_THROWS_WITH_AS(parse({"--checksum", "md5=abc", "http://h/a"}), doctest::Contains("sha256"),
                       UsageError);
  CHECK_THROWS_WITH_AS(parse({"--limit-rate", "fast", "http://h/a"}), doctest::Contains("fast"),
                       UsageError);
  CHECK_THROWS_WITH_AS(parse({"--timeout", "-1", "http://h/a"}), doctest::Contains("-1"),
                       UsageError);
  CHECK_THROWS_WITH_AS(parse({"-H", "no colon", "http://h/a"}), doctest::Contains("Name: value"),
                       UsageError);
  CHECK_THROWS_WITH_AS(parse({"http://h/a", "-d"}), doctest::Contains("needs a value"), UsageError);
  CHECK_THROWS_WITH_AS(parse({"-i", "/nonexistent/list"}), doctest::Contains("/nonexistent/list"),
                       UsageError);
  CHECK_THROWS_AS(parse({"--quiet=yes", "http://h/a"}), UsageError);
  CHECK(parse({"--help"}).help);
  CHECK(parse({"-V"}).version);
}

TEST_CASE("input files: fields, comments, errors with line numbers") {
  auto t = parse_input(
      "# a comment\n\nhttp://h/a out=one.bin\r\n  https://h/b  sha256=" + std::string(64, 'A') +
          "\nhttp://h/c checksum=sha256=" + std::string(64, '0') + "\n",
      "list");
  REQUIRE(t.size() == 3);
  CHECK(t[0].url == "http://h/a");
  CHECK(t[0].output_name == "one.bin");
  CHECK(t[1].sha256 == std::string(64, 'a'));
  CHECK(t[2].sha256 == std::string(64, '0'));
  CHECK_THROWS_WITH_AS(parse_input("http://h/a\nnot-a-url\n", "list"), doctest::Contains("list:2"),
                       UsageError);
  CHECK_THROWS_WITH_AS(parse_input("http://h/a colour=red\n", "list"),
                       doctest::Contains("colour=red"), UsageError);
  CHECK_THROWS_WITH_AS(parse_input("http://h/a sha256=12\n", "list"), doctest::Contains("sha256"),
                       UsageError);
}

TEST_CASE("sizes and seconds") {
  CHECK(parse_size("100", "x") == 100);
  CHECK(parse_size("2k", "x") == 2048);
  CHECK(parse_size("1G", "x") == 1073741824ULL);
  CHECK_THROWS_AS(parse_size("2x", "x"), UsageError);
  CHECK_THROWS_AS(parse_size("", "x"), UsageError);
  CHECK_THROWS_AS(parse_size("-5", "x"), UsageError);
  CHECK(parse_seconds("0.25", "x").count() == doctest::Approx(0.25));
  CHECK_THROWS_AS(parse_seconds("nan", "x"), UsageError);
}

TEST_CASE("names from URLs: last path segment, decoded, never a path") {
  CHECK(name_from_url("http://h/dir/file.iso") == "file.iso");
  CHECK(name_from_url("http://h/dir/my%20file.txt?x=1#frag") == "my file.txt");
  CHECK(name_from_url("http://h/") == "index.html");
  CHECK(name_from_url("http://h") == "index.html");
  CHECK(name_from_url("http://h/a/..") == "index.html");
  CHECK(name_from_url("http://h/%2e%2e%2f%2e%2e%2fetc%2fpasswd") == "passwd");
  CHECK(name_from_url("http://h/.bashrc") == "_bashrc");
  CHECK(name_from_url("http://h/a%00b") == "a_b");
  CHECK(name_from_url("http://h/" + std::string(300, 'n') + ".tar.gz").size() <= 200);
  CHECK(name_from_url("http://h/" + std::string(300, 'n') + ".gz").ends_with(".gz"));
}

TEST_CASE("names from Content-Disposition: filename*, quotes, traversal refused") {
  CHECK(name_from_content_disposition("attachment; filename=\"report.pdf\"") == "report.pdf");
  CHECK(name_from_content_disposition("attachment; filename=plain.txt") == "plain.txt");
  CHECK(name_from_content_disposition(
            "attachment; filename=\"fallback.txt\"; filename*=UTF-8''na%C3%AFve%20file.txt") ==
        "na\xC3\xAFve file.txt");
  CHECK(name_from_content_disposition("attachment; filename=\"../../evil.sh\"") == "evil.sh");
  CHECK(name_from_content_disposition("attachment; filename=\"..\\\\..\\\\win.ini\"") == "win.ini");
  CHECK(name_from_content_disposition("attachment; filename=\"/etc/passwd\"") == "passwd");
  CHECK(name_from_content_disposition("attachment; filename=\"..\"") == "");
  CHECK(name_from_content_disposition("inline") == "");
  CHECK(name_from_content_disposition("attachment; filename=\"a\\\"b.txt\"") == "a\"b.txt");
}

TEST_CASE("one run never gives two downloads the same file") {
  NameRegistry names;
  CHECK(names.claim("a.txt") == "a.txt");
  CHECK(names.claim("a.txt") == "a.txt.1");
  CHECK(names.claim("a.txt") == "a.txt.2");
  names.release("a.txt");
  CHECK(names.claim("a.txt") == "a.txt");
}

TEST_CASE("retry: which statuses, Retry-After in both forms, bounded jittered back-off") {
  for (int s : {408, 429, 500, 502, 503, 504}) CHECK(retryable_status(s));
  for (int s : {400, 401, 403, 404, 410, 416, 501}) CHECK_FALSE(retryable_status(s));
  CHECK(parse_retry_after("3", 0)->count() == doctest::Approx(3));
  CHECK(parse_retry_after(" 120 ", 0)->count() == doctest::Approx(120));
  // Wed, 21 Oct 2015 07:28:00 GMT is 1445412480.
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0)->count() ==
        doctest::Approx(10));
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412490.0)->count() == 0);
  CHECK_FALSE(parse_retry_after("soon", 0));
  CHECK_FALSE(parse_retry_after("", 0));
  Backoff b(Seconds(1), Seconds(30), 42);
  for (int retry = 0; retry < 40; ++retry) {
    const double w = b.next(retry).count();
    CHECK(w >= 0);
    CHECK(w <= std::min(30.0, std::ldexp(1.0, retry)) + 1e-9);
  }
}

TEST_CASE("the .part state file round-trips and refuses garbage") {
  char dir[] = "/tmp/gevget-units-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/f.part.gevget";
  PartState s;
  s.url = "http://h/f";
  s.etag = "\"abc\"";
  s.last_modified = "Wed, 21 Oct 2015 07:28:00 GMT";
  s.total = 1000;
  s.segments = {{0, 500, 500}, {500, 1000, 17}};
  REQUIRE(save_part_state(path, s));
  auto back = load_part_state(path);
  REQUIRE(back);
  CHECK(back->url == s.url);
  CHECK(back->etag == s.etag);
  CHECK(back->total == 1000);
  REQUIRE(back->segments.size() == 2);
  CHECK(back->segments[1].done == 17);
  CHECK(back->segments[1].remaining() == 483);
  CHECK(back->validator() == "\"abc\"");
  s.etag = "W/\"weak\"";  // If-Range needs a strong validator: Last-Modified instead
  CHECK(s.validator() == s.last_modified);
  std::ofstream(path) << "gevget-part 1\nurl http://h/f\nsegment 10 5 0\n";
  CHECK_FALSE(load_part_state(path));
  std::ofstream(path) << "something else\n";
  CHECK_FALSE(load_part_state(path));
  CHECK_FALSE(load_part_state(std::string(dir) + "/missing"));
  std::remove(path.c_str());
  ::rmdir(dir);
}

TEST_CASE("exit status: the most serious failure wins; skips are success") {
  Result ok, skipped, http, tls, sum, local;
  ok.status = Status::ok;
  skipped.status = Status::skipped;
  http.status = tls.status = sum.status = local.status = Status::failed;
  http.failure = Failure::http;
  tls.failure = Failure::tls;
  sum.failure = Failure::checksum;
  local.failure = Failure::local_file;
  CHECK(exit_status_of({ok, skipped}, 0) == 0);
  CHECK(exit_status_of({ok, http}, 0) == 1);
  CHECK(exit_status_of({local, http}, 0) == 3);
  CHECK(exit_status_of({http, sum, local}, 0) == 5);
  CHECK(exit_status_of({sum, tls}, 0) == 4);
  CHECK(exit_status_of({ok, tls}, 2) == 130);
}

TEST_CASE("JSON summary: escaped strings, null errors on success") {
  Result a;
  a.url = "http://h/a\"b";
  a.file = "out/a";
  a.status = Status::ok;
  a.http_status = 200;
  a.bytes = 10;
  a.attempts = 1;
  Result b;
  b.url = "http://h/b";
  b.file = "out/b";
  b.status = Status::failed;
  b.http_status = 404;
  b.attempts = 1;
  b.error = "HTTP 404 Not Found\n";
  const std::string j = json_summary({a, b}, 1.5, 1);
  CHECK(j.find("\"ok\": 1, \"failed\": 1") != std::string::npos);
  CHECK(j.find("\"exit_status\": 1") != std::string::npos);
  CHECK(j.find("\"url\": \"http://h/a\\\"b\"") != std::string::npos);
  CHECK(j.find("\"error\": null") != std::string::npos);
  CHECK(j.find("\"error\": \"HTTP 404 Not Found\\n\"") != std::string::npos);
  CHECK(human_bytes(512) == "512 B");
  CHECK(human_bytes(1536) == "1.5 KiB");
}
