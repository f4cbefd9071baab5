#include "synthforge/engine/registry.h"

#include <algorithm>
#include <stdexcept>

namespace synthforge {

void Emitter::reject(Record row, std::string reason) {
    if (row.is_object()) {
        row[kRejectedByColumn] = block_name_;
        row[kReasonColumn] = std::move(reason);
    } else {
        row = Record{{kRejectedByColumn, block_name_}, {kReasonColumn, std::move(reason)}, {"_value", row}};
    }
    rejected_.push_back(std::move(row));
    if (on_full_ && !manual_ && rejected_.size() >= flush_at_) on_full_(*this);
}

BlockRegistry& BlockRegistry::global() {
    static BlockRegistry registry;
    return registry;
}

void BlockRegistry::add(BlockType type) {
    if (find(type.type)) throw std::logic_error("block type '" + type.type + "' is registered twice");
    if (!type.config_schema.is_object())
        throw std::logic_error("block type '" + type.type + "' has no JSON object as its config schema");
    types_.push_back(std::make_unique<BlockType>(std::move(type)));
}

const BlockType* BlockRegistry::find(const std::string& type) const {
    for (const auto& t : types_)
        if (t->type == type) return t.get();
    return nullptr;
}

std::vector<const BlockType*> BlockRegistry::all() const {
    std::vector<const BlockType*> out;
    for (const auto& t : types_) out.push_back(t.get());
    std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->type < b->type; });
    return out;
}

}  // namespace synthforge

namespace synthforge {
void BlockRegistry::set_origin_since(size_t first, const std::string& origin) {
    for (size_t i = first; i < types_.size(); ++i) types_[i]->origin = origin;
}
}  // namespace synthforge
