// `dedup_exact`: drops rows whose chosen columns repeat those of an earlier row,
// after light normalisation. Rows are identified by a 128-bit XXH3 hash of their
// key columns, so memory is 24 bytes per distinct row whatever the text length,
// and the chance of two different rows colliding is negligible (~n^2 / 2^129).

#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"
#include "synthforge/text/normalize.h"

#include <xxhash.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["columns"],
  "properties": {
    "columns": {
      "description": "Columns that together identify a row; a missing column counts as null",
      "type": "array",
      "items": {"type": "string", "minLength": 1},
      "minItems": 1
    },
    "normalize": {
      "description": "How text is normalised before comparing: {lowercase, collapse_whitespace, strip_punctuation}",
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "lowercase": {"description": "Compare case-insensitively", "type": "boolean", "default": true},
        "collapse_whitespace": {
          "description": "Treat runs of whitespace as one space and ignore leading/trailing whitespace",
          "type": "boolean",
          "default": true
        },
        "strip_punctuation": {"description": "Ignore punctuation", "type": "boolean", "default": false}
      },
      "default": {"lowercase": true, "collapse_whitespace": true, "strip_punctuation": false}
    }
  }
})json";

struct Key {
    uint64_t lo = 0;
    uint64_t hi = 0;
};

// Open-addressing hash set of keys, each with the ordinal of the row that first
// had it. Keys are hashes already, so their low bits index the table directly.
class KeyTable {
  public:
    KeyTable() { slots_.resize(kInitialSlots); }

    // Returns the ordinal stored for `key`, or inserts `ordinal` and returns 0.
    uint64_t find_or_insert(const Key& key, uint64_t ordinal) {
        if ((size_ + 1) * 4 > slots_.size() * 3) grow();
        Slot& slot = probe(key);
        if (slot.ordinal != 0) return slot.ordinal;
        slot = {key.lo, key.hi, ordinal};
        ++size_;
        return 0;
    }

    void clear() {
        slots_.assign(kInitialSlots, Slot{});
        size_ = 0;
    }

  private:
    static constexpr size_t kInitialSlots = 1024;  // a power of two

    struct Slot {
        uint64_t lo = 0;
        uint64_t hi = 0;
        uint64_t ordinal = 0;  // 1-based; 0 marks an empty slot
    };

    Slot& probe(const Key& key) {
        const size_t mask = slots_.size() - 1;
        for (size_t i = key.lo & mask;; i = (i + 1) & mask) {
            Slot& s = slots_[i];
            if (s.ordinal == 0 || (s.lo == key.lo && s.hi == key.hi)) return s;
        }
    }

    void grow() {
        std::vector<Slot> old(slots_.size() * 2);
        old.swap(slots_);
        for (const Slot& s : old)
            if (s.ordinal != 0) probe({s.lo, s.hi}) = s;
    }

    std::vector<Slot> slots_;
    size_t size_ = 0;
};

void put_varint(std::string& out, uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7F) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

void put_u64(std::string& out, uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// Reads the state format written by take_state_delta(); throws RunError on corrupt data.
class DeltaReader {
  public:
    explicit DeltaReader(const std::string& data) : data_(data) {}

    bool at_end() const { return pos_ == data_.size(); }

    uint8_t byte() {
        need(1);
        return static_cast<uint8_t>(data_[pos_++]);
    }

    uint64_t varint() {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            const uint8_t b = byte();
            v |= static_cast<uint64_t>(b & 0x7F) << shift;
            if (!(b & 0x80)) return v;
        }
        throw RunError("dedup_exact: corrupt saved state (bad varint)");
    }

    uint64_t u64() {
        need(8);
        uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
        pos_ += 8;
        return v;
    }

  private:
    void need(size_t n) const {
        if (data_.size() - pos_ < n) throw RunError("dedup_exact: corrupt saved state (truncated)");
    }

    const std::string& data_;
    size_t pos_ = 0;
};

constexpr uint8_t kDeltaVersion = 1;

class DedupExactBlock final : public Block {
  public:
    DedupExactBlock(std::string name, std::vector<std::string> columns, text::NormalizeOptions options)
        : Block(std::move(name)), columns_(std::move(columns)), options_(options) {
        normalizes_ = options_.lowercase || options_.collapse_whitespace || options_.strip_punctuation;
        columns_text_ = "[";
        for (size_t i = 0; i < columns_.size(); ++i) columns_text_ += (i ? ", " : "") + columns_[i];
        columns_text_ += "]";
    }

    void process(std::vector<Record>&& rows, Emitter& out) override {
        for (auto& row : rows) {
            const uint64_t ordinal = ++rows_seen_;
            const Key key = key_of(row);
            if (const uint64_t first = table_.find_or_insert(key, ordinal)) {
                out.reject(std::move(row), "duplicate of row " + std::to_string(first) + " on " + columns_text_);
            } else {
                pending_.push_back({key, ordinal});
                out.emit(std::move(row));
            }
        }
    }

