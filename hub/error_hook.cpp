#include "gev/hub/error_hook.hpp"

#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <typeinfo>

#include "gev/hub/errors.hpp"

namespace gev {
namespace {

std::mutex g_hook_mutex;
ErrorHook& hook_storage() {
  static ErrorHook hook;
  return hook;
}

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(abi::__cxa_demangle(name, nullptr, nullptr, &status),
                                             std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(name);
}

void default_hook(const ErrorReport& report) {
  std::string line = "gev: ";
  line += report.context;
  line += " failed with ";
  line += describe_exception(report.error);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

ErrorHook set_error_hook(ErrorHook hook) {
  std::lock_guard lock(g_hook_mutex);
  ErrorHook previous = std::move(hook_storage());
  hook_storage() = std::move(hook);
  return previous;
}

void report_error(std::string_view context, std::exception_ptr error) noexcept {
  try {
    ErrorHook hook;
    {
      std::lock_guard lock(g_hook_mutex);
      hook = hook_storage();
    }
    ErrorReport report{context, std::move(error)};
    if (hook) {
      hook(report);
    } else {
      default_hook(report);
    }
  } catch (...) {
    std::fputs("gev: the error hook itself threw; an error report was lost\n", stderr);
  }
}

std::string describe_exception(const std::exception_ptr& error) {
  if (!error) return "no exception";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return demangle(typeid(e).name()) + ": " + e.what();
  } catch (const BaseException& e) {
    return demangle(typeid(e).name()) + ": " + e.what();
  } catch (...) {
    const std::type_info* t = abi::__cxa_current_exception_type();
    return t ? demangle(t->name()) : std::string("unknown exception");
  }
}

}  // namespace gev
