#pragma once
// How deeply a JSON text nests, without parsing it. nlohmann::json's parser, and copying,
// serialising or schema-checking the value it builds, recurse once per level: 100 000 '['
// (200 KB, well inside any body or answer size limit) overflow the stack. Text from outside
// (an LLM answer, a server's body) is measured first and refused past a limit of the
// caller's; real answers nest a few levels.

#include <algorithm>
#include <cstddef>
#include <string_view>

namespace synthforge::detail {

// The deepest nesting of objects and arrays in `text`; brackets inside strings do not count.
// Linear, and meaningful on any text (not only valid JSON).
inline size_t json_nesting(std::string_view text) {
    size_t depth = 0, deepest = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            deepest = std::max(deepest, ++depth);
        } else if ((c == '}' || c == ']') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

}  // namespace synthforge::detail
