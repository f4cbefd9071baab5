// The in-process llama.cpp backend against a tiny random-weight model with Qwen2's real
// tokenizer and chat template: the text is noise, the mechanics are real.
#include "llm/llama_backend.h"
#include "llm/tiny_model.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>
#include <llama.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

using namespace synthforge;
using namespace synthforge::llm;
namespace fs = std::filesystem;

namespace {

class LlamaBackendTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = fs::temp_directory_path() / ("synthforge_llama_test_" + std::to_string(getpid()));
        fs::create_directories(dir_);
        model_ = dir_ / "tiny.gguf";
        write_tiny_model(model_, TinyModelOptions{});
    }
    static void TearDownTestSuite() {
        delete shared_backend_;
        shared_backend_ = nullptr;
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    static LlamaBackendOptions options(int n_parallel, int n_ctx = 4096) {
        LlamaBackendOptions o;
        o.model = model_;
        o.n_parallel = n_parallel;
        o.n_ctx = n_ctx;
        // One thread: the tiny model gains little from more, and when ctest runs several test
        // processes on a small machine, spinning OpenMP workers slow every one of them down.
        o.n_threads = 1;
        return o;
    }

    static Request chat(const std::string& content, int max_tokens = 8) {
        Request r;
        r.messages = {{"system", "You are terse."}, {"user", content}};
        r.sampling.max_tokens = max_tokens;
        return r;
    }

    static Request greedy(const std::string& content, int max_tokens = 8) {
        Request r = chat(content, max_tokens);
        r.sampling.mode = SamplingMode::deterministic;
        return r;
    }

    struct Run {
        std::map<uint64_t, Outcome> outcomes;
        std::vector<uint64_t> finish_order;
    };

    // Submits every request (ids 0..n-1) within max_in_flight, as the client does, and
    // collects all outcomes.
    static Run run_all(Backend& backend, std::vector<Request> requests) {
        Run run;
        size_t next = 0, in_flight = 0;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
        while (run.outcomes.size() < requests.size()) {
            while (next < requests.size() && in_flight < backend.max_in_flight()) {
                backend.submit(next, requests[next]);
                ++next;
                ++in_flight;
            }
            for (auto& [id, outcome] : backend.wait(std::chrono::milliseconds(200))) {
                EXPECT_EQ(run.outcomes.count(id), 0u) << "two outcomes for id " << id;
                run.outcomes[id] = std::move(outcome);
                run.finish_order.push_back(id);
                --in_flight;
            }
            if (std::chrono::steady_clock::now() > deadline) {
                ADD_FAILURE() << "timed out with " << run.outcomes.size() << " of " << requests.size() << " done";
                break;
            }
        }
        return run;
    }

    static Outcome run_one(Backend& backend, Request request) {
        auto run = run_all(backend, {std::move(request)});
        return run.outcomes.count(0) ? run.outcomes[0] : Outcome{};
    }

    static Response ok(const Outcome& o) {
        EXPECT_TRUE(o.ok()) << o.error;
        return o.ok() ? *o.response : Response{};
    }

    // Most tests share one backend (n_parallel 4), created on first use: loading the model and
    // context is the slow part, and ctest runs every test in its own process.
    static Backend& shared() {
        if (!shared_backend_) shared_backend_ = make_llama_backend(options(4)).release();
        return *shared_backend_;
    }

    static inline fs::path dir_;
    static inline fs::path model_;
    static inline Backend* shared_backend_ = nullptr;
};

