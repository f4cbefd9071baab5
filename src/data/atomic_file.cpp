#include "data/atomic_file.h"

#include "synthforge/data/writer.h"
#include "synthforge/errors.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

namespace synthforge {
namespace detail {

namespace {

// Big enough that a write() per buffer costs nothing next to serialising the records.
constexpr size_t kBufferBytes = 1u << 20;

// `<target>.tmp-<pid>` files of processes that no longer exist: what a killed run left.
// A live process's file (a concurrent writer, or an unrelated process that reused the PID)
// is left alone; so is anything not named exactly that way.
void remove_stale_temp_files(const std::filesystem::path& target) {
    const std::string prefix = target.filename().string() + ".tmp-";
    const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
        const std::string digits = name.substr(prefix.size());
        if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
        const pid_t pid = static_cast<pid_t>(std::stol(digits));
        if (pid <= 0 || pid == ::getpid()) continue;
        if (::kill(pid, 0) != 0 && errno == ESRCH) ::unlink(it->path().c_str());
    }
}

}  // namespace

AtomicFile::AtomicFile(std::filesystem::path target) : target_(std::move(target)) {
    remove_stale_temp_files(target_);
    temp_ = target_;
    temp_ += ".tmp-" + std::to_string(::getpid());
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd_ < 0) fail(errno);
    // Replacing a file should not change who may read it.
    struct stat st {};
    if (::stat(target_.c_str(), &st) == 0 && S_ISREG(st.st_mode)) ::fchmod(fd_, st.st_mode & 07777);
    buffer_.reserve(kBufferBytes);
}

AtomicFile::~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFile::write(std::string_view bytes) {
    if (buffer_.size() + bytes.size() > kBufferBytes) {
        flush();
        if (bytes.size() >= kBufferBytes) {
            write_fully(bytes);
            return;
        }
    }
    buffer_.append(bytes);
}

void AtomicFile::flush() {
    write_fully(buffer_);
    buffer_.clear();
}

void AtomicFile::write_fully(std::string_view bytes) {
    if (fd_ < 0) throw RunError("cannot write " + target_.string() + ": the file is already closed");
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(errno);
        if (n == 0) fail(ENOSPC);  // a regular file only writes nothing when it cannot grow
        bytes.remove_prefix(static_cast<size_t>(n));
    }
}

void AtomicFile::commit() {
    if (committed_) return;
    flush();
    if (::fsync(fd_) != 0) fail(errno);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail(errno);
    if (::rename(temp_.c_str(), target_.c_str()) != 0) fail(errno);
    committed_ = true;
    // The rename is only durable once the directory entry itself reaches the disk.
    const std::filesystem::path dir = target_.has_parent_path() ? target_.parent_path() : ".";
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) fail(errno);
    const int rc = ::fsync(dir_fd);
    const int error = errno;
    ::close(dir_fd);
    if (rc != 0 && error != EINVAL) fail(error);  // EINVAL: the file system cannot sync directories
}

void AtomicFile::fail(int error) const {
    throw RunError("cannot write " + target_.string() + ": " + std::strerror(error));
}

}  // namespace detail

void write_file_atomic(const std::filesystem::path& path, std::string_view content) {
    detail::AtomicFile file(path);
    file.write(content);
    file.commit();
}

}  // namespace synthforge
