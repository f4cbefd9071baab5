// The in-process llama.cpp backend: continuous batching on one worker thread.
#include "llama_backend.h"

#include "synthforge/errors.h"

#include <llama.h>

// llama.cpp's common library: its Jinja engine (chat templates, with user input marked)
// and the JSON-schema -> GBNF converter.
#include <jinja/caps.h>
#include <jinja/lexer.h>
#include <jinja/parser.h>
#include <jinja/runtime.h>
#include <json-schema-to-grammar.h>
#include <json.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

namespace synthforge::llm {
namespace {

using Clock = std::chrono::steady_clock;

// Used when a request carries no seed, so that runs without seeds still repeat exactly.
constexpr uint64_t kDefaultSeed = 0x5EED5EED;

// The ChatML template, for chat_template "chatml" and for models that ship no template.
constexpr const char* kChatmlTemplate =
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

// ---- llama.cpp process-wide setup -------------------------------------------------------

// llama.cpp logs every tensor and setting while loading; that drowns synthforge's own
// output, so only errors pass unless SYNTHFORGE_LLAMA_LOG is set.
std::atomic<int> g_last_log_level{GGML_LOG_LEVEL_NONE};
bool g_verbose_llama_log = false;

// While set, errors logged on this thread are collected here instead of printed, so that
// they can go into the exception or Outcome that reports the failure.
thread_local std::string* t_log_capture = nullptr;

void llama_log(ggml_log_level level, const char* text, void*) {
    // CONT continues the previous message, at the previous message's level.
    if (level == GGML_LOG_LEVEL_CONT)
        level = static_cast<ggml_log_level>(g_last_log_level.load());
    else
        g_last_log_level = level;
    if (level == GGML_LOG_LEVEL_ERROR && t_log_capture)
        *t_log_capture += text;
    else if (g_verbose_llama_log || level == GGML_LOG_LEVEL_ERROR)
        std::fputs(text, stderr);
}

class LogCapture {
  public:
    LogCapture() { t_log_capture = &text_; }
    ~LogCapture() { t_log_capture = nullptr; }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;

    // The captured lines joined with "; ", prefixed with ": ", or "" when nothing was logged.
    std::string reason() const {
        std::string out;
        size_t start = 0;
        while (start < text_.size()) {
            size_t end = text_.find('\n', start);
            if (end == std::string::npos) end = text_.size();
            std::string line = text_.substr(start, end - start);
            while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
            if (!line.empty()) out += (out.empty() ? "" : "; ") + line;
            start = end + 1;
        }
        return out.empty() ? out : ": " + out;
    }

  private:
    std::string text_;
};

void init_llama_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        const char* env = std::getenv("SYNTHFORGE_LLAMA_LOG");
        g_verbose_llama_log = env && *env && std::string(env) != "0";
        llama_log_set(llama_log, nullptr);
        llama_backend_init();
    });
}

struct ModelFree {
    void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ContextFree {
    void operator()(llama_context* c) const { llama_free(c); }
};
struct SamplerFree {
    void operator()(llama_sampler* s) const { llama_sampler_free(s); }
};
using ModelPtr = std::unique_ptr<llama_model, ModelFree>;
using ContextPtr = std::unique_ptr<llama_context, ContextFree>;
using SamplerPtr = std::unique_ptr<llama_sampler, SamplerFree>;

// A stable 64-bit hash (FNV-1a) for identity(): std::hash may change between library builds.
uint64_t fnv1a(const std::string& s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
    return h;
}

// Model output is arbitrary bytes: a byte-level BPE token can be half a UTF-8 character,
// and noise models emit lone continuation bytes. Downstream everything is JSON, which
// must be valid UTF-8, so invalid sequences become U+FFFD. An incomplete sequence at the
// very end (cut by max_tokens) is dropped rather than replaced.
std::string sanitize_utf8(const std::string& in) {
    std::string out;
    out.reserve(in.size());
    const auto* s = reinterpret_cast<const unsigned char*>(in.data());
    const size_t n = in.size();
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        if (len == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
            continue;
        }
        size_t k = 1;
        while (k < len && i + k < n && (s[i + k] & 0xC0) == 0x80) ++k;
        if (k < len && i + k == n) break;  // truncated at the end
        bool ok = k == len;
        if (ok && len > 1) {
            // Reject overlong forms, surrogates and code points above U+10FFFF.
            uint32_t cp = c & (0xFF >> (len + 1));
            for (size_t j = 1; j < len; ++j) cp = (cp << 6) | (s[i + j] & 0x3F);
            static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
            ok = cp >= kMin[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
        }
        if (ok)
            out.append(in, i, len);
        else
            out += "\xEF\xBF\xBD";
        i += ok ? len : std::max<size_t>(k, 1);
    }
    return out;
}

// The greedy choice without copying the vocabulary into llama_token_data: same result as
// llama.cpp's greedy sampler (the first maximum wins). A scalar running argmax over 150k
// logits is a noticeable share of a small model's decode step, so this keeps a maximum and
// its first index per vector lane (GCC vector extensions: SSE2 on baseline x86-64, NEON on
// arm64) and reduces the lanes at the end.
llama_token argmax(const float* logits, int n) {
    using f4 = float __attribute__((vector_size(16)));
    using i4 = int32_t __attribute__((vector_size(16)));
    f4 best_a = {-INFINITY, -INFINITY, -INFINITY, -INFINITY}, best_b = best_a;
    i4 idx_a = {0, 1, 2, 3}, idx_b = {4, 5, 6, 7};
    i4 cur_a = idx_a, cur_b = idx_b;
    const i4 step = {8, 8, 8, 8};
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        f4 a, b;
        std::memcpy(&a, logits + i, sizeof(a));
        std::memcpy(&b, logits + i + 4, sizeof(b));
        const i4 ga = a > best_a, gb = b > best_b;  // strict: an equal later value keeps the earlier index
        best_a = ga ? a : best_a;
        idx_a = ga ? cur_a : idx_a;
        best_b = gb ? b : best_b;
        idx_b = gb ? cur_b : idx_b;
        cur_a += step;
        cur_b += step;
    }
    float best = -INFINITY;
    int best_idx = -1;
    auto consider = [&](float v, int at) {
        if (v > best || (v == best && best_idx >= 0 && at < best_idx)) best = v, best_idx = at;
    };
    for (int j = 0; j < 4; ++j) consider(best_a[j], idx_a[j]), consider(best_b[j], idx_b[j]);
    for (; i < n; ++i) consider(logits[i], i);
    return best_idx >= 0 ? best_idx : 0;  // every logit NaN or -inf: nothing better to pick
}