TEST_F(LlamaBackendTest, LlamaBackendOutcomesBelongToTheirIdsWhateverTheFinishOrder) {
    // Different lengths make later requests finish first; each outcome must still carry the
    // length its own request asked for.
    std::vector<Request> requests;
    for (int i = 0; i < 20; ++i) {
        Request r = chat("question " + std::to_string(i), 1 + (i * 7) % 11);
        r.sampling.seed = static_cast<uint64_t>(i);
        requests.push_back(r);
    }
    auto run = run_all(shared(), requests);
    ASSERT_EQ(run.outcomes.size(), 20u);
    for (int i = 0; i < 20; ++i) {
        Response r = ok(run.outcomes[static_cast<uint64_t>(i)]);
        // A random model may sample an end-of-generation token early, but practically never.
        if (r.finish_reason == "length") EXPECT_EQ(r.usage.completion_tokens, 1 + (i * 7) % 11) << "id " << i;
        EXPECT_GT(r.usage.prompt_tokens, 0);
        EXPECT_EQ(r.endpoint, "tiny.gguf");
    }
    std::vector<uint64_t> sorted = run.finish_order;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_NE(sorted, run.finish_order) << "expected short requests to overtake long ones";
}

TEST_F(LlamaBackendTest, LlamaBackendMaxTokensEndsWithLength) {
    Response r = ok(run_one(shared(), chat("count to ten", 5)));
    EXPECT_EQ(r.finish_reason, "length");
    EXPECT_EQ(r.usage.completion_tokens, 5);
    EXPECT_GT(r.usage.prompt_tokens, 0);
    EXPECT_GT(r.latency_ms, 0);
}

TEST_F(LlamaBackendTest, LlamaBackendStopStringIsCutOff) {
    Response full = ok(run_one(shared(), greedy("tell me a story", 16)));
    ASSERT_EQ(full.finish_reason, "length");
    // A stop string taken from the middle of the output: two whole characters whose first
    // occurrence is not at the start, so the cut keeps some text.
    const std::string& t = full.text;
    auto is_start = [&](size_t i) { return i >= t.size() || (static_cast<unsigned char>(t[i]) & 0xC0) != 0x80; };
    auto next_start = [&](size_t i) {
        do ++i;
        while (i < t.size() && !is_start(i));
        return i;
    };
    std::string stop;
    for (size_t b = next_start(t.size() / 3); b < t.size() && stop.empty(); b = next_start(b)) {
        std::string s = t.substr(b, next_start(next_start(b)) - b);
        if (t.find(s) == b && s.find("\xEF\xBF\xBD") == std::string::npos) stop = s;
    }
    ASSERT_FALSE(stop.empty()) << "no usable stop string in: " << t;

    Request again = greedy("tell me a story", 16);
    again.sampling.stop = {"a stop string that never appears", stop};
    Response cut = ok(run_one(shared(), again));
    EXPECT_EQ(cut.finish_reason, "stop");
    EXPECT_EQ(cut.text, t.substr(0, t.find(stop)));
    EXPECT_FALSE(cut.text.empty());
    EXPECT_EQ(cut.text.find(stop), std::string::npos);
    EXPECT_LT(cut.usage.completion_tokens, full.usage.completion_tokens);
}

TEST_F(LlamaBackendTest, LlamaBackendDeterministicModeRepeats) {
    Response a = ok(run_one(shared(), greedy("what is 2+2?", 10)));
    Response b = ok(run_one(shared(), greedy("what is 2+2?", 10)));
    EXPECT_EQ(a.text, b.text);
    EXPECT_FALSE(a.text.empty());
}

TEST_F(LlamaBackendTest, LlamaBackendSeedsDecideStochasticOutput) {
    auto with_seed = [&](uint64_t seed) {
        Request r = chat("write a haiku", 10);
        r.sampling.temperature = 1.0;
        r.sampling.seed = seed;
        return ok(run_one(shared(), r)).text;
    };
    const std::string a = with_seed(7);
    EXPECT_EQ(a, with_seed(7));
    EXPECT_NE(a, with_seed(8));
}

TEST_F(LlamaBackendTest, LlamaBackendJsonSchemaConstrainsTheOutput) {
    Request r = greedy("give me JSON", 48);
    r.json_schema = Json::parse(R"({"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]})");
    Response resp = ok(run_one(shared(), r));
    EXPECT_EQ(resp.finish_reason, "stop") << resp.text;
    Json j = Json::parse(resp.text, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(j.is_object()) << resp.text;
    ASSERT_TRUE(j.contains("a")) << resp.text;
    EXPECT_TRUE(j["a"].is_number_integer()) << resp.text;
}

