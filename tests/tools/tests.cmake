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