// The largest logit, vectorised like argmax().
float max_logit(const float* logits, int n) {
    using f4 = float __attribute__((vector_size(16)));
    f4 a = {-INFINITY, -INFINITY, -INFINITY, -INFINITY}, b = a;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        f4 x, y;
        std::memcpy(&x, logits + i, sizeof(x));
        std::memcpy(&y, logits + i + 4, sizeof(y));
        a = x > a ? x : a;
        b = y > b ? y : b;
    }
    float best = -INFINITY;
    for (int j = 0; j < 4; ++j) best = std::max({best, a[j], b[j]});
    for (; i < n; ++i) best = std::max(best, logits[i]);
    return best;
}

// ---- the backend ------------------------------------------------------------------------

class LlamaBackend final : public Backend {
  public:
    explicit LlamaBackend(const LlamaBackendOptions& options);
    ~LlamaBackend() override;

    std::string identity() const override { return identity_; }
    size_t max_in_flight() const override { return static_cast<size_t>(options_.n_parallel); }
    void submit(uint64_t id, Request request) override;
    std::vector<std::pair<uint64_t, Outcome>> wait(std::chrono::milliseconds timeout) override;

  private:
    struct Pending {
        uint64_t id;
        Request request;
        Clock::time_point submitted;
    };

    // One sequence being decoded: its KV-cache sequence id is its index in slots_.
    struct Slot {
        bool busy = false;
        uint64_t id = 0;
        Clock::time_point submitted;
        SamplingParams sampling;
        std::vector<llama_token> prompt;
        size_t n_prompt_done = 0;  // prompt tokens already in the KV cache
        int n_past = 0;            // position of the next token fed to the model
        bool generating = false;   // prompt done; `next` is the last sampled token
        llama_token next = LLAMA_TOKEN_NULL;
        int batch_index = -1;       // row of this slot's logits in the current step, -1: none
        int chunk_row = -1;         // row of the first prompt token this slot put in the current step
        SamplerPtr chain;           // penalties/top-k/top-p/min-p/temperature/dist, or greedy
        SamplerPtr grammar;         // optional constraint, checked apart from the chain (see sample())
        bool plain_greedy = false;  // greedy with nothing else: argmax straight from the logits
        float tail_margin = 0;      // candidates more than this below the best logit are dropped; 0: keep all
        std::string text;           // raw bytes generated so far
        int n_generated = 0;
        // A scoring request: its prompt is decoded and never generated from.
        bool scoring = false;
        size_t score_from = 0;  // first prompt token whose log-probability counts
        TokenScore score;
        std::vector<float> embedding;  // an embedding backend's answer
    };

    struct Prepared {
        std::vector<llama_token> prompt;
        SamplerPtr chain;
        SamplerPtr grammar;
        bool plain_greedy = false;
        float tail_margin = 0;
        bool scoring = false;
        size_t score_from = 0;
    };

    void run();
    bool admit();
    void step();
    void step_embed();
    Prepared prepare(const Request& request) const;
    std::vector<llama_token> render_chat(const std::vector<ChatMessage>& messages,
                                         bool user_turn_opening = false) const;
    std::vector<llama_token> tokenize(const std::string& text, bool parse_special) const;
    std::string piece(llama_token token) const;
    llama_token sample(Slot& slot);
    Prepared prepare_score(const Request& request) const;
    Prepared prepare_rank(const Request& request) const;
    double log_probability(const float* logits, llama_token token) const;
    void after_token(Slot& slot, llama_token token);
    void finish(Slot& slot, const std::string& reason);
    void fail(Slot& slot, const std::string& error);
    void deliver(uint64_t id, Outcome outcome);

    LlamaBackendOptions options_;
    std::string identity_;
    std::string endpoint_;
    ModelPtr model_;
    ContextPtr ctx_;
    const llama_vocab* vocab_ = nullptr;
    int n_vocab_ = 0;
    int n_ctx_seq_ = 0;
    llama_batch batch_{};
    // Embedding backends only.
    enum llama_pooling_type pooling_ = LLAMA_POOLING_TYPE_NONE;
    int n_embd_out_ = 0;
    bool encoder_only_ = false;

    // The chat template, parsed once; rendering only reads it.
    jinja::program template_;
    std::string template_source_;
    jinja::caps template_caps_;
    std::string bos_text_, eos_text_;

    std::vector<Slot> slots_;
    std::vector<llama_token_data> candidates_;  // reused by sample(): one vocab-sized buffer

    std::mutex mu_;
    std::condition_variable work_cv_;  // worker: new requests or stop
    std::condition_variable done_cv_;  // wait(): outcomes available
    std::deque<Pending> queue_;
    std::vector<std::pair<uint64_t, Outcome>> done_;
    bool stop_ = false;
    std::thread worker_;
};