    // Format: version byte, varint rows seen so far (absolute), varint entry count,
    // then per entry 16 bytes of key and a varint ordinal delta to the previous entry.
    std::string take_state_delta() override {
        if (rows_seen_ == saved_rows_seen_) return {};
        std::string out;
        out.reserve(12 + pending_.size() * 18);
        out.push_back(static_cast<char>(kDeltaVersion));
        put_varint(out, rows_seen_);
        put_varint(out, pending_.size());
        uint64_t previous = saved_rows_seen_;
        for (const auto& e : pending_) {
            put_u64(out, e.key.lo);
            put_u64(out, e.key.hi);
            put_varint(out, e.ordinal - previous);
            previous = e.ordinal;
        }
        pending_.clear();
        saved_rows_seen_ = rows_seen_;
        return out;
    }

    void restore_state(const std::vector<std::string>& deltas_in_order) override {
        table_.clear();
        pending_.clear();
        rows_seen_ = 0;
        for (const auto& delta : deltas_in_order) {
            if (delta.empty()) continue;
            DeltaReader in(delta);
            if (in.byte() != kDeltaVersion) throw RunError("dedup_exact: saved state has an unknown version");
            const uint64_t rows_seen = in.varint();
            const uint64_t count = in.varint();
            uint64_t ordinal = rows_seen_;
            for (uint64_t i = 0; i < count; ++i) {
                Key key;
                key.lo = in.u64();
                key.hi = in.u64();
                ordinal += in.varint();
                table_.find_or_insert(key, ordinal);
            }
            if (!in.at_end() || ordinal > rows_seen || rows_seen < rows_seen_)
                throw RunError("dedup_exact: corrupt saved state (inconsistent counts)");
            rows_seen_ = rows_seen;
        }
        saved_rows_seen_ = rows_seen_;
    }

  private:
    struct Entry {
        Key key;
        uint64_t ordinal;
    };

    Key key_of(const Record& row) {
        buffer_.clear();
        for (const auto& c : columns_) {
            const Json* v = nullptr;
            if (row.is_object())
                if (auto it = row.find(c); it != row.end()) v = &*it;
            append(v ? *v : null_);
        }
        const XXH128_hash_t h = XXH3_128bits(buffer_.data(), buffer_.size());
        return {h.low64, h.high64};
    }

    // Encodes a value so that distinct values never share an encoding: a type tag,
    // then length-prefixed text (or element counts). Text anywhere inside the value,
    // lists of chat messages included, is normalised.
    void append(const Json& v) {
        switch (v.type()) {
            case Json::value_t::string: {
                buffer_.push_back('s');
                const auto& s = v.get_ref<const std::string&>();
                if (normalizes_)
                    append_text(text::normalize(s, options_));
                else
                    append_text(s);
                break;
            }
            case Json::value_t::array:
                buffer_.push_back('a');
                put_varint(buffer_, v.size());
                for (const auto& item : v) append(item);
                break;
            case Json::value_t::object:
                buffer_.push_back('o');
                put_varint(buffer_, v.size());
                for (const auto& [k, item] : v.items()) {
                    append_text(k);
                    append(item);
                }
                break;
            case Json::value_t::null:
                buffer_.push_back('n');
                break;
            default:  // numbers and booleans: their JSON text
                buffer_.push_back('v');
                append_text(v.dump());
                break;
        }
    }

    void append_text(std::string_view s) {
        put_varint(buffer_, s.size());
        buffer_.append(s);
    }

    std::vector<std::string> columns_;
    std::string columns_text_;  // "[instruction, input]", for reasons
    text::NormalizeOptions options_;
    bool normalizes_ = true;
    const Json null_;

    KeyTable table_;
    uint64_t rows_seen_ = 0;        // rows that reached this block, kept or not
    uint64_t saved_rows_seen_ = 0;  // rows_seen_ at the last take_state_delta()
    std::vector<Entry> pending_;    // keys added since the last take_state_delta()
    std::string buffer_;            // reused for every key
};

std::unique_ptr<Block> make_dedup_exact(const std::string& name, const Json& config, const BlockEnv&) {
    std::vector<std::string> columns;
    for (const auto& c : config.at("columns")) columns.push_back(c.get<std::string>());
    if (columns.empty()) throw ConfigError("config.columns: name at least one column");
    const Json norm = config.value("normalize", Json::object());
    text::NormalizeOptions options;
    options.lowercase = norm.value("lowercase", true);
    options.collapse_whitespace = norm.value("collapse_whitespace", true);
    options.strip_punctuation = norm.value("strip_punctuation", false);
    return std::make_unique<DedupExactBlock>(name, std::move(columns), options);
}

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(dedup_exact, "Drop rows whose key columns repeat an earlier row (after normalisation)",
                          kSchema, make_dedup_exact)

}  // namespace synthforge
