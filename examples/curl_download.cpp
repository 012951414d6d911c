// The seed's "curl download": monkey patching makes libcurl's blocking easy API cooperative, so
// one greenlet per URL downloads them all at once; each worker prints its URL when done. A 3 s
// Timeout around joinall prints "timeout!!" if they take longer (the rest are then killed),
// and SIGQUIT (Ctrl-\) runs gev::shutdown, which ends every download and lets main() finish.
//
//   curl_download URL...
//
// Exit status: 0 when every download succeeded, 1 otherwise (an error, the timeout, SIGQUIT),
// 2 for a usage error.
#include <curl/curl.h>
#include <signal.h>
#include <gev/gev.hpp>
#include <gev/monkey/monkey.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;

static std::size_t discard(char*, std::size_t size, std::size_t count, void*) {
  return size * count;  // the seed only prints the URL: the body is not kept
}

// [curl-worker]
// The seed's worker(url): urlopen, print the URL, close. Returns whether it succeeded.
static bool worker(const std::string& url) {
  // RAII: curl_easy_cleanup also runs when a kill or shutdown unwinds this greenlet.
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return false;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);  // like urlopen
  curl_easy_setopt(curl.get(), CURLOPT_FAILONERROR, 1L);     // like urlopen: 404 is an error
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);  // no signals: gev handles them
  // Blocking code, unchanged: its connect/poll/recv park this greenlet only.
  const CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) {
    std::fprintf(stderr, "%s: %s\n", url.c_str(), curl_easy_strerror(rc));
    return false;
  }
  char* effective_url = nullptr;  // resp.url: where the redirects, if any, ended
  curl_easy_getinfo(curl.get(), CURLINFO_EFFECTIVE_URL, &effective_url);
  std::printf("%s\n", effective_url != nullptr ? effective_url : url.c_str());
  return true;
}
// [curl-worker]

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s URL...\n", argv[0]);
    return 2;
  }
  // [curl-main]
  gev::monkey::patch_all();  // from gevent import monkey; monkey.patch_all()
  curl_global_init(CURL_GLOBAL_DEFAULT);
  // gevent.signal(signal.SIGQUIT, gevent.shutdown): the handler runs in a new greenlet.
  auto on_sigquit = gev::signal_handler(SIGQUIT, gev::shutdown);

  std::vector<std::shared_ptr<gev::Greenlet<bool>>> downloads;
  for (int i = 1; i < argc; ++i) downloads.push_back(gev::spawn(worker, std::string(argv[i])));
  try {
    gev::Timeout timeout{3s};  // armed for main: thrown at its blocking point (joinall)
    gev::joinall(downloads);
  } catch (const gev::Timeout&) {
    std::printf("timeout!!\n");
  }
  // The downloads still running are discarded: GreenletExit unwinds each from inside libcurl
  // and its handle is cleaned up (the greenlets ended by shutdown are already dead).
  gev::killall(downloads);
  // [curl-main]

  int failed = 0;
  for (auto& d : downloads) failed += !d->value().value_or(false);
  on_sigquit.cancel();
  curl_global_cleanup();
  return failed == 0 ? 0 : 1;
}