LlamaBackend::LlamaBackend(const LlamaBackendOptions& options) : options_(options) {
    namespace fs = std::filesystem;
    const std::string path = options_.model.string();
    std::error_code ec;
    if (path.empty()) throw UserError("llama backend: no model file given");
    if (!fs::is_regular_file(options_.model, ec)) throw UserError("llama backend: model file not found: " + path);
    if (options_.n_parallel < 1) throw UserError("llama backend: n_parallel must be at least 1");
    if (options_.n_ctx < 1) throw UserError("llama backend: n_ctx must be positive");
    // Every generating sequence puts one token in every step's batch.
    if (options_.n_batch < options_.n_parallel)
        throw UserError("llama backend: n_batch (" + std::to_string(options_.n_batch) +
                        ") must be at least n_parallel (" + std::to_string(options_.n_parallel) + ")");
    if (options_.n_threads < 0) throw UserError("llama backend: n_threads must be 0 (all) or positive");

    init_llama_once();

    llama_model_params mparams = llama_model_default_params();
    mparams.n_gpu_layers = options_.n_gpu_layers;
    {
        LogCapture log;
        model_.reset(llama_model_load_from_file(path.c_str(), mparams));
        if (!model_) throw UserError("llama backend: cannot load model " + path + log.reason());
    }
    vocab_ = llama_model_get_vocab(model_.get());
    n_vocab_ = llama_vocab_n_tokens(vocab_);

    const int n_threads = options_.n_threads > 0 ? options_.n_threads
                                                 : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx = static_cast<uint32_t>(options_.n_ctx);
    cparams.n_batch = static_cast<uint32_t>(options_.n_batch);
    cparams.n_ubatch = static_cast<uint32_t>(std::min(options_.n_batch, 512));
    cparams.n_seq_max = static_cast<uint32_t>(options_.n_parallel);
    cparams.n_threads = n_threads;
    cparams.n_threads_batch = n_threads;
    // One KV stream per sequence: each gets an equal, private share of n_ctx, so a long
    // answer can never evict another sequence's cache mid-generation.
    cparams.kv_unified = false;
    cparams.no_perf = true;
    if (options_.embeddings) {
        static const std::map<std::string, enum llama_pooling_type> poolings = {
            {"model", LLAMA_POOLING_TYPE_UNSPECIFIED},
            {"mean", LLAMA_POOLING_TYPE_MEAN},
            {"cls", LLAMA_POOLING_TYPE_CLS},
            {"last", LLAMA_POOLING_TYPE_LAST},
            {"rank", LLAMA_POOLING_TYPE_RANK}};
        auto it = poolings.find(options_.pooling);
        if (it == poolings.end())
            throw UserError("llama backend: pooling must be model, mean, cls, last or rank, not '" + options_.pooling +
                            "'");
        cparams.embeddings = true;
        cparams.pooling_type = it->second;
        // A non-causal (BERT-style) model must see a whole text in one micro-batch. llama.cpp
        // reserves its pooling graph with the micro-batch split evenly over the sequences and
        // fails an assertion otherwise, so the batch is a multiple of n_parallel.
        options_.n_batch -= options_.n_batch % options_.n_parallel;
        cparams.n_batch = cparams.n_ubatch = static_cast<uint32_t>(options_.n_batch);
        // Texts are embedded whole and forgotten at once: one shared cache is all they need.
        cparams.kv_unified = true;
    }
    auto make_context = [&] {
        LogCapture log;
        ctx_.reset(llama_init_from_model(model_.get(), cparams));
        if (!ctx_)
            throw RunError("llama backend: cannot create a context for " + path + " with n_ctx " +
                           std::to_string(options_.n_ctx) + ", n_parallel " + std::to_string(options_.n_parallel) +
                           log.reason());
    };
    make_context();
    // A generative model used for embeddings declares no pooling of its own: average its tokens.
    if (options_.embeddings && llama_pooling_type(ctx_.get()) == LLAMA_POOLING_TYPE_NONE) {
        cparams.pooling_type = LLAMA_POOLING_TYPE_MEAN;
        make_context();
    }
    if (options_.embeddings) {
        pooling_ = llama_pooling_type(ctx_.get());
        n_embd_out_ = pooling_ == LLAMA_POOLING_TYPE_RANK ? static_cast<int>(llama_model_n_cls_out(model_.get()))
                                                          : llama_model_n_embd_out(model_.get());
        encoder_only_ = llama_model_has_encoder(model_.get()) && !llama_model_has_decoder(model_.get());
    }
    n_ctx_seq_ = static_cast<int>(llama_n_ctx_seq(ctx_.get()));

    // The chat template: an override, the model's own, or ChatML when the model has none.
    if (options_.chat_template.empty()) {
        const char* own = llama_model_chat_template(model_.get(), nullptr);
        template_source_ = own ? own : kChatmlTemplate;
    } else {
        template_source_ = options_.chat_template == "chatml" ? kChatmlTemplate : options_.chat_template;
    }
    try {
        jinja::lexer lexer;
        auto lexed = lexer.tokenize(template_source_);
        template_ = jinja::parse_from_tokens(lexed);
        template_caps_ = jinja::caps_get(template_);
    } catch (const std::exception& e) {
        throw UserError(std::string("llama backend: the chat template ") +
                        (options_.chat_template.empty() ? "in " + path : "given") + " does not parse: " + e.what());
    }
    auto special_text = [&](llama_token t) {
        char buf[256];
        int n = t == LLAMA_TOKEN_NULL ? 0 : llama_token_to_piece(vocab_, t, buf, sizeof(buf), 0, /*special=*/true);
        return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
    };
    bos_text_ = special_text(llama_vocab_bos(vocab_));
    eos_text_ = special_text(llama_vocab_eos(vocab_));

    endpoint_ = options_.model.filename().string();
    identity_ = "llama:" + endpoint_ + ":" + std::to_string(fs::file_size(options_.model, ec));
    if (options_.embeddings) identity_ += ":embed=" + std::to_string(static_cast<int>(pooling_));
    if (!options_.chat_template.empty()) {
        char hex[17];
        std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(fnv1a(template_source_)));
        identity_ += ":template=" + std::string(hex);
    }

    batch_ = llama_batch_init(options_.n_batch, 0, 1);
    slots_.resize(static_cast<size_t>(options_.n_parallel));
    candidates_.resize(static_cast<size_t>(n_vocab_));
    worker_ = std::thread([this] { run(); });
}

LlamaBackend::~LlamaBackend() {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    work_cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    // Samplers hold no reference to the context, but free them before it anyway.
    slots_.clear();
    llama_batch_free(batch_);
}

void LlamaBackend::submit(uint64_t id, Request request) {
    {
        std::lock_guard lk(mu_);
        queue_.push_back({id, std::move(request), Clock::now()});
    }
    work_cv_.notify_one();
}

