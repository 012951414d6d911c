# The monkey-patching suites link gev::monkey (the first opt-in: its definitions of read, poll,
# connect, ... then come before libc's) and, for the libcurl suite, libcurl.
find_package(CURL REQUIRED)
find_package(OpenSSL 3 REQUIRED)
foreach(_suite monkey_hooks monkey_curl)
  if(TARGET ${_suite})
    target_link_libraries(${_suite} PRIVATE gev::monkey CURL::libcurl OpenSSL::SSL OpenSSL::Crypto)
    set_tests_properties(${_suite} PROPERTIES
      ENVIRONMENT "GEV_TEST_SOURCE_DIR=${PROJECT_SOURCE_DIR};PYTHON=/usr/bin/python3")
  endif()
endforeach()

# A program that links gev but not gev::monkey, patched from outside with LD_PRELOAD.
if(TARGET monkey_hooks)
  add_executable(monkey_preload_probe ${CMAKE_CURRENT_LIST_DIR}/preload_probe.cpp)
  target_link_libraries(monkey_preload_probe PRIVATE gev::gev)
  add_dependencies(monkey_hooks monkey_preload_probe)
  target_compile_definitions(monkey_hooks PRIVATE
    GEV_MONKEY_PRELOAD_PROBE="$<TARGET_FILE:monkey_preload_probe>"
    GEV_MONKEY_LIBRARY="$<TARGET_FILE:gev_monkey>")
endif()
