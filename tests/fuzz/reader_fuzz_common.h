#pragma once
// One fuzz body for the three record readers: every input must end as records or
// bad records (skip mode) or one InputError (strict mode), never a crash, a leak or
// a sanitizer report; and a resumed reader must agree with the uninterrupted one.

#include "fuzz_input_file.h"
#include "synthforge/data/reader.h"
#include "synthforge/errors.h"

#include <vector>

namespace synthforge::fuzz {

inline void read_everything(const uint8_t* data, size_t size, const std::string& format) {
    auto path = write_input(data, size, "." + format);
    // A small record limit as well as the default: the over-long path is the one a
    // hostile file takes, and must be reachable with short inputs.
    for (size_t limit : {size_t{64u << 20}, size_t{97}}) {
        ReadOptions options;
        options.format = format;
        options.max_record_bytes = limit;
        options.skip_bad_records = true;
        size_t bad = 0;
        options.on_bad_record = [&](const BadRecord& b) {
            if (b.reason.empty()) std::abort();  // a rejected row always says why
            ++bad;
        };
        std::vector<std::string> rows;
        std::vector<ReaderPosition> positions;
        try {
            auto reader = open_reader(path, options);
            Record r;
            SourcePos pos;
            positions.push_back(reader->position());
            while (reader->next(r, pos)) {
                if (!r.is_object()) std::abort();  // readers return objects only
                rows.push_back(r.dump());
                positions.push_back(reader->position());
            }
            // Resuming from the middle reads the same rest: what `synthforge run` relies on.
            if (rows.size() > 1) {
                size_t k = rows.size() / 2;
                auto again = open_reader(path, options);
                again->seek(positions[k]);
                for (size_t i = k; i < rows.size(); ++i) {
                    if (!again->next(r, pos) || r.dump() != rows[i]) std::abort();
                }
            }
        } catch (const InputError&) {
            // Some problems end a file even when skipping (a JSON file that is no array).
        }
        options.skip_bad_records = false;
        try {
            auto reader = open_reader(path, options);
            Record r;
            SourcePos pos;
            while (reader->next(r, pos)) {
            }
        } catch (const InputError&) {
        }
    }
}

}  // namespace synthforge::fuzz