std::vector<std::pair<uint64_t, Outcome>> LlamaBackend::wait(std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    done_cv_.wait_for(lk, timeout, [&] { return !done_.empty(); });
    std::vector<std::pair<uint64_t, Outcome>> out;
    out.swap(done_);
    return out;
}

void LlamaBackend::deliver(uint64_t id, Outcome outcome) {
    outcome.attempts = 1;
    {
        std::lock_guard lk(mu_);
        done_.emplace_back(id, std::move(outcome));
    }
    done_cv_.notify_all();
}

void LlamaBackend::run() {
    while (admit()) {
        try {
            options_.embeddings ? step_embed() : step();
        } catch (const std::exception& e) {
            // A failure inside llama.cpp fails the sequences in flight, not the process.
            for (auto& s : slots_)
                if (s.busy) fail(s, std::string("llama backend: ") + e.what());
        }
    }
}

// Moves queued requests into free slots; blocks while there is nothing to do.
// Returns false when the backend is shutting down.
bool LlamaBackend::admit() {
    std::vector<Pending> taken;
    {
        std::unique_lock lk(mu_);
        auto any_busy = [&] { return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.busy; }); };
        work_cv_.wait(lk, [&] { return stop_ || !queue_.empty() || any_busy(); });
        if (stop_) return false;
        size_t free_slots = std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.busy; });
        while (!queue_.empty() && taken.size() < free_slots) {
            taken.push_back(std::move(queue_.front()));
            queue_.pop_front();
        }
    }
    // Templates, tokenising and grammar parsing run outside the lock: submit() never waits on them.
    for (auto& p : taken) {
        Prepared prep;
        try {
            prep = prepare(p.request);
        } catch (const std::exception& e) {
            deliver(p.id, Outcome{std::nullopt, e.what(), 0});
            continue;
        }
        auto it = std::find_if(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.busy; });
        Slot& s = *it;
        s = Slot{};
        s.busy = true;
        s.id = p.id;
        s.submitted = p.submitted;
        s.sampling = p.request.sampling;
        s.prompt = std::move(prep.prompt);
        s.chain = std::move(prep.chain);
        s.grammar = std::move(prep.grammar);
        s.plain_greedy = prep.plain_greedy;
        s.tail_margin = prep.tail_margin;
        s.scoring = prep.scoring;
        s.score_from = prep.score_from;
    }
    return true;
}

// Everything a request needs before its first decode. Throws with a message meant for the
// Outcome: these are per-request failures, not backend failures.
LlamaBackend::Prepared LlamaBackend::prepare(const Request& request) const {
    if (request.n_probs > 0)
        throw std::runtime_error("llama backend: n_probs (token log-probabilities) is not supported yet");
    if (request.json_schema && !request.grammar.empty())
        throw std::runtime_error("llama backend: a request can carry a json_schema or a grammar, not both");
    if (request.rank) return prepare_rank(request);
    if (options_.embeddings != request.embed)
        throw std::runtime_error(options_.embeddings
                                     ? "llama backend: this model is loaded for embeddings (llm.embeddings: true) and "
                                       "only answers embedding requests"
                                     : "llama backend: an embedding request needs a model loaded for embeddings: set "
                                       "llm.embeddings: true (and an embedding GGUF) in the block's llm:");
    if (request.embed) {
        Prepared prep;
        if (llama_vocab_get_add_bos(vocab_)) prep.prompt.push_back(llama_vocab_bos(vocab_));
        auto text = tokenize(request.prompt, /*parse_special=*/false);
        prep.prompt.insert(prep.prompt.end(), text.begin(), text.end());
        // Models that want an end-of-sequence token (BERT's [SEP]) pool over it too.
        if (llama_vocab_get_add_eos(vocab_)) prep.prompt.push_back(llama_vocab_eos(vocab_));
        if (text.empty()) throw std::runtime_error("llama backend: the text to embed is empty");
        const size_t limit = static_cast<size_t>(std::min(options_.n_batch, n_ctx_seq_));
        if (prep.prompt.size() > limit)
            throw std::runtime_error("text to embed is " + std::to_string(prep.prompt.size()) +
                                     " tokens, over the limit of " + std::to_string(limit) +
                                     " (the smaller of n_batch and n_ctx / n_parallel)");
        return prep;
    }
    if (request.score) return prepare_score(request);

    Prepared prep;
    if (request.pre_query) {
        prep.prompt = render_chat(request.messages, /*user_turn_opening=*/true);
    } else if (request.is_chat()) {
        prep.prompt = render_chat(request.messages);
    } else {
        // A raw prompt is the caller's exact text: special-token text in it (e.g. "<|im_start|>")
        // becomes control tokens, as with llama-server's /completion endpoint.
        prep.prompt = tokenize(request.prompt, /*parse_special=*/true);
        if (llama_vocab_get_add_bos(vocab_) && (prep.prompt.empty() || prep.prompt.front() != llama_vocab_bos(vocab_)))
            prep.prompt.insert(prep.prompt.begin(), llama_vocab_bos(vocab_));
    }
    if (prep.prompt.empty()) throw std::runtime_error("llama backend: the prompt is empty");
    const int n_prompt = static_cast<int>(prep.prompt.size());
    // At least one position must remain for the first generated token.
    if (n_prompt >= n_ctx_seq_)
        throw std::runtime_error("prompt is " + std::to_string(n_prompt) +
                                 " tokens, over the per-sequence context of " + std::to_string(n_ctx_seq_) +
                                 " (n_ctx / n_parallel)");

    std::string grammar = request.grammar;
    if (request.json_schema) {
        try {
            grammar = json_schema_to_grammar(common_json::parse(request.json_schema->dump()), /*force_gbnf=*/true);
        } catch (const std::exception& e) {
            throw std::runtime_error(std::string("llama backend: cannot turn json_schema into a grammar: ") + e.what());
        }
    }
    if (!grammar.empty()) {
        // llama.cpp prints the parser's message (what and where) straight to stderr; only its
        // one-line summary goes through the log callback, so that is not worth capturing.
        LogCapture quiet;
        prep.grammar.reset(llama_sampler_init_grammar(vocab_, grammar.c_str(), "root"));
        if (!prep.grammar)
            throw std::runtime_error(
                "llama backend: the grammar does not parse (GBNF with a 'root' rule; "
                "llama.cpp printed the parser's message on stderr)");
    }

    const SamplingParams& sp = request.sampling;
    const bool penalties = sp.presence_penalty != 0.0 || sp.frequency_penalty != 0.0;
    // Sampling works on the tokens within a margin of the best logit: the ones below it hold
    // less than 1e-4 of the probability together (n_vocab * e^-margin <= 1e-4 at temperature
    // 1; the margin grows with the temperature), yet filtering 150k candidates through top-p's
    // softmax and sort is most of the cost of a stochastic token on a small model. Negative
    // penalties can lift a token from the tail, so they keep the whole vocabulary.
    if (sp.presence_penalty >= 0 && sp.frequency_penalty >= 0) {
        const double t = sp.mode == SamplingMode::deterministic ? 1.0 : std::max(1.0, sp.temperature);
        prep.tail_margin = static_cast<float>((std::log(static_cast<double>(n_vocab_)) + std::log(1e4)) * t);
    }
    prep.chain.reset(llama_sampler_chain_init(llama_sampler_chain_default_params()));
    llama_sampler* chain = prep.chain.get();
    if (penalties) {
        // OpenAI semantics: penalise what this answer has generated so far, so the window
        // covers the whole answer (the chain only ever sees generated tokens).
        int window = std::clamp(sp.max_tokens > 0 ? sp.max_tokens : n_ctx_seq_, 64, n_ctx_seq_);
        llama_sampler_chain_add(
            chain, llama_sampler_init_penalties(n_vocab_, window, 1.0f, static_cast<float>(sp.frequency_penalty),
                                                static_cast<float>(sp.presence_penalty)));
    }
    if (sp.mode == SamplingMode::deterministic) {
        llama_sampler_chain_add(chain, llama_sampler_init_greedy());
        prep.plain_greedy = !penalties && !prep.grammar;
    } else {
        if (sp.top_k > 0) llama_sampler_chain_add(chain, llama_sampler_init_top_k(sp.top_k));
        if (sp.top_p > 0 && sp.top_p < 1)
            llama_sampler_chain_add(chain, llama_sampler_init_top_p(static_cast<float>(sp.top_p), 1));
        if (sp.min_p > 0) llama_sampler_chain_add(chain, llama_sampler_init_min_p(static_cast<float>(sp.min_p), 1));
        llama_sampler_chain_add(chain, llama_sampler_init_temp(static_cast<float>(sp.temperature)));
        // dist takes 32 bits; fold the 64-bit seed, and avoid LLAMA_DEFAULT_SEED, which
        // llama.cpp reads as "pick a random seed".
        const uint64_t seed64 = sp.seed.value_or(kDefaultSeed);
        uint32_t seed = static_cast<uint32_t>(seed64 ^ (seed64 >> 32));
        if (seed == LLAMA_DEFAULT_SEED) seed = 0x9E3779B9u;
        llama_sampler_chain_add(chain, llama_sampler_init_dist(seed));
    }
    return prep;
}