TEST_F(LlamaBackendTest, LlamaBackendGbnfGrammarConstrainsTheOutput) {
    Request r = chat("yes or no?", 16);
    r.grammar = R"(root ::= ("yes" | "no") "." )";
    Response resp = ok(run_one(shared(), r));
    EXPECT_TRUE(resp.text == "yes." || resp.text == "no.") << resp.text;
    EXPECT_EQ(resp.finish_reason, "stop");
}

TEST_F(LlamaBackendTest, LlamaBackendBadGrammarIsAnErrorOutcome) {
    Request r = chat("x", 4);
    r.grammar = "root ::= (";
    Outcome o = run_one(shared(), r);
    EXPECT_FALSE(o.ok());
    EXPECT_NE(o.error.find("the grammar does not parse"), std::string::npos) << o.error;
    EXPECT_TRUE(run_one(shared(), chat("still alive?", 2)).ok());
}

TEST_F(LlamaBackendTest, LlamaBackendOverlongPromptIsAnErrorOutcome) {
    auto opts = options(4, 1024);  // 256 tokens per sequence
    opts.n_threads = 0;            // and the default thread count, once
    auto backend = make_llama_backend(opts);
    std::string words;
    for (int i = 0; i < 600; ++i) words += "word" + std::to_string(i) + " ";
    Request r;
    r.prompt = words;
    r.sampling.max_tokens = 4;
    Outcome o = run_one(*backend, r);
    ASSERT_FALSE(o.ok());
    EXPECT_NE(o.error.find("over the per-sequence context of 256 (n_ctx / n_parallel)"), std::string::npos) << o.error;
    EXPECT_EQ(o.error.rfind("prompt is ", 0), 0u) << o.error;
    // The backend carries on.
    EXPECT_TRUE(run_one(*backend, chat("short", 2)).ok());
}

TEST_F(LlamaBackendTest, LlamaBackendGenerationStopsAtTheEndOfTheContext) {
    auto backend = make_llama_backend(options(4, 1024));  // 256 tokens per sequence
    std::string words;
    for (int i = 0; i < 40; ++i) words += "w" + std::to_string(i) + " ";
    Request r;
    r.prompt = words;
    r.sampling.mode = SamplingMode::deterministic;
    r.sampling.max_tokens = 1000;
    Response resp = ok(run_one(*backend, r));
    EXPECT_EQ(resp.finish_reason, "length");
    // 256 cells hold the prompt and all but the last token, which is sampled, never fed back.
    EXPECT_EQ(resp.usage.prompt_tokens + resp.usage.completion_tokens, 257);
}

TEST_F(LlamaBackendTest, LlamaBackendSpecialTokenTextInMessagesStaysText) {
    // If "<|im_end|>" in a record were parsed as the control token it would be 1 token and
    // would close the user's turn; as text it is several ordinary tokens.
    Response plain = ok(run_one(shared(), chat("", 1)));
    Response injected = ok(run_one(shared(), chat("<|im_end|>", 1)));
    EXPECT_GE(injected.usage.prompt_tokens - plain.usage.prompt_tokens, 3);

    // A raw prompt is the caller's exact text: there, special tokens are meant.
    Request raw;
    raw.prompt = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n";
    raw.sampling.max_tokens = 1;
    EXPECT_LE(ok(run_one(shared(), raw)).usage.prompt_tokens, 10);
}

TEST_F(LlamaBackendTest, LlamaBackendUnsupportedLogprobsIsAnErrorOutcome) {
    Request r = chat("x", 2);
    r.n_probs = 3;
    Outcome o = run_one(shared(), r);
    EXPECT_FALSE(o.ok());
    EXPECT_NE(o.error.find("n_probs"), std::string::npos);
}

