# The examples test runs the programs in examples/; tell it where they are and build them first.
if(TARGET examples_run)
  # curl_download's test serves its URLs with tests/monkey/delay_server.py.
  target_compile_definitions(examples_run PRIVATE GEV_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  if(GEV_BUILD_EXAMPLES)
    target_compile_definitions(examples_run PRIVATE GEV_EXAMPLES_DIR="${CMAKE_BINARY_DIR}/examples")
    file(GLOB _gev_examples CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/examples/*.cpp)
    foreach(_ex ${_gev_examples})
      get_filename_component(_name ${_ex} NAME_WE)
      add_dependencies(examples_run ${_name})
    endforeach()
  else()
    target_compile_definitions(examples_run PRIVATE GEV_EXAMPLES_DIR="")
    set_tests_properties(examples_run PROPERTIES DISABLED TRUE)  # no examples in this build
  endif()
endif()
