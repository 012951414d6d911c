# `cmake --install` into a scratch prefix, then build and run a separate project that uses
# find_package(gev) exactly as a user's project would.
add_test(NAME install_find_package
  COMMAND ${CMAKE_COMMAND} -DBUILD_DIR=${CMAKE_BINARY_DIR}
          -DCONSUMER_DIR=${CMAKE_CURRENT_LIST_DIR}/consumer
          -DWORK_DIR=${CMAKE_BINARY_DIR}/install-test
          -P ${CMAKE_CURRENT_LIST_DIR}/check_install.cmake)
# The consumer is built without sanitizers, so it cannot link an ASan build of gev.
set_tests_properties(install_find_package PROPERTIES LABELS no-asan TIMEOUT 300)
