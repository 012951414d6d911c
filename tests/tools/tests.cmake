# The gevget tests run the real program against nginx and against a fault-injecting server
# written with gev (tests/tools/fault_server.cpp, built here). The unit tests link its pieces.
if(TARGET gevget)
  add_executable(gevget_fault_server ${CMAKE_CURRENT_LIST_DIR}/fault_server.cpp)
  target_link_libraries(gevget_fault_server PRIVATE gev::gev)
  foreach(t tools_gevget_faults tools_gevget_nginx tools_gevget_units)
    if(TARGET ${t})
      target_link_libraries(${t} PRIVATE gevget_core OpenSSL::Crypto)
      target_compile_definitions(${t} PRIVATE GEVGET_BIN="$<TARGET_FILE:gevget>"
        FAULT_SERVER_BIN="$<TARGET_FILE:gevget_fault_server>")
      add_dependencies(${t} gevget gevget_fault_server)
    endif()
  endforeach()
endif()

# `make demo` itself (smaller files): gev's file server, gevget interrupted and resumed, verified.
if(TARGET gevget AND TARGET file_server)
  add_test(NAME tools_demo COMMAND ${PROJECT_SOURCE_DIR}/scripts/demo.sh ${CMAKE_BINARY_DIR})
  set_tests_properties(tools_demo PROPERTIES ENVIRONMENT GEV_DEMO_LARGE_MIB=8 TIMEOUT 300
    PASS_REGULAR_EXPRESSION "demo: verified: all 204 files are identical")
endif()