// A scoring request decodes BOS (when the model wants one), the context and the text, and
// sums log p(token | tokens before it) over the text's tokens. Context and text are tokenised
// apart, so the text's tokens are the same whatever context precedes it. Without BOS and
// context the first token has nothing to be predicted from and is not scored.
LlamaBackend::Prepared LlamaBackend::prepare_score(const Request& request) const {
    Prepared prep;
    prep.scoring = true;
    if (llama_vocab_get_add_bos(vocab_)) prep.prompt.push_back(llama_vocab_bos(vocab_));
    auto context = tokenize(request.score_context, /*parse_special=*/false);
    prep.prompt.insert(prep.prompt.end(), context.begin(), context.end());
    auto text = tokenize(request.prompt, /*parse_special=*/false);
    if (text.empty()) throw std::runtime_error("llama backend: the text to score is empty");
    prep.score_from = std::max<size_t>(prep.prompt.size(), 1);
    prep.prompt.insert(prep.prompt.end(), text.begin(), text.end());
    if (prep.score_from >= prep.prompt.size())
        throw std::runtime_error("llama backend: the text to score is a single token with nothing before it");
    if (prep.prompt.size() > static_cast<size_t>(n_ctx_seq_))
        throw std::runtime_error("text to score is " + std::to_string(prep.prompt.size()) +
                                 " tokens with its context, over the per-sequence context of " +
                                 std::to_string(n_ctx_seq_) + " (n_ctx / n_parallel)");
    return prep;
}

// log softmax(logits)[token], in double: log-probabilities of a whole text are summed, and
// a 150k-token vocabulary makes the normaliser a long sum.
double LlamaBackend::log_probability(const float* logits, llama_token token) const {
    const float top = max_logit(logits, n_vocab_);
    double sum = 0;
    for (int t = 0; t < n_vocab_; ++t) sum += std::exp(static_cast<double>(logits[t] - top));
    return static_cast<double>(logits[token] - top) - std::log(sum);
}

