// `repeat`: the flow language's loop. It holds its own list of blocks and runs them
// in rounds over a round input, until enough rows have come out, a number of
// rounds has passed, or rounds stop producing anything. Self-Instruct ("until N
// instructions", fed by a growing pool) and Evol-Instruct ("R rounds", each on the
// previous round's survivors) are both flows built on it.
//
// Every round is a checkpoint: its rows, its rejects and the loop's state (what the
// next round reads, the sub-blocks' own state) commit together, so a killed run
// resumes at the next round. Model answers received during an unfinished round are
// in the response cache and are not paid for again.

#include "synthforge/engine/flow.h"
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

#include <fmt/format.h>

#include <map>
#include <set>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["blocks"],
  "properties": {
    "blocks": {
      "type": "array", "minItems": 1,
      "description": "The blocks every round runs, in order: [{name, type, config}] like the flow's own blocks",
      "items": {
        "type": "object",
        "required": ["name", "type"],
        "properties": {"name": {"type": "string"}, "type": {"type": "string"}, "config": {"type": "object"}, "when": {"type": "array"}}
      }
    },
    "input": {
      "enum": ["previous", "pool", "same"], "default": "previous",
      "description": "What a round reads. previous: the last round's rows (round 1: the loop's input); pool: the loop's input plus every row made so far; same: the loop's input every round"
    },
    "max_rounds": {"type": "integer", "minimum": 1, "default": 10, "description": "The most rounds run"},
    "until_rows": {
      "type": "integer", "minimum": 1,
      "description": "Stop once this many rows have come out; the last round's rows beyond it are rejected as surplus"
    },
    "stop_after_idle_rounds": {
      "type": "integer", "minimum": 1, "default": 3,
      "description": "Stop after this many rounds in a row produce no row (a warning says so)"
    },
    "emit": {
      "enum": ["all", "last"], "default": "all",
      "description": "all: every round's rows, as each round ends; last: only the final round's rows (input previous: with the parents kept)"
    },
    "emit_input": {
      "type": "boolean", "default": false,
      "description": "Also emit the loop's input rows first, as round 0"
    },
    "keep_parent_on_reject": {
      "type": "boolean", "default": false,
      "description": "input previous: a row none of whose descendants survived a round goes into the next round unchanged"
    },
    "prime": {
      "type": "array", "items": {"type": "string"}, "default": [],
      "description": "Streaming sub-blocks shown the loop's input once before round 1, so their state counts it (a dedup index that must hold the seeds); their output is discarded"
    },
    "round_column": {"type": "string", "default": "round", "description": "Column receiving the round that made a row (1-based); empty = none"},
    "id_column": {
      "type": "string", "default": "",
      "description": "Column with row ids: rows made in round r get <parent id>.<r> (input rows without one get their position); empty = no ids"
    },
    "parent_column": {"type": "string", "default": "parent_id", "description": "With id_column: column receiving the parent's id"}
  }
})json";

// Hidden column linking a row to the round-input row it came from. Blocks copy
// columns they do not know, so it survives set, llm_generate, explode, filters.
constexpr const char* kParentColumn = "_repeat_parent";

enum class RoundInput { previous, pool, same };

