# `cmake --install`: the CLI, libsynthforge (shared) with the llama.cpp libraries it needs
# beside it, the public headers, a CMake package (find_package(synthforge) ->
# synthforge::synthforge) and a pkg-config file. Everything is relocatable: the binaries
# find their libraries through $ORIGIN, and no path of this machine is written into the
# package files.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SYNTHFORGE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/synthforge)

# The installed CLI finds libsynthforge in ../lib, and libsynthforge finds llama.cpp's
# libraries in its own folder (whose RUNPATH, $ORIGIN/../lib, finds each other there too).
file(RELATIVE_PATH _sf_bin_to_lib /${CMAKE_INSTALL_BINDIR} /${CMAKE_INSTALL_LIBDIR})
set_target_properties(synthforge_cli PROPERTIES INSTALL_RPATH "$ORIGIN/${_sf_bin_to_lib}")
set_target_properties(synthforge PROPERTIES INSTALL_RPATH "$ORIGIN")

# The installed headers: include/synthforge, the generated version.h, and the nlohmann/json
# that llama.cpp's common library was built with. Record is that json type, so a consumer
# must compile against this very copy (Debian's may be another version with another ABI);
# it sits under include/synthforge/vendor so it never shadows a system copy.
# (INSTALL_INTERFACE only: the build tree's compile flags stay as they are, and in-tree
# users of version.h add ${CMAKE_BINARY_DIR}/include themselves.)
target_include_directories(synthforge INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
set_property(TARGET synthforge_json PROPERTY INTERFACE_INCLUDE_DIRECTORIES
             "$<BUILD_INTERFACE:${SYNTHFORGE_LLAMA_PREFIX}/include>"
             "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/synthforge/vendor>")

install(TARGETS synthforge_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(TARGETS synthforge synthforge_json EXPORT synthforgeTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/synthforge DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT dev)
install(FILES ${CMAKE_BINARY_DIR}/include/synthforge/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/synthforge COMPONENT dev)
install(DIRECTORY ${SYNTHFORGE_LLAMA_PREFIX}/include/nlohmann
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/synthforge/vendor COMPONENT dev)

# llama.cpp is a private dependency, but a shared one: its libraries (and their soname
# links) are installed beside libsynthforge. The tools' *-impl libraries are not needed.
file(GLOB SYNTHFORGE_LLAMA_RUNTIME ${SYNTHFORGE_LLAMA_PREFIX}/lib/libllama.so* ${SYNTHFORGE_LLAMA_PREFIX}/lib/libllama-common.so*
     ${SYNTHFORGE_LLAMA_PREFIX}/lib/libggml*.so*)
install(FILES ${SYNTHFORGE_LLAMA_RUNTIME} DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime)

install(EXPORT synthforgeTargets NAMESPACE synthforge:: DESTINATION ${SYNTHFORGE_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/synthforgeConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/cmake/synthforgeConfig.cmake INSTALL_DESTINATION ${SYNTHFORGE_CMAKE_DIR})
# 0.x: a minor release may change the API, so only the same minor version is compatible.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/synthforgeConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/synthforgeConfig.cmake ${CMAKE_BINARY_DIR}/cmake/synthforgeConfigVersion.cmake
        DESTINATION ${SYNTHFORGE_CMAKE_DIR} COMPONENT dev)

# The .pc file finds the prefix from its own place (${pcfiledir}), so `--prefix` at install
# time works like CMAKE_INSTALL_PREFIX at configure time.
file(RELATIVE_PATH SYNTHFORGE_PC_TO_PREFIX /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" SYNTHFORGE_PC_TO_PREFIX "${SYNTHFORGE_PC_TO_PREFIX}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/synthforge.pc.in ${CMAKE_BINARY_DIR}/cmake/synthforge.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/cmake/synthforge.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

# The Python package for pip (setup.py): `cmake --install BUILD --component python --prefix
# DIR` puts synthforge/ (module, __init__.py) and synthforge/lib/ (libsynthforge and
# llama.cpp) under DIR. Not part of a plain `cmake --install`.
if(TARGET synthforge_python)
  install(TARGETS synthforge_python LIBRARY DESTINATION synthforge COMPONENT python EXCLUDE_FROM_ALL)
  install(TARGETS synthforge LIBRARY DESTINATION synthforge/lib COMPONENT python EXCLUDE_FROM_ALL)
  install(FILES ${SYNTHFORGE_LLAMA_RUNTIME} DESTINATION synthforge/lib COMPONENT python EXCLUDE_FROM_ALL)
  install(FILES ${PROJECT_SOURCE_DIR}/python/synthforge/__init__.py DESTINATION synthforge COMPONENT python
          EXCLUDE_FROM_ALL)
endif()