// Renders chat messages with the chat template and tokenises the result so that only the
// template's own text may contain control tokens. The Jinja engine marks every string that
// came from the messages as input; those parts are tokenised with parse_special=false, so a
// record that contains "<|im_start|>system" stays plain text instead of forging a turn.
//
// With `user_turn_opening` (Magpie), a user turn with a marker as its content is appended and
// the rendering stops where the marker begins: the model sees the template's own opening of a
// user turn and writes the query a user would.
std::vector<llama_token> LlamaBackend::render_chat(const std::vector<ChatMessage>& messages,
                                                   bool user_turn_opening) const {
    static const std::string kMarker = "\x1esynthforge-user-query\x1e";
    std::vector<ChatMessage> msgs = messages;
    if (user_turn_opening) msgs.push_back({"user", kMarker});
    // Templates without a system role (Gemma and others) raise an error on one; fold it into
    // the first user turn instead, as llama-server does.
    if (!template_caps_.supports_system_role && !msgs.empty() && msgs.front().role == "system") {
        std::string system = msgs.front().content;
        msgs.erase(msgs.begin());
        if (!msgs.empty() && msgs.front().role == "user")
            msgs.front().content = system + "\n\n" + msgs.front().content;
        else
            msgs.insert(msgs.begin(), ChatMessage{"user", system});
    }
    const bool typed = !template_caps_.supports_string_content && template_caps_.supports_typed_content;
    Json list = Json::array();
    for (const auto& m : msgs) {
        Json content = typed ? Json::array({Json{{"type", "text"}, {"text", m.content}}}) : Json(m.content);
        list.push_back(Json{{"role", m.role}, {"content", std::move(content)}});
    }

    jinja::context ctx(template_source_);
    Json globals = {{"bos_token", bos_text_}, {"eos_token", eos_text_}, {"add_generation_prompt", !user_turn_opening}};
    jinja::global_from_json(ctx, common_json::parse(globals.dump()), /*mark_input=*/false);
    jinja::global_from_json(ctx, common_json::parse(Json{{"messages", list}}.dump()), /*mark_input=*/true);
    jinja::string rendered;
    try {
        jinja::runtime runtime(ctx);
        auto result = runtime.execute(template_);
        rendered = jinja::runtime::gather_string_parts(result)->val_str;
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string("llama backend: the chat template failed on this request: ") + e.what());
    }

    std::vector<llama_token> tokens;
    bool marker_found = false;
    for (const auto& part : rendered.parts) {
        std::string text = part.val;
        if (user_turn_opening) {
            size_t at = text.find(kMarker);
            if (at != std::string::npos) {
                text.resize(at);
                marker_found = true;
            }
        }
        auto t = tokenize(text, /*parse_special=*/!part.is_input);
        tokens.insert(tokens.end(), t.begin(), t.end());
        if (marker_found) break;
    }
    if (user_turn_opening && !marker_found)
        throw std::runtime_error(
            "llama backend: the chat template does not write the user's message, so it has no "
            "user-turn opening for a pre-query (Magpie) request");
    // Models that want a BOS get exactly one, whether or not the template writes it.
    if (llama_vocab_get_add_bos(vocab_) && (tokens.empty() || tokens.front() != llama_vocab_bos(vocab_)))
        tokens.insert(tokens.begin(), llama_vocab_bos(vocab_));
    return tokens;
}

// A reward request: (query, document) laid out as llama-server's /v1/rerank lays them out, so a
// model scores the same here and behind a server: the model's "rerank" template with {query}
// and {document} filled in, else BOS query EOS SEP document EOS (as the vocabulary adds them).
// Unlike the server, the texts are tokenised apart from the template, so special-token text in
// an instruction or a response stays plain text.
LlamaBackend::Prepared LlamaBackend::prepare_rank(const Request& request) const {
    if (!options_.embeddings || pooling_ != LLAMA_POOLING_TYPE_RANK)
        throw std::runtime_error(
            "llama backend: a reward request needs a reward or reranking model with a classification head, loaded "
            "with llm.embeddings: true and llm.pooling: rank");
    if (request.prompt.empty()) throw std::runtime_error("llama backend: the response to score is empty");
    Prepared prep;
    auto append = [&](const std::vector<llama_token>& t) { prep.prompt.insert(prep.prompt.end(), t.begin(), t.end()); };
    if (const char* tmpl = llama_model_chat_template(model_.get(), "rerank")) {
        const std::string layout = tmpl;
        size_t at = 0;
        while (at < layout.size()) {
            const size_t q = layout.find("{query}", at), d = layout.find("{document}", at);
            const size_t next = std::min(q, d);
            append(tokenize(layout.substr(at, next == std::string::npos ? std::string::npos : next - at),
                            /*parse_special=*/true));
            if (next == std::string::npos) break;
            append(tokenize(next == q ? request.rank_query : request.prompt, /*parse_special=*/false));
            at = next + (next == q ? 7 : 10);
        }
    } else {
        llama_token eos = llama_vocab_eos(vocab_);
        if (eos == LLAMA_TOKEN_NULL) eos = llama_vocab_sep(vocab_);
        if (llama_vocab_get_add_bos(vocab_)) prep.prompt.push_back(llama_vocab_bos(vocab_));
        append(tokenize(request.rank_query, /*parse_special=*/false));
        if (llama_vocab_get_add_eos(vocab_)) prep.prompt.push_back(eos);
        if (llama_vocab_get_add_sep(vocab_)) prep.prompt.push_back(llama_vocab_sep(vocab_));
        append(tokenize(request.prompt, /*parse_special=*/false));
        if (llama_vocab_get_add_eos(vocab_)) prep.prompt.push_back(eos);
    }
    if (prep.prompt.empty()) throw std::runtime_error("llama backend: the reward request has no tokens");
    const size_t limit = static_cast<size_t>(std::min(options_.n_batch, n_ctx_seq_));
    if (prep.prompt.size() > limit)
        throw std::runtime_error("instruction and response are " + std::to_string(prep.prompt.size()) +
                                 " tokens, over the limit of " + std::to_string(limit) +
                                 " (the smaller of n_batch and n_ctx / n_parallel)");
    return prep;
}

std::vector<llama_token> LlamaBackend::tokenize(const std::string& text, bool parse_special) const {
    if (text.empty()) return {};
    if (text.size() > static_cast<size_t>(INT32_MAX / 2)) throw std::runtime_error("llama backend: prompt too large");
    std::vector<llama_token> tokens(text.size() + 2);
    int n = llama_tokenize(vocab_, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                           static_cast<int32_t>(tokens.size()), /*add_special=*/false, parse_special);
    if (n < 0) {
        if (n == INT32_MIN) throw std::runtime_error("llama backend: prompt too large to tokenise");
        tokens.resize(static_cast<size_t>(-n));
        n = llama_tokenize(vocab_, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                           static_cast<int32_t>(tokens.size()), false, parse_special);
    }
    tokens.resize(static_cast<size_t>(std::max(n, 0)));
    return tokens;
}

