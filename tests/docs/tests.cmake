# The generated API reference (make docs) stays complete: Doxygen fails on any undocumented
# public name or broken doc comment in the public headers.
find_program(GEV_DOXYGEN doxygen)
if(GEV_DOXYGEN)
  add_test(NAME docs_api
    COMMAND ${CMAKE_COMMAND} -E env GEV_DOCS_OUT=${CMAKE_BINARY_DIR}/docs-api-test
            GEV_DOCS_STRICT=FAIL_ON_WARNINGS ${GEV_DOXYGEN} docs/api/Doxyfile
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(docs_api PROPERTIES LABELS no-asan TIMEOUT 300)
endif()

# The guide's and README's code blocks are the programs in examples/ (which examples_run runs):
# a block that drifts from its file, or an example no test runs, fails here.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME docs_guide
    COMMAND ${Python3_EXECUTABLE} scripts/guide.py check docs/guide.md --only cpp,text README.md
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(docs_guide PROPERTIES LABELS no-asan TIMEOUT 60)
endif()
