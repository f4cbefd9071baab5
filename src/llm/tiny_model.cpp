// Writes a tiny llama-architecture GGUF with random weights and a real tokenizer.
#include "tiny_model.h"

#include "synthforge/errors.h"

#include <ggml.h>
#include <gguf.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

#ifndef SYNTHFORGE_LLAMA_PREFIX
#define SYNTHFORGE_LLAMA_PREFIX ""
#endif

namespace synthforge::llm {
namespace fs = std::filesystem;

namespace {

struct GgufDeleter {
    void operator()(gguf_context* c) const { gguf_free(c); }
};
struct GgmlDeleter {
    void operator()(ggml_context* c) const { ggml_free(c); }
};
using GgufPtr = std::unique_ptr<gguf_context, GgufDeleter>;
using GgmlPtr = std::unique_ptr<ggml_context, GgmlDeleter>;

void check_dims(const TinyModelOptions& o) {
    auto bad = [](const std::string& what) { throw UserError("tiny model: " + what); };
    if (o.n_embd <= 0 || o.n_head <= 0 || o.n_head_kv <= 0 || o.n_layer <= 0 || o.n_ff <= 0 || o.context_length <= 0)
        bad("every dimension must be positive");
    if (o.n_embd % o.n_head != 0) bad("n_embd must be a multiple of n_head");
    if (o.n_head % o.n_head_kv != 0) bad("n_head must be a multiple of n_head_kv");
    // RoPE rotates pairs of dimensions, so the head size has to be even.
    if ((o.n_embd / o.n_head) % 2 != 0) bad("the head size n_embd / n_head must be even");
    if (!(o.init_std > 0) || !std::isfinite(o.init_std)) bad("init_std must be a positive number");
    if (!(o.output_norm >= 0) || !std::isfinite(o.output_norm)) bad("output_norm must be a number >= 0");
}

}  // namespace

// A reward model sees the pair the way it was trained on it: as a chat turn and its answer.
const char* const kTinyRerankTemplate =
    "<|im_start|>user\n{query}<|im_end|>\n<|im_start|>assistant\n{document}<|im_end|>\n";

fs::path llama_models_dir() {
    if (const char* env = std::getenv("SYNTHFORGE_LLAMA_MODELS_DIR"); env && *env) return env;
    return fs::path(SYNTHFORGE_LLAMA_PREFIX) / "share" / "llama" / "models";
}

fs::path resolve_vocab(const std::string& name_or_path) {
    std::string name = name_or_path.empty() ? "qwen2" : name_or_path;
    std::error_code ec;
    // Anything that looks like a path is taken as one, so a typo is reported as such.
    if (name.find('/') != std::string::npos || fs::exists(name, ec)) {
        if (!fs::is_regular_file(name, ec)) throw UserError("vocabulary file not found: " + name);
        return name;
    }
    fs::path dir = llama_models_dir();
    std::vector<std::string> candidates = {name, name + ".gguf", "ggml-vocab-" + name + ".gguf"};
    for (const auto& c : candidates)
        if (fs::is_regular_file(dir / c, ec)) return dir / c;
    throw UserError("no vocabulary named '" + name + "' in " + dir.string() + " (expected ggml-vocab-" + name +
                    ".gguf; set SYNTHFORGE_LLAMA_MODELS_DIR or pass a path)");
}

void write_tiny_model(const fs::path& out, const TinyModelOptions& o) {
    check_dims(o);
    const fs::path vocab_path = o.vocab.empty() ? resolve_vocab("qwen2") : o.vocab;
    std::error_code ec;
    if (!fs::is_regular_file(vocab_path, ec)) throw UserError("vocabulary file not found: " + vocab_path.string());

    // Metadata only: a vocab GGUF holds no tensors worth reading.
    gguf_init_params vparams{/*no_alloc=*/true, /*ctx=*/nullptr};
    GgufPtr vocab(gguf_init_from_file(vocab_path.c_str(), vparams));
    if (!vocab) throw UserError("cannot read vocabulary GGUF: " + vocab_path.string());
    const int64_t tokens_key = gguf_find_key(vocab.get(), "tokenizer.ggml.tokens");
    if (tokens_key < 0) throw UserError("not a vocabulary GGUF (no tokenizer.ggml.tokens): " + vocab_path.string());
    const int64_t n_vocab = static_cast<int64_t>(gguf_get_arr_n(vocab.get(), tokens_key));

    GgufPtr gguf(gguf_init_empty());
    // Copy every key, then drop what is not the tokenizer: the vocab's own general.* and
    // <arch>.* keys describe a different model and would confuse the loader.
    gguf_set_kv(gguf.get(), vocab.get());
    std::vector<std::string> foreign;
    for (int64_t i = 0; i < gguf_get_n_kv(gguf.get()); ++i) {
        std::string key = gguf_get_key(gguf.get(), i);
        if (key.rfind("tokenizer.", 0) != 0) foreign.push_back(key);
    }
    for (const auto& key : foreign) gguf_remove_key(gguf.get(), key.c_str());

    const uint32_t head_dim = static_cast<uint32_t>(o.n_embd / o.n_head);
    // llama.cpp reads a classification head (cls.output) only for some architectures: Qwen3 is
    // the one closest to llama (it adds per-head q/k norms).
    const std::string arch = o.reranker ? "qwen3" : "llama";
    auto key = [&](const char* name) { return arch + "." + name; };
    gguf_set_val_str(gguf.get(), "general.architecture", arch.c_str());
    gguf_set_val_str(gguf.get(), "general.name",
                     o.reranker ? "synthforge-tiny-random-reranker" : "synthforge-tiny-random");
    gguf_set_val_str(gguf.get(), "general.description", "random weights for testing mechanics only; its text is noise");
    gguf_set_val_u32(gguf.get(), "general.file_type", 1);  // LLAMA_FTYPE_MOSTLY_F16
    gguf_set_val_u32(gguf.get(), key("context_length").c_str(), static_cast<uint32_t>(o.context_length));
    gguf_set_val_u32(gguf.get(), key("embedding_length").c_str(), static_cast<uint32_t>(o.n_embd));
    gguf_set_val_u32(gguf.get(), key("block_count").c_str(), static_cast<uint32_t>(o.n_layer));
    gguf_set_val_u32(gguf.get(), key("feed_forward_length").c_str(), static_cast<uint32_t>(o.n_ff));
    gguf_set_val_u32(gguf.get(), key("attention.head_count").c_str(), static_cast<uint32_t>(o.n_head));
    gguf_set_val_u32(gguf.get(), key("attention.head_count_kv").c_str(), static_cast<uint32_t>(o.n_head_kv));
    gguf_set_val_f32(gguf.get(), key("attention.layer_norm_rms_epsilon").c_str(), 1e-5f);
    gguf_set_val_u32(gguf.get(), key("rope.dimension_count").c_str(), head_dim);
    gguf_set_val_f32(gguf.get(), key("rope.freq_base").c_str(), 10000.0f);
    gguf_set_val_u32(gguf.get(), key("vocab_size").c_str(), static_cast<uint32_t>(n_vocab));
    if (o.reranker) {
        // What a converted Qwen3 reranker carries: rank pooling, the labels of the head's
        // outputs (their count sizes it) and the layout of a (query, document) pair.
        gguf_set_val_u32(gguf.get(), key("pooling_type").c_str(), 4);  // LLAMA_POOLING_TYPE_RANK
        const char* labels[] = {"yes", "no"};
        gguf_set_arr_str(gguf.get(), key("classifier.output_labels").c_str(), labels, 2);
        gguf_set_val_str(gguf.get(), "tokenizer.chat_template.rerank", kTinyRerankTemplate);
    }

    // One ggml context holds every tensor's data until the file is written.
    const int64_t n_embd = o.n_embd, n_ff = o.n_ff;
    const int64_t n_kv = head_dim * static_cast<int64_t>(o.n_head_kv);
    auto f16_bytes = [](int64_t a, int64_t b) { return static_cast<size_t>(a * b) * sizeof(ggml_fp16_t); };
    size_t data_bytes = f16_bytes(n_embd, n_vocab) + n_embd * sizeof(float);
    data_bytes += o.n_layer * (2 * n_embd * sizeof(float) + f16_bytes(n_embd, n_embd) * 2 +
                               f16_bytes(n_embd, n_kv) * 2 + f16_bytes(n_embd, n_ff) * 3);
    if (o.reranker) data_bytes += f16_bytes(n_embd, 2) + o.n_layer * 2 * head_dim * sizeof(float);
    const size_t n_tensors = 3 + 11 * static_cast<size_t>(o.n_layer);
    ggml_init_params gparams{data_bytes + n_tensors * (ggml_tensor_overhead() + 64), nullptr, /*no_alloc=*/false};
    GgmlPtr ctx(ggml_init(gparams));
    if (!ctx) throw RunError("tiny model: cannot allocate " + std::to_string(data_bytes) + " bytes for the weights");

    std::mt19937_64 rng(o.seed);
    std::vector<float> row;

    // ggml's ne0 is the input dimension: a {in, out} tensor maps `in` features to `out`.
    auto matrix = [&](const std::string& name, int64_t in, int64_t out, float std) {
        ggml_tensor* t = ggml_new_tensor_2d(ctx.get(), GGML_TYPE_F16, in, out);
        ggml_set_name(t, name.c_str());
        std::normal_distribution<float> normal(0.0f, std);
        row.resize(static_cast<size_t>(in));
        auto* data = static_cast<ggml_fp16_t*>(t->data);
        for (int64_t r = 0; r < out; ++r) {
            for (auto& x : row) x = normal(rng);
            ggml_fp32_to_fp16_row(row.data(), data + r * in, in);
        }
        gguf_add_tensor(gguf.get(), t);
    };
    // RMS-norm weights inside the blocks start at 1, as in a freshly initialised model; the
    // final one sets how peaked the output distribution is (see TinyModelOptions::output_norm).
    auto norm = [&](const std::string& name, float value = 1.0f, int64_t size = 0) {
        if (size == 0) size = n_embd;
        ggml_tensor* t = ggml_new_tensor_1d(ctx.get(), GGML_TYPE_F32, size);
        ggml_set_name(t, name.c_str());
        auto* data = static_cast<float*>(t->data);
        for (int64_t i = 0; i < size; ++i) data[i] = value;
        gguf_add_tensor(gguf.get(), t);
    };

    // No output.weight: llama ties the output projection to token_embd when it is missing,
    // which halves the file (the vocab-sized matrix dominates it).
    const float std_embd = 1.0f / std::sqrt(static_cast<float>(n_embd));
    const float std_ff = 1.0f / std::sqrt(static_cast<float>(n_ff));
    matrix("token_embd.weight", n_embd, n_vocab, o.init_std);
    norm("output_norm.weight", o.output_norm);
    // The head reads the final-normed hidden state, scaled by output_norm: dividing it out gives
    // the two logits a standard deviation near 1, so the softmax does not saturate at 0 or 1.
    if (o.reranker) matrix("cls.output.weight", n_embd, 2, std_embd / std::max(o.output_norm, 1.0f));
    for (int l = 0; l < o.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        norm(p + "attn_norm.weight");
        matrix(p + "attn_q.weight", n_embd, n_embd, std_embd);
        matrix(p + "attn_k.weight", n_embd, n_kv, std_embd);
        matrix(p + "attn_v.weight", n_embd, n_kv, std_embd);
        matrix(p + "attn_output.weight", n_embd, n_embd, std_embd);
        if (o.reranker) {
            norm(p + "attn_q_norm.weight", 1.0f, head_dim);
            norm(p + "attn_k_norm.weight", 1.0f, head_dim);
        }
        norm(p + "ffn_norm.weight");
        matrix(p + "ffn_gate.weight", n_embd, n_ff, std_embd);
        matrix(p + "ffn_up.weight", n_embd, n_ff, std_embd);
        matrix(p + "ffn_down.weight", n_ff, n_embd, std_ff);
    }

    // Write next to the target and rename, so a killed run never leaves a half model behind.
    if (out.has_parent_path()) fs::create_directories(out.parent_path(), ec);
    // The temp name is unique per process and call: parallel test processes may write the same model.
    static std::atomic<unsigned> counter{0};
    fs::path tmp = out;
    tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    if (!gguf_write_to_file(gguf.get(), tmp.c_str(), /*only_meta=*/false)) {
        fs::remove(tmp, ec);
        throw RunError("cannot write " + out.string());
    }
    fs::rename(tmp, out, ec);
    if (ec) {
        std::string why = ec.message();
        fs::remove(tmp, ec);
        throw RunError("cannot write " + out.string() + ": " + why);
    }
}

}  // namespace synthforge::llm