std::string LlamaBackend::piece(llama_token token) const {
    char buf[128];
    // special=false: control tokens the model emits (other than end-of-generation) print as
    // nothing, as with llama-server's default.
    int n = llama_token_to_piece(vocab_, token, buf, sizeof(buf), 0, /*special=*/false);
    if (n >= 0) return std::string(buf, static_cast<size_t>(n));
    std::string big(static_cast<size_t>(-n), '\0');
    n = llama_token_to_piece(vocab_, token, big.data(), static_cast<int32_t>(big.size()), 0, false);
    big.resize(static_cast<size_t>(std::max(n, 0)));
    return big;
}

// One continuous-batching step: one token for every generating sequence, then prompt
// chunks for admitted sequences in the remaining batch room, all in one llama_decode.
void LlamaBackend::step() {
    batch_.n_tokens = 0;
    auto add = [&](llama_token t, int pos, int seq, bool logits) {
        const int i = batch_.n_tokens++;
        batch_.token[i] = t;
        batch_.pos[i] = pos;
        batch_.n_seq_id[i] = 1;
        batch_.seq_id[i][0] = seq;
        batch_.logits[i] = logits;
        return i;
    };
    std::vector<std::pair<Slot*, int>> fed;  // slot and how many tokens it put in this batch
    for (size_t k = 0; k < slots_.size(); ++k) {
        Slot& s = slots_[k];
        s.batch_index = -1;
        if (!s.busy || !s.generating) continue;
        s.batch_index = add(s.next, s.n_past, static_cast<int>(k), true);
        fed.emplace_back(&s, 1);
    }
    // Generating sequences go first so a long prompt can slow them down but never stall them.
    for (size_t k = 0; k < slots_.size() && batch_.n_tokens < options_.n_batch; ++k) {
        Slot& s = slots_[k];
        if (!s.busy || s.generating) continue;
        const size_t room = static_cast<size_t>(options_.n_batch - batch_.n_tokens);
        const size_t take = std::min(room, s.prompt.size() - s.n_prompt_done);
        for (size_t j = 0; j < take; ++j) {
            const size_t at = s.n_prompt_done + j;
            const bool last = at + 1 == s.prompt.size();
            // A scoring sequence needs the logits that predict each scored token (at + 1).
            const bool wanted = s.scoring ? !last && at + 1 >= s.score_from : last;
            const int i = add(s.prompt[at], static_cast<int>(at), static_cast<int>(k), wanted);
            if (j == 0) s.chunk_row = i;
            if (last) s.batch_index = i;
        }
        fed.emplace_back(&s, static_cast<int>(take));
    }
    if (batch_.n_tokens == 0) return;

    const int rc = llama_decode(ctx_.get(), batch_);
    if (rc != 0) {
        // The batch is lost for every sequence in it; their caches may be half written.
        const std::string why = rc == 1 ? "no room in the KV cache" : "llama_decode returned " + std::to_string(rc);
        for (auto& [s, n] : fed) fail(*s, "llama backend: decoding failed: " + why);
        return;
    }
    for (auto& [s, n] : fed) {
        if (s->generating) {
            s->n_past += 1;
        } else {
            const size_t first = s->n_prompt_done;
            s->n_prompt_done += static_cast<size_t>(n);
            s->n_past += n;
            if (s->scoring) {
                // batch_index is this chunk's first row; row batch_index + j holds prompt[first + j].
                const size_t end = std::min(s->n_prompt_done + 1, s->prompt.size());
                for (size_t at = std::max(first + 1, s->score_from); at < end; ++at) {
                    const int row = s->chunk_row + static_cast<int>(at - 1 - first);
                    const double lp = log_probability(llama_get_logits_ith(ctx_.get(), row), s->prompt[at]);
                    s->score.min_logprob = s->score.tokens == 0 ? lp : std::min(s->score.min_logprob, lp);
                    s->score.sum_logprob += lp;
                    ++s->score.tokens;
                }
                if (s->n_prompt_done == s->prompt.size()) finish(*s, "scored");
                continue;
            }
            if (s->n_prompt_done < s->prompt.size()) continue;  // more prompt next step
            s->generating = true;
        }
        // A grammar that rejects every token fails its own sequence, not the batch.
        try {
            after_token(*s, sample(*s));
        } catch (const std::exception& e) {
            fail(*s, std::string("llama backend: ") + e.what());
        }
    }
}

// An embedding step: whole texts of waiting sequences, as many as fit in the batch, in one
// decode (encode for encoder-only models); each sequence's pooled vector is its answer.
void LlamaBackend::step_embed() {
    batch_.n_tokens = 0;
    std::vector<Slot*> fed;
    for (size_t k = 0; k < slots_.size(); ++k) {
        Slot& s = slots_[k];
        if (!s.busy) continue;
        if (batch_.n_tokens + static_cast<int>(s.prompt.size()) > options_.n_batch) continue;  // next step
        for (size_t at = 0; at < s.prompt.size(); ++at) {
            const int i = batch_.n_tokens++;
            batch_.token[i] = s.prompt[at];
            batch_.pos[i] = static_cast<llama_pos>(at);
            batch_.n_seq_id[i] = 1;
            batch_.seq_id[i][0] = static_cast<llama_seq_id>(k);
            batch_.logits[i] = true;  // pooling reads every token's output
        }
        fed.push_back(&s);
    }
    if (fed.empty()) return;
    const int rc = encoder_only_ ? llama_encode(ctx_.get(), batch_) : llama_decode(ctx_.get(), batch_);
    if (rc != 0) {
        for (Slot* s : fed) fail(*s, "llama backend: embedding failed: llama_decode returned " + std::to_string(rc));
        return;
    }
    for (Slot* s : fed) {
        const float* e = llama_get_embeddings_seq(ctx_.get(), static_cast<llama_seq_id>(s - slots_.data()));
        if (!e) {
            fail(*s, "llama backend: the model gave no pooled embedding");
            continue;
        }
        s->embedding.assign(e, e + n_embd_out_);
        finish(*s, "embedded");
    }
}

