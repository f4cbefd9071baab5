#pragma once
// Private to the writers: an output file that only appears at its final path when
// complete. Bytes go to `<target>.tmp-<pid>` in the same directory (so the final
// rename cannot cross file systems), which commit() fsyncs and renames over the target.
// A process killed mid-write (SIGKILL, power loss) leaves its temporary file behind; the
// next writer of the same target removes those whose process is gone.

#include <filesystem>
#include <string>
#include <string_view>

namespace synthforge::detail {

class AtomicFile {
  public:
    // Removes stale temporary files of the target (see above), then creates its own;
    // throws RunError naming the target when that fails.
    explicit AtomicFile(std::filesystem::path target);
    ~AtomicFile();  // removes the temporary file unless committed
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    void write(std::string_view bytes);  // buffered
    void commit();                       // flush + fsync + rename + fsync of the directory

    const std::filesystem::path& target() const { return target_; }

  private:
    void flush();
    void write_fully(std::string_view bytes);
    [[noreturn]] void fail(int error) const;

    std::filesystem::path target_;
    std::filesystem::path temp_;
    int fd_ = -1;
    std::string buffer_;
    bool committed_ = false;
};

}  // namespace synthforge::detail