TEST_F(LlamaBackendTest, LlamaBackendIdentityNamesModelAndTemplate) {
    EXPECT_EQ(shared().identity().rfind("llama:tiny.gguf:", 0), 0u) << shared().identity();
    EXPECT_EQ(shared().max_in_flight(), 4u);
    auto o = options(1);
    o.chat_template = "chatml";
    auto chatml = make_llama_backend(o);
    EXPECT_NE(chatml->identity(), shared().identity());
    EXPECT_NE(chatml->identity().find(":template="), std::string::npos);
    // The override really renders: Qwen2's own template adds a default system turn, ChatML does not.
    Request r;
    r.messages = {{"user", "hi"}};
    r.sampling.max_tokens = 1;
    EXPECT_LT(ok(run_one(*chatml, r)).usage.prompt_tokens, ok(run_one(shared(), r)).usage.prompt_tokens);
}

TEST_F(LlamaBackendTest, LlamaBackendBadOptionsAreUserErrors) {
    auto o = options(8);
    o.n_batch = 4;  // cannot hold one token per sequence
    EXPECT_THROW(make_llama_backend(o), UserError);
    o = options(0);
    EXPECT_THROW(make_llama_backend(o), UserError);
}

TEST_F(LlamaBackendTest, LlamaBackendBadModelPathIsAUserError) {
    LlamaBackendOptions o;
    o.model = dir_ / "missing.gguf";
    try {
        make_llama_backend(o);
        FAIL() << "expected UserError";
    } catch (const UserError& e) {
        EXPECT_NE(std::string(e.what()).find("missing.gguf"), std::string::npos) << e.what();
    }
    o.model = dir_ / "not-a-model.gguf";
    { std::ofstream(o.model) << "hello"; }
    try {
        make_llama_backend(o);
        FAIL() << "expected UserError";
    } catch (const UserError& e) {
        EXPECT_NE(std::string(e.what()).find("not-a-model.gguf: "), std::string::npos) << e.what();
    }
}

TEST_F(LlamaBackendTest, LlamaBackendTinyModelIsReproducible) {
    TinyModelOptions t;
    t.seed = 42;
    write_tiny_model(dir_ / "again.gguf", t);
    EXPECT_EQ(fs::file_size(dir_ / "again.gguf"), fs::file_size(model_));
    EXPECT_THROW(resolve_vocab("no-such-vocab"), UserError);
    TinyModelOptions bad;
    bad.n_head = 3;
    EXPECT_THROW(write_tiny_model(dir_ / "bad.gguf", bad), UserError);
}

}  // namespace

// Magpie: a pre-query request is exactly the chat template's text up to where the user's
// words would start, with the system turn before it when one is given.
TEST_F(LlamaBackendTest, LlamaBackendPreQueryStopsAtTheUserTurnOpening) {
    auto o = options(2);
    // Role names come from the messages (tokenised apart from the template's text), so the
    // template spells its markers itself and keeps newlines around the content.
    o.chat_template =
        "{% for m in messages %}{% if m.role == 'system' %}<S>\n{{ m.content }}\n</S>\n"
        "{% else %}<U>\n{{ m.content }}\n</U>\n{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}<A>\n{% endif %}";
    auto backend = make_llama_backend(o);
    auto prompt_tokens = [&](Request r) {
        r.sampling.max_tokens = 2;
        r.sampling.mode = SamplingMode::deterministic;
        return ok(run_one(*backend, std::move(r))).usage.prompt_tokens;
    };
    Request plain;
    plain.pre_query = true;
    Request raw;
    raw.prompt = "<U>\n";
    EXPECT_EQ(prompt_tokens(plain), prompt_tokens(raw));

    Request with_system;
    with_system.pre_query = true;
    with_system.messages = {{"system", "Ask about gardening"}};
    Request raw_system;
    raw_system.prompt = "<S>\nAsk about gardening\n</S>\n<U>\n";
    EXPECT_EQ(prompt_tokens(with_system), prompt_tokens(raw_system));
    EXPECT_GT(prompt_tokens(with_system), prompt_tokens(plain));

    // A template that never writes the user's message has no opening to stop at.
    auto o2 = options(1);
    o2.chat_template = "{% if add_generation_prompt %}[assistant]{% endif %}hello";
    auto odd = make_llama_backend(o2);
    Request q;
    q.pre_query = true;
    auto out = run_one(*odd, q);
    EXPECT_FALSE(out.ok());
    EXPECT_NE(out.error.find("user-turn opening"), std::string::npos) << out.error;
}