// Picks the next token from this slot's logits. With a grammar, the unconstrained choice is
// tried first and checked against the grammar alone: checking one token is cheap, while
// masking the whole vocabulary (150k tokens for Qwen) costs milliseconds. Only when the
// grammar rejects it is the full vocabulary masked and the choice made again.
llama_token LlamaBackend::sample(Slot& s) {
    const float* logits = llama_get_logits_ith(ctx_.get(), s.batch_index);
    if (s.plain_greedy) return argmax(logits, n_vocab_);
    auto fill = [&] {
        for (int t = 0; t < n_vocab_; ++t) candidates_[static_cast<size_t>(t)] = {t, logits[t], 0.0f};
        return llama_token_data_array{candidates_.data(), candidates_.size(), -1, false};
    };
    auto fill_head = [&] {
        const float floor = max_logit(logits, n_vocab_) - s.tail_margin;
        // Most blocks of 8 hold no survivor and are skipped with one vector compare; inside a
        // block every token is written at k, and k only moves past the ones that stay.
        using f4 = float __attribute__((vector_size(16)));
        using i4 = int32_t __attribute__((vector_size(16)));
        const f4 fl = {floor, floor, floor, floor};
        size_t k = 0;
        int t = 0;
        for (; t + 8 <= n_vocab_; t += 8) {
            f4 x, y;
            std::memcpy(&x, logits + t, sizeof(x));
            std::memcpy(&y, logits + t + 4, sizeof(y));
            const i4 keep = (x >= fl) | (y >= fl);
            if ((keep[0] | keep[1] | keep[2] | keep[3]) == 0) continue;
            for (int j = t; j < t + 8; ++j) {
                candidates_[k] = {j, logits[j], 0.0f};
                k += logits[j] >= floor;
            }
        }
        for (; t < n_vocab_; ++t) {
            candidates_[k] = {t, logits[t], 0.0f};
            k += logits[t] >= floor;
        }
        return llama_token_data_array{candidates_.data(), k, -1, false};
    };
    // The grammar's fallback below always sees the whole vocabulary: the only tokens it allows
    // may well sit in the tail.
    llama_token_data_array cur = s.tail_margin > 0 ? fill_head() : fill();
    llama_sampler_apply(s.chain.get(), &cur);
    if (cur.selected < 0 || static_cast<size_t>(cur.selected) >= cur.size)
        throw std::runtime_error("sampling selected no token (are the logits finite?)");
    llama_token token = cur.data[cur.selected].id;
    if (s.grammar) {
        llama_token_data one{token, 1.0f, 0.0f};
        llama_token_data_array single{&one, 1, -1, false};
        llama_sampler_apply(s.grammar.get(), &single);
        if (std::isinf(one.logit) && one.logit < 0) {
            cur = fill();
            llama_sampler_apply(s.grammar.get(), &cur);
            const bool any = std::any_of(cur.data, cur.data + cur.size, [](const llama_token_data& d) {
                return !(std::isinf(d.logit) && d.logit < 0);
            });
            if (!any) throw std::runtime_error("the grammar allows no next token after: " + sanitize_utf8(s.text));
            llama_sampler_apply(s.chain.get(), &cur);
            if (cur.selected < 0 || static_cast<size_t>(cur.selected) >= cur.size)
                throw std::runtime_error("sampling under the grammar selected no token");
            token = cur.data[cur.selected].id;
        }
        llama_sampler_accept(s.grammar.get(), token);
    }
    llama_sampler_accept(s.chain.get(), token);
    return token;
}

void LlamaBackend::after_token(Slot& s, llama_token token) {
    if (llama_vocab_is_eog(vocab_, token)) return finish(s, "stop");
    ++s.n_generated;
    const size_t old = s.text.size();
    s.text += piece(token);
    // The new piece can complete a stop string that began in earlier pieces, so each search
    // starts just far enough back; the earliest match wins and everything from it is cut.
    size_t cut = std::string::npos;
    for (const auto& stop : s.sampling.stop) {
        if (stop.empty()) continue;
        const size_t from = old >= stop.size() - 1 ? old - (stop.size() - 1) : 0;
        const size_t at = s.text.find(stop, from);
        if (at != std::string::npos) cut = std::min(cut, at);
    }
    if (cut != std::string::npos) {
        s.text.resize(cut);
        return finish(s, "stop");
    }
    if (s.sampling.max_tokens > 0 && s.n_generated >= s.sampling.max_tokens) return finish(s, "length");
    // The sampled token still has to be fed back; no position left means the context is full.
    if (s.n_past >= n_ctx_seq_) return finish(s, "length");
    s.next = token;
}

void LlamaBackend::finish(Slot& s, const std::string& reason) {
    Response r;
    r.text = sanitize_utf8(s.text);
    r.finish_reason = reason;
    r.usage.prompt_tokens = static_cast<int64_t>(s.prompt.size());
    r.usage.completion_tokens = s.n_generated;
    r.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - s.submitted).count();
    r.endpoint = endpoint_;
    if (s.scoring) r.score = s.score;
    r.embedding = std::move(s.embedding);
    const uint64_t id = s.id;
    const int seq = static_cast<int>(&s - slots_.data());
    if (llama_memory_t mem = llama_get_memory(ctx_.get())) llama_memory_seq_rm(mem, seq, -1, -1);  // none: encoder-only
    s = Slot{};
    deliver(id, Outcome{std::move(r), "", 0});
}

void LlamaBackend::fail(Slot& s, const std::string& error) {
    const uint64_t id = s.id;
    const int seq = static_cast<int>(&s - slots_.data());
    if (llama_memory_t mem = llama_get_memory(ctx_.get())) llama_memory_seq_rm(mem, seq, -1, -1);  // none: encoder-only
    s = Slot{};
    deliver(id, Outcome{std::nullopt, error, 0});
}

}  // namespace

std::unique_ptr<Backend> make_llama_backend(const LlamaBackendOptions& options) {
    return std::make_unique<LlamaBackend>(options);
}

}  // namespace synthforge::llm
