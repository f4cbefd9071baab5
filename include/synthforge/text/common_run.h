#pragma once
// The longest run of consecutive tokens a text shares with any of a set of texts: the
// "longest common substring" view of copying, which catches a verbatim sentence lifted from a
// seed even when the rest of the text differs. A suffix automaton over all the items answers
// a query in time linear in the query's length, whatever the number of items.
// Pure in-memory computation: no JSON, no I/O.

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace synthforge::text {

class CommonRunIndex {
  public:
    static constexpr size_t npos = static_cast<size_t>(-1);

    CommonRunIndex();
    // Adds an item (token ids, e.g. from TokenVocab); returns its index (0, 1, 2, ...).
    size_t add(const std::vector<uint32_t>& tokens);
    size_t size() const { return items_; }

    struct Match {
        size_t length = 0;   // tokens in the longest shared run; 0 when none is shared
        size_t item = npos;  // an item containing that run (npos when length is 0)
    };
    Match longest(const std::vector<uint32_t>& tokens) const;

  private:
    struct State {
        int32_t link = -1;
        uint32_t len = 0;
        uint32_t item = 0;                               // an item in which this state's strings end
        std::vector<std::pair<uint32_t, int32_t>> next;  // sorted by token
    };
    int32_t step(int32_t state, uint32_t token) const;
    void extend(uint32_t token, uint32_t item);

    std::vector<State> states_;
    int32_t last_ = 0;
    size_t items_ = 0;
};

}  // namespace synthforge::text