// ---- scoring (perplexity) ------------------------------------------------------------------

// The reference: one sequence, one decode with logits for every position, straight through
// llama.h. The backend batches scoring with other work and cuts prompts into chunks; its sums
// must agree up to the last bits that batch composition moves.
namespace {

struct ReferenceScore {
    int64_t tokens = 0;
    double sum = 0, min = 0;
};

ReferenceScore reference_score(const fs::path& model_path, const std::string& context, const std::string& text) {
    llama_model_params mp = llama_model_default_params();
    llama_model* model = llama_model_load_from_file(model_path.c_str(), mp);
    EXPECT_NE(model, nullptr);
    const llama_vocab* vocab = llama_model_get_vocab(model);
    auto tok = [&](const std::string& s) {
        std::vector<llama_token> t(s.size() + 2);
        int n = llama_tokenize(vocab, s.data(), static_cast<int32_t>(s.size()), t.data(),
                               static_cast<int32_t>(t.size()), false, false);
        t.resize(static_cast<size_t>(std::max(n, 0)));
        return t;
    };
    std::vector<llama_token> all;
    if (llama_vocab_get_add_bos(vocab)) all.push_back(llama_vocab_bos(vocab));
    auto c = tok(context);
    all.insert(all.end(), c.begin(), c.end());
    const size_t from = std::max<size_t>(all.size(), 1);
    auto t = tok(text);
    all.insert(all.end(), t.begin(), t.end());

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 1024;
    cp.n_batch = 1024;
    cp.n_ubatch = 1024;
    cp.n_threads = 1;
    cp.n_threads_batch = 1;
    llama_context* ctx = llama_init_from_model(model, cp);
    llama_batch batch = llama_batch_init(static_cast<int32_t>(all.size()), 0, 1);
    for (size_t i = 0; i < all.size(); ++i) {
        batch.token[i] = all[i];
        batch.pos[i] = static_cast<llama_pos>(i);
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = true;
    }
    batch.n_tokens = static_cast<int32_t>(all.size());
    EXPECT_EQ(llama_decode(ctx, batch), 0);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    ReferenceScore r;
    for (size_t at = from; at < all.size(); ++at) {
        const float* logits = llama_get_logits_ith(ctx, static_cast<int32_t>(at - 1));
        double top = -INFINITY, sum = 0;
        for (int v = 0; v < n_vocab; ++v) top = std::max(top, static_cast<double>(logits[v]));
        for (int v = 0; v < n_vocab; ++v) sum += std::exp(logits[v] - top);
        const double lp = logits[all[at]] - top - std::log(sum);
        r.min = r.tokens == 0 ? lp : std::min(r.min, lp);
        r.sum += lp;
        ++r.tokens;
    }
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    return r;
}

Request score_request(const std::string& text, const std::string& context = "") {
    Request r;
    r.score = true;
    r.prompt = text;
    r.score_context = context;
    return r;
}

}  // namespace

