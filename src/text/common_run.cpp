// Suffix automaton (Blumer et al. 1985) over the items joined by separators that occur nowhere
// else, so no run crosses from one item into the next; see common_run.h.
#include "synthforge/text/common_run.h"

#include <algorithm>
#include <stdexcept>

namespace synthforge::text {

namespace {
// Separators count down from the top of the id space; TokenVocab ids count up from 0.
constexpr uint32_t kSeparatorBase = 0xFFFFFFFFu;
}  // namespace

CommonRunIndex::CommonRunIndex() {
    states_.push_back(State{});
}

int32_t CommonRunIndex::step(int32_t state, uint32_t token) const {
    const auto& next = states_[static_cast<size_t>(state)].next;
    auto it = std::lower_bound(next.begin(), next.end(), token,
                               [](const std::pair<uint32_t, int32_t>& e, uint32_t t) { return e.first < t; });
    return it != next.end() && it->first == token ? it->second : -1;
}

void CommonRunIndex::extend(uint32_t token, uint32_t item) {
    auto set_next = [&](int32_t s, int32_t to) {
        auto& next = states_[static_cast<size_t>(s)].next;
        auto it = std::lower_bound(next.begin(), next.end(), token,
                                   [](const std::pair<uint32_t, int32_t>& e, uint32_t t) { return e.first < t; });
        if (it != next.end() && it->first == token)
            it->second = to;
        else
            next.insert(it, {token, to});
    };
    const auto cur = static_cast<int32_t>(states_.size());
    states_.push_back(State{-1, states_[static_cast<size_t>(last_)].len + 1, item, {}});
    int32_t p = last_;
    while (p != -1 && step(p, token) == -1) {
        set_next(p, cur);
        p = states_[static_cast<size_t>(p)].link;
    }
    if (p == -1) {
        states_[static_cast<size_t>(cur)].link = 0;
    } else {
        const int32_t q = step(p, token);
        if (states_[static_cast<size_t>(p)].len + 1 == states_[static_cast<size_t>(q)].len) {
            states_[static_cast<size_t>(cur)].link = q;
        } else {
            const auto clone = static_cast<int32_t>(states_.size());
            State copy = states_[static_cast<size_t>(q)];  // its item: where q's strings first end
            copy.len = states_[static_cast<size_t>(p)].len + 1;
            states_.push_back(std::move(copy));
            while (p != -1 && step(p, token) == q) {
                set_next(p, clone);
                p = states_[static_cast<size_t>(p)].link;
            }
            states_[static_cast<size_t>(q)].link = clone;
            states_[static_cast<size_t>(cur)].link = clone;
        }
    }
    last_ = cur;
}

size_t CommonRunIndex::add(const std::vector<uint32_t>& tokens) {
    const auto item = static_cast<uint32_t>(items_);
    for (uint32_t t : tokens) {
        if (t >= kSeparatorBase - items_ - 1)
            throw std::length_error("CommonRunIndex: token id collides with separators");
        extend(t, item);
    }
    extend(kSeparatorBase - item, item);
    return items_++;
}

CommonRunIndex::Match CommonRunIndex::longest(const std::vector<uint32_t>& tokens) const {
    Match best;
    int32_t state = 0;
    size_t length = 0;
    for (uint32_t t : tokens) {
        while (state != 0 && step(state, t) == -1) {
            state = states_[static_cast<size_t>(state)].link;
            length = states_[static_cast<size_t>(state)].len;
        }
        const int32_t to = step(state, t);
        if (to != -1) {
            state = to;
            ++length;
        }
        if (length > best.length) best = {length, states_[static_cast<size_t>(state)].item};
    }
    return best;
}

}  // namespace synthforge::text
