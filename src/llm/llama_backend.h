#pragma once
// The in-process llama.cpp backend: one model, one context, continuous batching.
//
// A single worker thread owns the llama model and context. submit() only queues;
// the worker admits queued requests into free sequence slots and, every step,
// runs one llama_decode that carries the prompt chunks of newly admitted
// sequences plus one token for each sequence that is generating. Finished
// sequences free their slot (and their KV cache) at once, so a long answer
// never holds up the short ones behind it. See docs/llama_backend.md.

#include "synthforge/llm/backend.h"

#include <filesystem>
#include <memory>
#include <string>

namespace synthforge::llm {

struct LlamaBackendOptions {
    // The GGUF model file. A missing or unloadable file throws UserError naming it.
    std::filesystem::path model;
    // Total KV-cache size in tokens, split evenly across the n_parallel sequences
    // (llama.cpp rounds each share up to a multiple of 256). A prompt must fit in one
    // share; generation stops with finish_reason "length" when its share is full.
    int n_ctx = 4096;
    // Sequences decoded together (the continuous-batching width) and max_in_flight().
    int n_parallel = 8;
    // CPU threads for decoding; 0: every hardware thread.
    int n_threads = 0;
    // Layers offloaded to a GPU when llama.cpp was built with one; 0: CPU only, -1: all.
    int n_gpu_layers = 0;
    // Tokens per llama_decode call: prompt chunks of admitted sequences share this budget
    // with the one-token steps of generating sequences.
    int n_batch = 2048;
    // Jinja chat template source that replaces the model's own ("chatml" names the
    // built-in ChatML template); "": the template stored in the model file. Part of
    // identity(), since it changes the prompt and therefore the answers.
    std::string chat_template;
    // An embedding model: every request must be an `embed` request, answered with the pooled
    // vector of its text. Pooling: "model" (the model's own; mean when it has none), "mean",
    // "cls", "last", or "rank" (a reranker's classification head: the vector holds its scores).
    bool embeddings = false;
    std::string pooling = "model";
};

// Loads the model and starts the worker thread. Throws UserError for a bad model path
// or options, RunError when llama.cpp cannot create a context.
std::unique_ptr<Backend> make_llama_backend(const LlamaBackendOptions& options);

}  // namespace synthforge::llm
