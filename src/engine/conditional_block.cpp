// `when:` on a block: rows that meet the conditions go through the block, the rest pass
// it untouched, and the output keeps the input's order — a bypassed row sits where it
// was, and the rows a processed row turned into sit where it was. The conditions are a
// `filter` block's, so they read and fail exactly as filters do.

#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

namespace synthforge {
namespace {

// Hidden column holding a row's position in its batch while the inner block runs.
constexpr const char* kPositionColumn = "_when_position";

class ConditionalBlock final : public Block {
  public:
    ConditionalBlock(std::unique_ptr<Block> inner, std::unique_ptr<Block> condition)
        : Block(inner->name()), inner_(std::move(inner)), condition_(std::move(condition)) {}

    void process(std::vector<Record>&& rows, Emitter& out) override {
        const size_t n = rows.size();
        for (size_t i = 0; i < n; ++i)
            if (rows[i].is_object()) rows[i][kPositionColumn] = i;
        Emitter split(name());
        condition_->process(std::move(rows), split);
        // The condition's rejects are the rows that bypass the block.
        std::vector<std::optional<Record>> bypass(n);
        for (auto& r : split.rejected()) {
            r.erase(kRejectedByColumn);
            r.erase(kReasonColumn);
            size_t at = position(r);
            if (at < n) bypass[at] = std::move(r);
        }
        Emitter inner_out(name());
        inner_->process(std::move(split.rows()), inner_out);
        for (auto& r : inner_out.rejected()) {
            if (r.is_object()) r.erase(kPositionColumn);
            out.rejected().push_back(std::move(r));
        }
        // Merge by position: blocks keep their rows' order, so one pass suffices; rows the
        // block made from nothing (no position) come last.
        std::vector<std::vector<Record>> made(n);
        std::vector<Record> orphans;
        for (auto& r : inner_out.rows()) {
            size_t at = position(r);
            if (r.is_object()) r.erase(kPositionColumn);
            (at < n ? made[at] : orphans).push_back(std::move(r));
        }
        for (size_t i = 0; i < n; ++i) {
            if (bypass[i]) {
                bypass[i]->erase(kPositionColumn);
                out.emit(std::move(*bypass[i]));
            }
            for (auto& r : made[i]) out.emit(std::move(r));
        }
        for (auto& r : orphans) out.emit(std::move(r));
    }

    std::string take_state_delta() override { return inner_->take_state_delta(); }
    void restore_state(const std::vector<std::string>& deltas) override { inner_->restore_state(deltas); }
    Json metrics() const override { return inner_->metrics(); }

  private:
    static size_t position(const Record& r) {
        if (!r.is_object()) return SIZE_MAX;
        auto it = r.find(kPositionColumn);
        return it != r.end() && it->is_number_unsigned() ? it->get<size_t>() : SIZE_MAX;
    }

    std::unique_ptr<Block> inner_;
    std::unique_ptr<Block> condition_;
};

}  // namespace

std::unique_ptr<Block> make_block(const std::string& name, const std::string& type, const Json& config,
                                  const Json& when, const BlockEnv& env) {
    const BlockType* t = BlockRegistry::global().find(type);
    if (!t) throw ConfigError("unknown block type '" + type + "'");
    auto block = t->make(name, config, env);
    if (when.is_null()) return block;
    if (block->needs_all_rows())
        throw ConfigError("when: '" + type + "' needs all rows at once, so it cannot run on some of them only");
    Json filter_config = {{"where", when}, {"mode", "all"}};
    std::unique_ptr<Block> condition;
    try {
        condition = BlockRegistry::global().find("filter")->make(name, filter_config, env);
    } catch (const ConfigError& e) {
        std::string msg = e.what();
        // "config.where[0].op: ..." -> "when[0].op: ..."
        if (msg.rfind("config.where", 0) == 0) msg = "when" + msg.substr(12);
        throw ConfigError(msg);
    }
    return std::make_unique<ConditionalBlock>(std::move(block), std::move(condition));
}

}  // namespace synthforge
