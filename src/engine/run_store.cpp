#include "synthforge/engine/run_store.h"

#include "synthforge/errors.h"

#include <sqlite3.h>

namespace synthforge {
namespace {

constexpr int kStoreSchemaVersion = 1;

// A prepared statement that finalizes itself.
class Statement {
  public:
    Statement(sqlite3* db, const char* sql, const std::filesystem::path& path) : db_(db), path_(path) {
        if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) fail("prepare");
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement& bind(int i, int64_t v) {
        sqlite3_bind_int64(stmt_, i, v);
        return *this;
    }
    Statement& bind(int i, std::string_view v) {
        sqlite3_bind_blob64(stmt_, i, v.data(), v.size(), SQLITE_STATIC);
        return *this;
    }
    Statement& bind_text(int i, std::string_view v) {
        sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
        return *this;
    }
    bool step() {
        int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        fail("step");
        return false;
    }
    void run() {
        while (step()) {
        }
    }
    int64_t column_int(int i) { return sqlite3_column_int64(stmt_, i); }
    std::string_view column_blob(int i) {
        const void* p = sqlite3_column_blob(stmt_, i);
        return {static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, i))};
    }
    bool column_is_null(int i) { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }

  private:
    [[noreturn]] void fail(const char* what) {
        int code = sqlite3_extended_errcode(db_);
        std::string msg = "run store " + path_.string() + ": " + what + " failed: " + sqlite3_errmsg(db_);
        if ((code & 0xff) == SQLITE_FULL) msg += " (the disk is full; free space and resume the run)";
        throw RunError(msg);
    }
    sqlite3* db_;
    const std::filesystem::path& path_;
    sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace

RunStore::RunStore(const std::filesystem::path& path) : path_(path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
        std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        throw RunError("cannot open run store " + path.string() + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 10000);
    // WAL + synchronous=NORMAL: a killed process never loses a committed batch;
    // a power cut may lose the last few, which a resume simply redoes.
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    exec(
        "CREATE TABLE IF NOT EXISTS batches(stage INTEGER NOT NULL, idx INTEGER NOT NULL,"
        " output BLOB NOT NULL, output_count INTEGER NOT NULL, rejected BLOB NOT NULL, rejected_count INTEGER NOT NULL,"
        " counts TEXT NOT NULL, reader_position TEXT, PRIMARY KEY(stage, idx))");
    exec(
        "CREATE TABLE IF NOT EXISTS block_state(block TEXT NOT NULL, stage INTEGER NOT NULL, idx INTEGER NOT NULL,"
        " delta BLOB NOT NULL, PRIMARY KEY(block, stage, idx))");
    exec("CREATE TABLE IF NOT EXISTS response_cache(key TEXT PRIMARY KEY, response BLOB NOT NULL)");
    auto version = meta("store_schema_version");
    if (!version)
        set_meta("store_schema_version", std::to_string(kStoreSchemaVersion));
    else if (*version != std::to_string(kStoreSchemaVersion))
        throw RunError("run store " + path.string() + " has schema version " + *version + "; this synthforge reads " +
                       std::to_string(kStoreSchemaVersion));
}

RunStore::~RunStore() {
    sqlite3_close(db_);
}

void RunStore::exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "unknown error";
        sqlite3_free(err);
        bool full = (sqlite3_extended_errcode(db_) & 0xff) == SQLITE_FULL;
        throw RunError("run store " + path_.string() + ": " + msg + (full ? " (the disk is full)" : ""));
    }
}

std::optional<std::string> RunStore::meta(const std::string& key) const {
    Statement s(db_, "SELECT value FROM meta WHERE key = ?", path_);
    s.bind_text(1, key);
    if (!s.step()) return std::nullopt;
    return std::string(s.column_blob(0));
}

void RunStore::set_meta(const std::string& key, const std::string& value) {
    Statement s(db_, "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                path_);
    s.bind_text(1, key).bind_text(2, value).run();
}

void RunStore::commit_batch(const BatchCommit& b) {
    exec("BEGIN IMMEDIATE");
    try {
        std::string counts = b.counts.dump();
        Statement s(db_,
                    "INSERT INTO batches(stage, idx, output, output_count, rejected, rejected_count, counts, "
                    "reader_position) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                    path_);
        s.bind(1, b.stage).bind(2, static_cast<int64_t>(b.index)).bind(3, b.output_rows);
        s.bind(4, static_cast<int64_t>(b.output_count)).bind(5, b.rejected_rows);
        s.bind(6, static_cast<int64_t>(b.rejected_count)).bind_text(7, counts);
        if (!b.reader_position.empty()) s.bind_text(8, b.reader_position);
        s.run();
        for (const auto& [block, delta] : b.state_deltas) {
            Statement d(db_, "INSERT INTO block_state(block, stage, idx, delta) VALUES(?, ?, ?, ?)", path_);
            d.bind_text(1, block).bind(2, b.stage).bind(3, static_cast<int64_t>(b.index)).bind(4, delta).run();
        }
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

uint64_t RunStore::batches_done(int stage) const {
    Statement s(db_, "SELECT COUNT(*) FROM batches WHERE stage = ?", path_);
    s.bind(1, stage);
    s.step();
    return static_cast<uint64_t>(s.column_int(0));
}

std::optional<std::string> RunStore::last_reader_position() const {
    Statement s(db_, "SELECT reader_position FROM batches WHERE stage = 0 ORDER BY idx DESC LIMIT 1", path_);
    if (!s.step() || s.column_is_null(0)) return std::nullopt;
    return std::string(s.column_blob(0));
}

void RunStore::for_each_output(int stage, const std::function<void(std::string_view)>& fn) const {
    Statement s(db_, "SELECT output FROM batches WHERE stage = ? ORDER BY idx", path_);
    s.bind(1, stage);
    while (s.step()) fn(s.column_blob(0));
}

void RunStore::for_each_rejected(const std::function<void(std::string_view)>& fn) const {
    Statement s(db_, "SELECT rejected FROM batches WHERE rejected_count > 0 ORDER BY stage, idx", path_);
    while (s.step()) fn(s.column_blob(0));
}

uint64_t RunStore::output_count(int stage) const {
    Statement s(db_, "SELECT COALESCE(SUM(output_count), 0) FROM batches WHERE stage = ?", path_);
    s.bind(1, stage);
    s.step();
    return static_cast<uint64_t>(s.column_int(0));
}

std::vector<std::string> RunStore::state_deltas(const std::string& block) const {
    Statement s(db_, "SELECT delta FROM block_state WHERE block = ? ORDER BY stage, idx", path_);
    s.bind_text(1, block);
    std::vector<std::string> out;
    while (s.step()) out.emplace_back(s.column_blob(0));
    return out;
}

std::vector<Json> RunStore::batch_counts() const {
    Statement s(db_, "SELECT counts FROM batches ORDER BY stage, idx", path_);
    std::vector<Json> out;
    while (s.step()) out.push_back(Json::parse(s.column_blob(0)));
    return out;
}

std::optional<std::string> RunStore::cached_response(const std::string& key) const {
    Statement s(db_, "SELECT response FROM response_cache WHERE key = ?", path_);
    s.bind_text(1, key);
    if (!s.step()) return std::nullopt;
    return std::string(s.column_blob(0));
}

void RunStore::put_response(const std::string& key, const std::string& response) {
    Statement s(db_, "INSERT OR REPLACE INTO response_cache(key, response) VALUES(?, ?)", path_);
    s.bind_text(1, key).bind(2, response).run();
}

}  // namespace synthforge
