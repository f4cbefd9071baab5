// synthforge tiny-model OUT.gguf: write a tiny random-weight model with a real tokenizer.
#include "../llm/tiny_model.h"
#include "commands.h"

#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <string>

namespace synthforge::cli {

Command add_tiny_model_command(CLI::App& app) {
    struct Args {
        std::string out;
        std::string vocab = "qwen2";
        uint64_t seed = 42;
        bool reranker = false;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand(
        "tiny-model", "Write a tiny random-weight GGUF model with a real tokenizer, for testing without downloads");
    cmd->add_option("out", args->out, "The .gguf file to write")->required();
    cmd->add_option("--vocab", args->vocab,
                    "Vocabulary: a name from llama.cpp's models dir (qwen2, llama-bpe, ...) or a GGUF path; "
                    "pick one with a chat template")
        ->capture_default_str();
    cmd->add_option("--seed", args->seed, "Seed of the random weights")->capture_default_str();
    cmd->add_flag("--reranker", args->reranker,
                  "A reward/reranking model: a classification head scores (query, document) pairs (llama "
                  "pooling rank, llama-server --rerank); the reward block's model");
    return [args] {
        llm::TinyModelOptions options;
        options.vocab = llm::resolve_vocab(args->vocab);
        options.seed = args->seed;
        options.reranker = args->reranker;
        llm::write_tiny_model(args->out, options);
        std::error_code ec;
        auto size = std::filesystem::file_size(args->out, ec);
        fmt::print(
            "wrote {} ({:.1f} MB, vocabulary {}): random weights, its text is noise; "
            "it is meant for testing mechanics (loading, templates, batching, grammars), not content\n",
            args->out, ec ? 0.0 : size / 1e6, options.vocab.filename().string());
        return 0;
    };
}

}  // namespace synthforge::cli