// Sub-blocks' state deltas are opaque bytes (a dedup index's hashes); inside the
// loop's JSON state they travel as hex.
std::string to_hex(const std::string& bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string from_hex(const std::string& hex) {
    auto value = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    std::string out(hex.size() / 2, '\0');
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>(value(hex[2 * i]) << 4 | value(hex[2 * i + 1]));
    return out;
}

class MemoryRows : public RowSource {
  public:
    explicit MemoryRows(const std::vector<Record>& rows) : rows_(rows) {}
    uint64_t size() const override { return rows_.size(); }
    void for_each(const std::function<void(uint64_t, Record&&)>& fn) const override {
        for (size_t i = 0; i < rows_.size(); ++i) fn(i, Record(rows_[i]));
    }

  private:
    const std::vector<Record>& rows_;
};

struct SubBlock {
    std::string type;
    std::unique_ptr<Block> block;
    uint64_t rows_in = 0, rows_out = 0, rows_rejected = 0;
};

class Repeat : public Block {
  public:
    Repeat(const std::string& name, const Json& config, const BlockEnv& env) : Block(name), env_(env) {
        std::string in = config.value("input", "previous");
        input_ = in == "pool" ? RoundInput::pool : in == "same" ? RoundInput::same : RoundInput::previous;
        max_rounds_ = config.value("max_rounds", uint64_t{10});
        if (config.contains("until_rows")) until_rows_ = config["until_rows"].get<uint64_t>();
        idle_limit_ = config.value("stop_after_idle_rounds", uint64_t{3});
        emit_last_ = config.value("emit", "all") == "last";
        emit_input_ = config.value("emit_input", false);
        keep_parent_ = config.value("keep_parent_on_reject", false);
        round_column_ = config.value("round_column", "round");
        id_column_ = config.value("id_column", "");
        parent_column_ = config.value("parent_column", "parent_id");
        if (keep_parent_ && input_ != RoundInput::previous)
            throw ConfigError("config.keep_parent_on_reject: only meaningful with input: previous");

        BlockEnv sub_env = env;
        sub_env.round = &round_;
        const Json& blocks = config.at("blocks");
        for (size_t i = 0; i < blocks.size(); ++i) {
            const Json& b = blocks[i];
            std::string type = b.at("type").get<std::string>();
            if (type == kRepeatType)
                throw ConfigError(fmt::format("config.blocks[{}]: a repeat cannot hold a repeat", i));
            subs_.push_back({type, make_block(b.at("name").get<std::string>(), type, b.value("config", Json::object()),
                                              b.value("when", Json()), sub_env)});
        }
        Json prime = config.value("prime", Json::array());
        for (size_t i = 0; i < prime.size(); ++i) {
            std::string n = prime[i].get<std::string>();
            auto it = std::find_if(subs_.begin(), subs_.end(), [&](const SubBlock& s) { return s.block->name() == n; });
            if (it == subs_.end())
                throw ConfigError(fmt::format("config.prime[{}]: no block named '{}' in this repeat", i, n));
            if (it->block->needs_all_rows())
                throw ConfigError(
                    fmt::format("config.prime[{}]: '{}' needs all rows; only streaming blocks can be primed", i, n));
            prime_.push_back(static_cast<size_t>(it - subs_.begin()));
        }
    }

    void process(std::vector<Record>&&, Emitter&) override {}
    bool needs_all_rows() const override { return true; }
    bool resumes_from_state() const override { return true; }

    void finish(const RowSource& all_rows, Emitter& out) override {
        out.use_manual_checkpoints();
        std::vector<Record> input;
        input.reserve(all_rows.size());
        all_rows.for_each([&](uint64_t, Record&& r) { input.push_back(std::move(r)); });
        if (!id_column_.empty())
            for (size_t i = 0; i < input.size(); ++i)
                if (input[i].is_object() && !input[i].contains(id_column_)) input[i][id_column_] = std::to_string(i);

        if (!restored_) {
            if (input_ == RoundInput::previous) carry_ = input;
            for (size_t k : prime_) {
                Emitter discard(subs_[k].block->name());
                std::vector<Record> copy = input;
                subs_[k].block->process(std::move(copy), discard);
            }
        }
        const bool dry_run = static_cast<bool>(env_.on_dry_run_request);
        while (stopped_because_.empty()) {
            round_ = rounds_done_ + 1;
            std::vector<Record> round_input = input_ == RoundInput::previous ? std::move(carry_)
                                              : input_ == RoundInput::same   ? input
                                                                             : pool(input);
            carry_.clear();
            run_round(round_input, input, out);
            if (dry_run) break;  // a preview shows round 1's requests only
        }
    }

    std::string take_state_delta() override {
        std::string d = std::move(pending_delta_);
        pending_delta_.clear();
        return d;
    }

    void restore_state(const std::vector<std::string>& deltas) override {
        for (const auto& raw : deltas) {
            Json d = Json::parse(raw, nullptr, false);
            if (d.is_discarded() || !d.contains("round"))
                throw RunError("repeat '" + name() + "': its saved state in the run store is damaged");
            rounds_done_ = d["round"].get<uint64_t>();
            emitted_ = d["emitted"].get<uint64_t>();
            idle_ = d["idle"].get<uint64_t>();
            stopped_because_ = d.value("stopped_because", "");
            if (d.contains("carry")) carry_ = d["carry"].get<std::vector<Record>>();
            if (d.contains("added"))
                for (auto& r : d["added"]) added_.push_back(std::move(r));
            for (auto& s : subs_) {
                const std::string& n = s.block->name();
                if (!d.contains("counts") || !d["counts"].contains(n)) continue;
                const auto& c = d["counts"][n];
                s.rows_in = c[0].get<uint64_t>();
                s.rows_out = c[1].get<uint64_t>();
                s.rows_rejected = c[2].get<uint64_t>();
            }
            if (d.contains("sub"))
                for (auto& [n, delta] : d["sub"].items()) sub_deltas_[n].push_back(from_hex(delta.get<std::string>()));
        }
        for (auto& s : subs_) {
            auto it = sub_deltas_.find(s.block->name());
            if (it != sub_deltas_.end()) s.block->restore_state(it->second);
        }
        sub_deltas_.clear();
        restored_ = !deltas.empty();
    }

    Json metrics() const override {
        Json blocks = Json::array();
        uint64_t failures = 0;
        for (const auto& s : subs_) {
            Json b = {{"name", s.block->name()},
                      {"type", s.type},
                      {"rows_in", s.rows_in},
                      {"rows_out", s.rows_out},
                      {"rows_rejected", s.rows_rejected}};
            if (Json m = s.block->metrics(); m.is_object()) {
                failures += m.value("failures", uint64_t{0});
                b["llm"] = std::move(m);
            }
            blocks.push_back(std::move(b));
        }
        return {{"rounds", rounds_done_},
                {"rows", emitted_},
                {"stopped_because", stopped_because_},
                {"failures", failures},
                {"blocks", std::move(blocks)}};
    }

  private:
    std::vector<Record> pool(const std::vector<Record>& input) const {
        std::vector<Record> rows = input;
        rows.insert(rows.end(), added_.begin(), added_.end());
        return rows;
    }

    void run_round(std::vector<Record>& round_input, const std::vector<Record>& loop_input, Emitter& out) {
        const uint64_t r = round_;
        if (r == 1 && emit_input_ && !emit_last_)
            for (const auto& row : loop_input) {
                Record copy = row;
                if (!round_column_.empty() && copy.is_object()) copy[round_column_] = 0;
                out.emit(std::move(copy));
            }

        // Through the sub-blocks, in memory; barrier sub-blocks see the whole round.
        std::vector<Record> rows = round_input;
        for (size_t i = 0; i < rows.size(); ++i)
            if (rows[i].is_object()) rows[i][kParentColumn] = i;
        std::vector<Record> rejected;
        for (auto& s : subs_) {
            Emitter e(s.block->name());
            s.rows_in += rows.size();
            if (s.block->needs_all_rows())
                s.block->finish(MemoryRows(rows), e);
            else
                s.block->process(std::move(rows), e);
            rows = std::move(e.rows());
            s.rows_out += rows.size();
            s.rows_rejected += e.rejected().size();
            for (auto& x : e.rejected()) rejected.push_back(std::move(x));
            if (env_.on_progress) env_.on_progress();
        }

        // Lineage: round number, ids, and which parents had a surviving child.
        std::vector<uint64_t> children(round_input.size(), 0);
        uint64_t orphans = 0;
        auto stamp = [&](Record& row, bool survivor) {
            if (!row.is_object()) return;
            auto it = row.find(kParentColumn);
            std::optional<size_t> parent;
            if (it != row.end() && it->is_number_unsigned() && it->get<size_t>() < round_input.size())
                parent = it->get<size_t>();
            if (it != row.end()) row.erase(it);
            if (!round_column_.empty()) row[round_column_] = r;
            if (id_column_.empty()) return;
            if (!parent) {
                row[id_column_] = fmt::format("r{}.{}", r, orphans);
                if (survivor) ++orphans;
                return;
            }
            const Record& p = round_input[*parent];
            Json pid = p.is_object() ? p.value(id_column_, Json()) : Json();
            std::string pid_text = pid.is_string() ? pid.get<std::string>() : pid.dump();
            uint64_t k = children[*parent];
            row[id_column_] = k == 0 ? fmt::format("{}.{}", pid_text, r) : fmt::format("{}.{}.{}", pid_text, r, k);
            row[parent_column_] = pid;
            if (survivor) ++children[*parent];
        };
        std::vector<bool> has_child(round_input.size(), false);
        for (auto& row : rows) {
            auto it = row.is_object() ? row.find(kParentColumn) : row.end();
            if (row.is_object() && it != row.end() && it->is_number_unsigned() && it->get<size_t>() < has_child.size())
                has_child[it->get<size_t>()] = true;
            stamp(row, true);
        }
        for (auto& row : rejected) stamp(row, false);

        // Sub-block rejects already carry their block's name and reason.
        for (auto& row : rejected) out.rejected().push_back(std::move(row));
        // The target count: the rows beyond it are surplus, rejected with the reason.
        if (until_rows_ && emitted_ + rows.size() > *until_rows_) {
            size_t keep = static_cast<size_t>(*until_rows_ - emitted_);
            for (size_t i = keep; i < rows.size(); ++i) out.reject(std::move(rows[i]), surplus_reason());
            rows.resize(keep);
        }

        // What the next round reads.
        std::vector<Record> next;
        if (input_ == RoundInput::previous) {
            next = rows;
            if (keep_parent_)
                for (size_t i = 0; i < round_input.size(); ++i)
                    if (!has_child[i]) next.push_back(round_input[i]);
        }
        std::vector<Record> added;
        if (input_ == RoundInput::pool) added = rows;

        const uint64_t made = rows.size();
        emitted_ += made;
        idle_ = made == 0 ? idle_ + 1 : 0;
        rounds_done_ = r;
        if (until_rows_ && emitted_ >= *until_rows_)
            stopped_because_ = fmt::format("reached {} rows", *until_rows_);
        else if (r >= max_rounds_)
            stopped_because_ = fmt::format("ran max_rounds ({})", max_rounds_);
        else if (idle_ >= idle_limit_)
            stopped_because_ = fmt::format("{} rounds in a row produced no row", idle_);
        else if (input_ == RoundInput::previous && next.empty())
            stopped_because_ = "no rows left for another round";
        if (!stopped_because_.empty() && until_rows_ && emitted_ < *until_rows_)
            fmt::print(stderr, "synthforge: repeat '{}' stopped after round {} with {} of {} rows: {}\n", name(), r,
                       emitted_, *until_rows_, stopped_because_);

        bool last = !stopped_because_.empty();
        if (!emit_last_) {
            for (auto& row : rows) out.emit(std::move(row));
        } else if (last) {
            for (auto& row : input_ == RoundInput::previous ? next : rows) out.emit(Record(row));
        }

        Json delta = {{"round", r}, {"emitted", emitted_}, {"idle", idle_}, {"stopped_because", stopped_because_}};
        if (input_ == RoundInput::previous) delta["carry"] = next;
        if (input_ == RoundInput::pool) delta["added"] = added;
        Json counts = Json::object();
        Json sub = Json::object();
        for (auto& s : subs_) {
            counts[s.block->name()] = {s.rows_in, s.rows_out, s.rows_rejected};
            if (auto d = s.block->take_state_delta(); !d.empty()) sub[s.block->name()] = to_hex(d);
        }
        delta["counts"] = std::move(counts);
        delta["sub"] = std::move(sub);
        pending_delta_ = delta.dump();
        if (input_ == RoundInput::previous) carry_ = std::move(next);
        for (auto& row : added) added_.push_back(std::move(row));
        out.checkpoint();
    }

    std::string surplus_reason() const {
        return fmt::format("surplus: the loop '{}' had its {} rows", name(), *until_rows_);
    }

    BlockEnv env_;
    RoundInput input_ = RoundInput::previous;
    uint64_t max_rounds_ = 10;
    std::optional<uint64_t> until_rows_;
    uint64_t idle_limit_ = 3;
    bool emit_last_ = false;
    bool emit_input_ = false;
    bool keep_parent_ = false;
    std::string round_column_, id_column_, parent_column_;
    std::vector<SubBlock> subs_;
    std::vector<size_t> prime_;

    uint64_t round_ = 0;  // read by the sub-blocks through BlockEnv::round
    uint64_t rounds_done_ = 0;
    uint64_t emitted_ = 0;
    uint64_t idle_ = 0;
    std::string stopped_because_;
    std::vector<Record> carry_;  // input previous: the next round's rows
    std::vector<Record> added_;  // input pool: rows made so far
    std::map<std::string, std::vector<std::string>> sub_deltas_;
    std::string pending_delta_;
    bool restored_ = false;
};

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(repeat, "Run a list of blocks in rounds until enough rows exist or rounds run out", kSchema,
                          [](const std::string& name, const Json& config, const BlockEnv& env)
                              -> std::unique_ptr<Block> { return std::make_unique<Repeat>(name, config, env); })

}  // namespace synthforge