TEST_F(LlamaBackendTest, LlamaBackendScoresMatchASingleSequenceReference) {
    // Small batches cut the longer texts into several chunks, and generation shares the steps.
    LlamaBackendOptions o = options(3);
    o.n_batch = 16;
    auto backend = make_llama_backend(o);
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", "The quick brown fox jumps over the lazy dog."},
        {"Question: what is two plus two?\nAnswer:", " Four, because two and two make four."},
        {"",
         "A longer passage, so that its tokens need more than one batch of sixteen: "
         "the river bends twice before it reaches the sea, and the town grew up on the second bend."},
        {"Context that is itself long enough to be cut into chunks of sixteen tokens, twice over at least.", " short"},
    };
    std::vector<Request> requests;
    for (const auto& [context, text] : cases) {
        requests.push_back(score_request(text, context));
        requests.push_back(greedy("interleaved generation", 12));
    }
    auto run = run_all(*backend, requests);
    for (size_t i = 0; i < cases.size(); ++i) {
        SCOPED_TRACE(cases[i].second);
        const Response r = ok(run.outcomes[2 * i]);
        ASSERT_TRUE(r.score.has_value());
        const ReferenceScore want = reference_score(model_, cases[i].first, cases[i].second);
        EXPECT_EQ(r.score->tokens, want.tokens);
        EXPECT_GE(want.tokens, 1);
        EXPECT_NEAR(r.score->sum_logprob, want.sum, 1e-3 * std::abs(want.sum));
        EXPECT_NEAR(r.score->min_logprob, want.min, 1e-3 * std::abs(want.min));
        EXPECT_NEAR(r.score->perplexity(), std::exp(-want.sum / static_cast<double>(want.tokens)),
                    1e-3 * r.score->perplexity());
        EXPECT_EQ(r.finish_reason, "scored");
        EXPECT_TRUE(r.text.empty());
        EXPECT_EQ(r.usage.completion_tokens, 0);
        EXPECT_GT(ok(run.outcomes[2 * i + 1]).usage.completion_tokens, 0);
    }
}

TEST_F(LlamaBackendTest, LlamaBackendScoringCountsOnlyTheTextsTokens) {
    const Response bare = ok(run_one(shared(), score_request("hello world, again and again")));
    const Response with = ok(run_one(shared(), score_request("hello world, again and again", "Some context first.")));
    ASSERT_TRUE(bare.score && with.score);
    // Without BOS or context the first token has no prediction: one token fewer.
    EXPECT_EQ(with.score->tokens, bare.score->tokens + 1);
    EXPECT_GT(with.usage.prompt_tokens, bare.usage.prompt_tokens);
    EXPECT_NE(with.score->sum_logprob, bare.score->sum_logprob);
}

TEST_F(LlamaBackendTest, LlamaBackendScoringErrorsNameTheProblem) {
    Outcome empty = run_one(shared(), score_request(""));
    EXPECT_FALSE(empty.ok());
    EXPECT_NE(empty.error.find("empty"), std::string::npos) << empty.error;

    std::string long_text;
    for (int i = 0; i < 1200; ++i) long_text += "word" + std::to_string(i) + " ";
    auto small = make_llama_backend(options(1, 512));
    Outcome over = run_one(*small, score_request(long_text));
    EXPECT_FALSE(over.ok());
    EXPECT_NE(over.error.find("per-sequence context"), std::string::npos) << over.error;
}

TEST(ResponseJson, ScoreSurvivesTheCacheRoundTrip) {
    Response r;
    r.text = "";
    r.finish_reason = "scored";
    r.score = TokenScore{7, -21.5, -6.25};
    const Response back = Response::from_json(r.to_json());
    ASSERT_TRUE(back.score.has_value());
    EXPECT_EQ(back.score->tokens, 7);
    EXPECT_DOUBLE_EQ(back.score->sum_logprob, -21.5);
    EXPECT_DOUBLE_EQ(back.score->min_logprob, -6.25);
    EXPECT_NEAR(back.score->perplexity(), std::exp(21.5 / 7), 1e-12);
    EXPECT_FALSE(Response::from_json(Response{}.to_json()).score.has_value());

    Request a = score_request("text"), b = score_request("text", "ctx"), g;
    g.prompt = "text";
    EXPECT_NE(a.to_json(), b.to_json());
    EXPECT_NE(a.to_json(), g.to_json());
    EXPECT_FALSE(g.to_json().contains("score"));
}

// ---- embeddings ------------------------------------------------------------------------------

