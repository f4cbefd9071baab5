#pragma once
// Runs tests/fixture_server/fixture_server.py as a child process on a free loopback port, for
// the lifetime of one test. Header-only so any test file can include it.

#include "synthforge/data/record.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace synthforge::testing {

// tests/fixture_server/fixture_server.py, found next to tests/data (which may not exist, hence
// the lexical path arithmetic); $SYNTHFORGE_FIXTURE_SERVER overrides it.
inline std::string fixture_server_script() {
    if (const char* env = std::getenv("SYNTHFORGE_FIXTURE_SERVER")) return env;
    return (std::filesystem::path(SYNTHFORGE_TEST_DATA).parent_path() / "fixture_server" / "fixture_server.py")
        .string();
}

// A loopback port with nothing listening on it: connections are refused.
inline int unused_loopback_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        throw std::runtime_error("cannot reserve a loopback port");
    ::close(fd);
    return ntohs(addr.sin_port);
}

struct FixtureOptions {
    Json faults = Json::object();  // --faults
    Json script = Json::array();   // rules, written to a file for --script
    std::string model;             // --model: other model names get a 404
    int port = 0;                  // 0: any free port
};

class FixtureServerProcess {
  public:
    explicit FixtureServerProcess(const FixtureOptions& options = {}) {
        std::string tmpl = (std::filesystem::temp_directory_path() / "sf-fixture-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        dir_ = tmpl;
        try {
            start(options);
        } catch (...) {
            stop();  // the destructor does not run for a constructor that throws
            throw;
        }
    }

    ~FixtureServerProcess() { stop(); }

  private:
    void start(const FixtureOptions& options) {
        std::string port_file = dir_ + "/port";
        log_path_ = dir_ + "/requests.jsonl";
        std::vector<std::string> args = {"python3", fixture_server_script(), "--port", std::to_string(options.port)};
        args.insert(args.end(), {"--port-file", port_file, "--log", log_path_});
        if (!options.faults.empty()) {
            args.push_back("--faults");
            args.push_back(options.faults.dump());
        }
        if (!options.script.empty()) {
            std::ofstream(dir_ + "/script.json") << options.script.dump();
            args.push_back("--script");
            args.push_back(dir_ + "/script.json");
        }
        if (!options.model.empty()) {
            args.push_back("--model");
            args.push_back(options.model);
        }
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        if (::posix_spawnp(&pid_, "python3", nullptr, nullptr, argv.data(), environ) != 0) {
            pid_ = -1;
            throw std::runtime_error("cannot start python3 for the fixture server");
        }

        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
        while (true) {
            std::ifstream in(port_file);
            if (in >> port_) break;
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("fixture server exited during startup");
            }
            if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("fixture server did not start");
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

    void stop() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
            pid_ = -1;
        }
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

  public:
    FixtureServerProcess(const FixtureServerProcess&) = delete;
    FixtureServerProcess& operator=(const FixtureServerProcess&) = delete;

    int port() const { return port_; }
    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
    const std::string& log_path() const { return log_path_; }

    // Every request the server received so far, one JSON object each (see fixture_server.py).
    std::vector<Json> log() const {
        std::vector<Json> out;
        std::ifstream in(log_path_);
        std::string line;
        while (std::getline(in, line))
            if (!line.empty()) out.push_back(Json::parse(line));
        return out;
    }

    // POST /control with a plain socket (the test binary does not link libcurl itself).
    Json control(const Json& body) const { return Json::parse(http_post("/control", body.dump())); }

  private:
    std::string http_post(const std::string& path, const std::string& body) const {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<uint16_t>(port_));
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            if (fd >= 0) ::close(fd);
            throw std::runtime_error("cannot connect to the fixture server");
        }
        std::ostringstream req;
        req << "POST " << path << " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            << "Connection: close\r\nContent-Length: " << body.size() << "\r\n\r\n"
            << body;
        std::string out = req.str();
        for (size_t sent = 0; sent < out.size();) {
            ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, 0);
            if (n <= 0) break;
            sent += static_cast<size_t>(n);
        }
        std::string response;
        char buf[4096];
        for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) response.append(buf, static_cast<size_t>(n));
        ::close(fd);
        size_t split = response.find("\r\n\r\n");
        return split == std::string::npos ? std::string() : response.substr(split + 4);
    }

    std::string dir_;
    std::string log_path_;
    pid_t pid_ = -1;
    int port_ = 0;
};

}  // namespace synthforge::testing
