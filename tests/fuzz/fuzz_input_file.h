#pragma once
// The readers take a path, so each fuzz input goes through a file of this process's own
// (fuzzers may run side by side); libFuzzer's process never writes elsewhere.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

namespace synthforge::fuzz {

inline std::filesystem::path write_input(const uint8_t* data, size_t size, const std::string& extension) {
    static const std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("synthforge-fuzz-" + std::to_string(getpid()) + extension);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
    return path;
}

}  // namespace synthforge::fuzz
