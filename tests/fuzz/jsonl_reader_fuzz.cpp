// libFuzzer target: the JSONL reader (src/data/jsonl_reader.cpp) on arbitrary bytes.
#include "reader_fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    synthforge::fuzz::read_everything(data, size, "jsonl");
    return 0;
}