namespace {

// The reference: one text alone, mean pooling, straight through llama.h.
std::vector<float> reference_embedding(const fs::path& model_path, const std::string& text) {
    llama_model* model = llama_model_load_from_file(model_path.c_str(), llama_model_default_params());
    const llama_vocab* vocab = llama_model_get_vocab(model);
    std::vector<llama_token> t(text.size() + 2);
    int n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), t.data(),
                           static_cast<int32_t>(t.size()), false, false);
    t.resize(static_cast<size_t>(std::max(n, 0)));
    if (llama_vocab_get_add_bos(vocab)) t.insert(t.begin(), llama_vocab_bos(vocab));
    if (llama_vocab_get_add_eos(vocab)) t.push_back(llama_vocab_eos(vocab));
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 512;
    cp.n_batch = cp.n_ubatch = 512;
    cp.n_threads = cp.n_threads_batch = 1;
    cp.embeddings = true;
    cp.pooling_type = LLAMA_POOLING_TYPE_MEAN;
    llama_context* ctx = llama_init_from_model(model, cp);
    llama_batch batch = llama_batch_get_one(t.data(), static_cast<int32_t>(t.size()));
    EXPECT_EQ(llama_decode(ctx, batch), 0);
    const float* e = llama_get_embeddings_seq(ctx, 0);
    std::vector<float> out(e, e + llama_model_n_embd_out(model));
    llama_free(ctx);
    llama_model_free(model);
    return out;
}

Request embed_request(const std::string& text) {
    Request r;
    r.embed = true;
    r.prompt = text;
    return r;
}

}  // namespace

TEST_F(LlamaBackendTest, LlamaBackendEmbeddingsMatchASingleTextReference) {
    LlamaBackendOptions o = options(3);
    o.embeddings = true;
    o.n_batch = 64;  // several steps: not every text fits in the first batch (63 with 3 sequences)
    auto backend = make_llama_backend(o);
    const std::vector<std::string> texts = {
        "The quick brown fox jumps over the lazy dog.",
        "A second, rather different sentence about rivers and the sea.",
        "The quick brown fox jumps over the lazy dog.",
        "short",
        "Embeddings pool the last layer's vectors of every token into one vector per text, here by their mean.",
    };
    std::vector<Request> requests;
    for (const auto& t : texts) requests.push_back(embed_request(t));
    auto run = run_all(*backend, requests);
    for (size_t i = 0; i < texts.size(); ++i) {
        SCOPED_TRACE(texts[i]);
        const Response r = ok(run.outcomes[i]);
        EXPECT_EQ(r.finish_reason, "embedded");
        const std::vector<float> want = reference_embedding(model_, texts[i]);
        ASSERT_EQ(r.embedding.size(), want.size());
        ASSERT_EQ(want.size(), 64u);  // the tiny model's n_embd
        for (size_t d = 0; d < want.size(); ++d) EXPECT_NEAR(r.embedding[d], want[d], 1e-4 + 1e-3 * std::abs(want[d]));
    }
    // Same text, same vector, whatever it was batched with.
    EXPECT_EQ(ok(run.outcomes[0]).embedding, ok(run.outcomes[2]).embedding);
    EXPECT_NE(ok(run.outcomes[0]).embedding, ok(run.outcomes[1]).embedding);
}

TEST_F(LlamaBackendTest, LlamaBackendEmbeddingAndGenerationModelsRefuseEachOthersRequests) {
    Outcome o = run_one(shared(), embed_request("x"));
    EXPECT_FALSE(o.ok());
    EXPECT_NE(o.error.find("llm.embeddings: true"), std::string::npos) << o.error;

    LlamaBackendOptions eo = options(1, 512);
    eo.embeddings = true;
    eo.n_batch = 32;
    auto embedder = make_llama_backend(eo);
    Outcome g = run_one(*embedder, chat("hello"));
    EXPECT_FALSE(g.ok());
    EXPECT_NE(g.error.find("only answers embedding requests"), std::string::npos) << g.error;
    Outcome empty = run_one(*embedder, embed_request(""));
    EXPECT_NE(empty.error.find("empty"), std::string::npos) << empty.error;
    std::string long_text;
    for (int i = 0; i < 100; ++i) long_text += "word" + std::to_string(i) + " ";
    Outcome over = run_one(*embedder, embed_request(long_text));
    EXPECT_FALSE(over.ok());
    EXPECT_NE(over.error.find("over the limit of 32"), std::string::npos) << over.error;
    EXPECT_NE(embedder->identity(), shared().identity());

    eo.pooling = "sum";
    EXPECT_THROW(make_llama_backend(eo), UserError);
}
