// The fuzz core links the flow loader without the LLM backends (llama.cpp, libcurl): the
// loader only validates configs and never creates a backend, so reaching one is a bug.
#include "llm/llama_backend.h"
#include "llm/openai_backend.h"

#include <cstdio>
#include <cstdlib>

namespace synthforge::llm {

std::unique_ptr<Backend> make_llama_backend(const LlamaBackendOptions&) {
    std::fputs("fuzz: the flow loader created a llama backend\n", stderr);
    std::abort();
}

std::unique_ptr<Backend> make_openai_backend(const OpenAiBackendOptions&) {
    std::fputs("fuzz: the flow loader created an openai backend\n", stderr);
    std::abort();
}

}  // namespace synthforge::llm
