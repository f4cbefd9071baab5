#pragma once
// A tiny random-weight GGUF model with a real tokenizer, for tests and benchmarks.
//
// No model weights can be downloaded in CI, but llama.cpp ships vocabulary-only
// GGUF files with real tokenizers and chat templates. Pairing one of them with a
// few random transformer layers gives a file that llama.cpp (and llama-server)
// loads like any other model: tokenising, chat templates, batching, sampling,
// grammars and stop strings all run for real. The text it writes is noise.

#include <cstdint>
#include <filesystem>
#include <string>

namespace synthforge::llm {

struct TinyModelOptions {
    // Vocabulary GGUF to copy every tokenizer.* key from (tokens, merges, special
    // token ids, chat template). Empty: ggml-vocab-qwen2.gguf from the models dir.
    std::filesystem::path vocab;
    uint64_t seed = 42;         // weights are a pure function of the seed and the dims
    int n_embd = 64;            // hidden size
    int n_head = 4;             // attention heads (head size = n_embd / n_head)
    int n_head_kv = 4;          // key/value heads (grouped-query attention when < n_head)
    int n_layer = 2;            // transformer blocks
    int n_ff = 128;             // feed-forward hidden size
    int context_length = 2048;  // training context written to the metadata
    // Standard deviation of the token embeddings. The block matrices use 1/sqrt(fan_in), so
    // the blocks, not the embedding, dominate the residual stream: with an output tied to the
    // embedding, a model whose residual is mostly its input token predicts that same token
    // forever ("\n\n\n..."); this way the next token depends on the whole context.
    float init_std = 0.02f;
    // Weight of the final RMS norm. With unit norms and tied 0.02-std embeddings, logits would
    // have a std of ~0.16: a flat distribution over the whole vocabulary, unlike any trained
    // model, which makes top-p sample from 100k+ tokens (slow, and all noise). Scaling the
    // final norm gives logits a std of ~8, so a handful of tokens hold most of the mass.
    // 0 makes every logit 0: a uniform model, whose perplexity on any text is exactly the
    // vocabulary size (a known answer for scoring tests).
    float output_norm = 48.0f;
    // A reward/reranking model instead of a generative one: Qwen3 architecture (per-head q/k
    // norms) with a classification head `cls.output` of two labels (yes, no), pooling type
    // rank and a "rerank" template that lays out (query, document) as a chat turn. llama.cpp
    // pools the last token, applies the head and a softmax: the score (the first output) lies in
    // (0, 1). Loaded with embeddings: true, pooling: rank (or model), in-process or by
    // llama-server --rerank. Random weights: its scores are noise too.
    bool reranker = false;
};

// The "rerank" template of a reranker written by write_tiny_model: {query} and {document} are
// replaced by the texts, as llama-server and the llama backend do.
extern const char* const kTinyRerankTemplate;

// Where the vocabulary GGUF files live: $SYNTHFORGE_LLAMA_MODELS_DIR, else
// <llama.cpp prefix>/share/llama/models.
std::filesystem::path llama_models_dir();

// A vocabulary given as a name ("qwen2", "ggml-vocab-qwen2", "ggml-vocab-qwen2.gguf")
// or as a path to a GGUF file. Throws UserError naming what was tried.
std::filesystem::path resolve_vocab(const std::string& name_or_path);

// Writes the model to `out` (atomically: temp file + rename). Throws UserError for
// a missing/unreadable vocabulary or bad dims, RunError when the file cannot be written.
void write_tiny_model(const std::filesystem::path& out, const TinyModelOptions& options = {});

}  // namespace synthforge::llm
