# The client test compresses bodies with zlib itself.
if(TARGET http_client)
  find_package(ZLIB REQUIRED)
  target_link_libraries(http_client PRIVATE ZLIB::ZLIB)
endif()
