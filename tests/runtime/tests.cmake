# ThreadPool is the runtime piece that crosses OS threads, so it also runs under
# ThreadSanitizer, in a build configured for it (every layer must be instrumented: mixing
# instrumented and plain code makes TSan report false races on shared_ptr reference counts):
#
#   make test-tsan
#
# Fiber switches are not annotated for TSan (__tsan_switch_to_fiber), so its report stacks mix
# greenlets; the race detection itself holds because all greenlets of a hub share one thread.
if(GEV_SANITIZE MATCHES "thread" AND TARGET runtime_thread_pool)
  add_test(NAME runtime_thread_pool_tsan COMMAND runtime_thread_pool)
  set_tests_properties(runtime_thread_pool_tsan PROPERTIES
    LABELS tsan TIMEOUT 600 ENVIRONMENT "TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1")
endif()
