# Third-party libraries: Debian packages (scripts/install-deps.sh) and the pinned
# llama.cpp built by scripts/deps-llama.sh into SYNTHFORGE_LLAMA_PREFIX.

find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(simdjson REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(fmt REQUIRED)
find_package(CURL REQUIRED)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)

if(NOT SYNTHFORGE_LLAMA_PREFIX)
  message(FATAL_ERROR "SYNTHFORGE_LLAMA_PREFIX is not set: build through the root Makefile (`make`), "
                      "which builds llama.cpp once with scripts/deps-llama.sh")
endif()
find_package(llama CONFIG REQUIRED PATHS ${SYNTHFORGE_LLAMA_PREFIX} NO_DEFAULT_PATH)

# llama.cpp installs its `common` library without headers or a CMake target;
# deps-llama.sh copies the headers to include/llama-common.
add_library(llama_common SHARED IMPORTED)
set_target_properties(llama_common PROPERTIES
  IMPORTED_LOCATION ${SYNTHFORGE_LLAMA_PREFIX}/lib/libllama-common.so
  INTERFACE_INCLUDE_DIRECTORIES "${SYNTHFORGE_LLAMA_PREFIX}/include/llama-common;${SYNTHFORGE_LLAMA_PREFIX}/include"
  INTERFACE_LINK_LIBRARIES llama)

# One nlohmann/json for the whole build: the copy llama.cpp's common library was
# compiled against (its types cross our API boundary with the chat and Jinja code).
add_library(synthforge_json INTERFACE)
target_include_directories(synthforge_json BEFORE INTERFACE ${SYNTHFORGE_LLAMA_PREFIX}/include)

# The binaries find llama.cpp's shared libraries without LD_LIBRARY_PATH.
set(CMAKE_BUILD_RPATH "${SYNTHFORGE_LLAMA_PREFIX}/lib;${CMAKE_BINARY_DIR}/lib")
