// `private_evolution`: differentially private synthetic text by Private Evolution (Aug-PE,
// Xie et al. 2024). The private rows never reach the generating model: they are embedded
// in-process, and their only influence on the output is through noisy vote histograms.
//
// One run: an initial population from the model (a task description, no private text);
// then, for each of T iterations, every private sample votes for its k nearest synthetic
// samples (privacy/private_evolution.h), Gaussian noise is added, counts at or below the
// threshold are cleared, the top samples are kept and the model writes variations of them
// (rewrites, or fills in blanks) until the population is full again. The last population
// is the output.
//
// Resume: each iteration's noisy histogram and the budget spent so far are committed to the
// run store (a state delta) before any variation is asked for. A resumed run reuses the
// saved histograms and never draws their noise again, so a crash can neither spend budget
// twice nor release a histogram that was not counted. Everything else is recomputed from
// the response cache.

#include "synthforge/privacy/private_evolution.h"
#include "llm_call.h"
#include "synthforge/engine/registry.h"
#include "synthforge/engine/template.h"
#include "synthforge/errors.h"
#include "synthforge/llm/client_pool.h"
#include "synthforge/privacy/dp_accountant.h"
#include "text/splitmix64.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["task", "embedding"],
  "properties": {
    "llm": {"type": "object"},
    "sampling": {"type": "object"},
    "embedding": {"type": "object",
                  "description": "The in-process embedding model private and synthetic texts are compared with: an llm config with backend: llama, embeddings: true, model: an embedding GGUF"},
    "text": {"type": "string", "default": "text", "description": "The private text: a column name or a Jinja template over the private record"},
    "output": {"type": "string", "default": "text", "description": "Column receiving the synthetic text in the output rows"},
    "task": {"type": "string",
             "description": "What the texts are, for the model's first population (e.g. 'a customer review of a restaurant'); never taken from the private data"},
    "samples": {"type": "integer", "minimum": 2, "default": 100, "description": "Synthetic population size: every iteration votes over this many, and the output has this many rows"},
    "iterations": {"type": "integer", "minimum": 1, "default": 5, "description": "T: the number of noisy histograms (Gaussian mechanisms) the budget pays for"},
    "epsilon": {"type": ["number", "null"], "exclusiveMinimum": 0, "default": null,
                "description": "The privacy budget for the whole run; sigma follows from it with delta and iterations. Give epsilon or sigma"},
    "delta": {"type": ["number", "null"], "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": null,
              "description": "null: 1/(N ln N) for N private records after deduplication"},
    "sigma": {"type": ["number", "null"], "exclusiveMinimum": 0, "default": null,
              "description": "Noise standard deviation per histogram bin, instead of epsilon (epsilon is then reported)"},
    "k": {"type": "integer", "minimum": 1, "default": 1, "description": "Each private sample votes for its k nearest synthetic samples, 1/sqrt(k) each"},
    "threshold": {"type": ["number", "null"], "default": null,
                  "description": "Noisy counts at or below this are cleared; null: sigma (one noise standard deviation)"},
    "variations": {"type": "integer", "minimum": 1, "default": 1,
                   "description": "Variations written per kept sample: 1 keeps the top half of the population and varies each once"},
    "variation": {"enum": ["rewrite", "fill_blanks"], "default": "rewrite",
                  "description": "rewrite: paraphrase the kept sample; fill_blanks: mask a share of its words and have the model fill them in"},
    "mask_rate": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.5,
                  "description": "fill_blanks: share of words masked"},
    "target_words": {"type": ["integer", "null"], "minimum": 1, "default": null,
                     "description": "Length asked of every generated text in words; null: the first population is asked for none, variations for the kept sample's length"},
    "random_prompt": {"type": "string", "description": "Jinja template of the first population's prompt; variables task, index, target_words"},
    "variation_prompt": {"type": "string", "description": "Jinja template of the variation prompt; variables task, text (the kept sample, masked for fill_blanks), target_words"},
    "max_retries": {"type": "integer", "minimum": 0, "default": 2, "description": "Times an empty answer is asked again with a new seed"},
    "noise_seed": {"type": ["integer", "null"], "minimum": 0, "default": null,
                   "description": "TESTS ONLY: seeds the Gaussian noise so runs repeat. Anyone knowing the seed can remove the noise, so the guarantee then holds only while the seed stays secret. null: noise from the operating system's random generator"}
  }
})json";

constexpr const char* kRandomPrompt =
    "Write one new example of the following kind of text: {{ task }}.\n"
    "{% if target_words %}Make it about {{ target_words }} words long. {% endif %}"
    "Invent every detail yourself. Answer with the text only, without a title or comments.";

constexpr const char* kRewritePrompt =
    "Here is an example of {{ task }}:\n\n{{ text }}\n\n"
    "Write a new text of the same kind: keep the topic and the style, change the wording and the details"
    "{% if target_words %}, about {{ target_words }} words long{% endif %}. Answer with the new text only.";

constexpr const char* kFillBlanksPrompt =
    "Here is an example of {{ task }} with some words replaced by _:\n\n{{ text }}\n\n"
    "Fill in the blanks to make a complete, natural text"
    "{% if target_words %} of about {{ target_words }} words{% endif %}. Answer with the completed text only.";

size_t word_count(const std::string& s) {
    size_t n = 0;
    bool in_word = false;
    for (unsigned char c : s) {
        const bool space = std::isspace(c) != 0;
        if (!space && !in_word) ++n;
        in_word = !space;
    }
    return n;
}

class PrivateEvolutionBlock final : public Block {
  public:
    PrivateEvolutionBlock(const std::string& name, const Json& config, const BlockEnv& env)
        : Block(name),
          env_(env),
          caller_(name, config, env),
          embedder_(name, embedding_config(config), embedding_env(env)) {
        const Json& e = embedder_.llm_config();
        if (e.value("backend", "llama") != "llama" || !e.value("embeddings", false) || !e.contains("model"))
            throw ConfigError(
                "config.embedding: private texts are embedded in-process only, so they never leave this machine: set "
                "backend: llama, embeddings: true and model: an embedding GGUF");
        text_ = compile_column_or_template(config.value("text", "text"), "config.text");
        output_ = config.value("output", "text");
        if (output_.empty()) throw ConfigError("config.output: the synthetic text column needs a name");
        task_ = config.at("task").get<std::string>();
        // Checked when running, not when validating: the built-in flow ships without a task.
        if (task_.empty() && env.llm)
            throw ConfigError(
                "config.task: say in a few words what the texts are (e.g. --set task=\"a customer review of a "
                "restaurant\"): it is the model's only clue besides the votes, and must not quote private data");
        samples_ = config.value("samples", size_t{100});
        iterations_ = config.value("iterations", size_t{5});
        k_ = config.value("k", size_t{1});
        variations_ = config.value("variations", size_t{1});
        keep_ = std::max<size_t>(1, (samples_ + variations_) / (variations_ + 1));
        fill_blanks_ = config.value("variation", "rewrite") == "fill_blanks";
        mask_rate_ = config.value("mask_rate", 0.5);
        max_retries_ = config.value("max_retries", 2);
        if (config.contains("target_words") && !config["target_words"].is_null())
            target_words_ = config["target_words"].get<int>();
        auto number = [&](const char* key) -> std::optional<double> {
            if (!config.contains(key) || config[key].is_null()) return std::nullopt;
            return config[key].get<double>();
        };
        epsilon_ = number("epsilon");
        delta_ = number("delta");
        sigma_ = number("sigma");
        threshold_ = number("threshold");
        if (epsilon_.has_value() == sigma_.has_value())
            throw ConfigError(
                "config.epsilon: give the privacy budget as epsilon (sigma follows) or the noise as sigma (epsilon "
                "is reported), not both and not neither; `synthforge privacy budget` shows how they relate");
        if (config.contains("noise_seed") && !config["noise_seed"].is_null())
            noise_seed_ = config["noise_seed"].get<uint64_t>();
        random_prompt_ =
            Template::compile(config.value("random_prompt", std::string(kRandomPrompt)), "config.random_prompt");
        variation_prompt_ = Template::compile(
            config.value("variation_prompt", std::string(fill_blanks_ ? kFillBlanksPrompt : kRewritePrompt)),
            "config.variation_prompt");
    }

    void process(std::vector<Record>&&, Emitter&) override {}
    bool needs_all_rows() const override { return true; }
    bool resumes_from_state() const override { return true; }

    void finish(const RowSource& all_rows, Emitter& out) override {
        if (done_) return;
        out.use_manual_checkpoints();
        // The first population never sees private data: under --dry-run it is all there is to show.
        std::vector<std::string> population;
        if (iterations_done_ == 0) {
            population = first_population();
            if (env_.on_dry_run_request) return;
        } else {
            population = next_population(saved_population_, saved_selected_, saved_noisy_, iterations_done_);
        }

        std::vector<privacy::Vector> private_vectors = embed_private(all_rows, out);
        if (private_vectors.size() < 2)
            throw UserError(fmt::format("{}: private evolution needs at least 2 distinct private texts, got {}", name(),
                                        private_vectors.size()));
        settle_budget(private_vectors.size());
        while (iterations_done_ < iterations_) {
            const size_t t = iterations_done_ + 1;
            // A test seed gives each iteration its own stream, so a resumed run draws what an
            // uninterrupted one would have.
            privacy::GaussianNoise noise =
                noise_seed_ ? privacy::GaussianNoise::seeded(*noise_seed_ ^ (t * 0x9e3779b97f4a7c15ULL))
                            : privacy::GaussianNoise::secure();
            std::vector<privacy::Vector> synthetic = embed_texts(population, "synthetic sample");
            // The one place private data is read: its only product is the noisy histogram.
            std::vector<double> noisy = privacy::add_gaussian_noise(
                privacy::nearest_neighbor_votes(private_vectors, synthetic, k_), *sigma_, noise);
            std::vector<size_t> selected = privacy::select_top(noisy, threshold_.value_or(*sigma_), keep_);
            // Saved before any variation call: see the file comment.
            Json delta = {{"iteration", t},
                          {"sigma", *sigma_},
                          {"delta", *delta_},
                          {"epsilon_spent", privacy::epsilon_for_sigma(*sigma_, *delta_, t)},
                          {"private_records", private_records_},
                          {"duplicates", duplicates_},
                          {"population", population},
                          {"noisy_histogram", noisy},
                          {"selected", selected}};
            pending_delta_ = delta.dump();
            out.checkpoint();
            iterations_done_ = t;
            population = next_population(population, selected, noisy, t);
        }
        // Output: the population made from the last histogram (PE's S_T).
        for (size_t i = 0; i < population.size(); ++i) {
            Record row = Json::object();
            row[output_] = population[i];
            row["_pe_origin"] = i < last_kept_.size() ? "selected" : "variation";
            row["_pe_votes"] = last_parent_votes_[i];
            out.emit(std::move(row));
        }
        done_ = true;
        pending_delta_ = Json{{"done", true}}.dump();
        out.checkpoint();
    }

    std::string take_state_delta() override {
        std::string d = std::move(pending_delta_);
        pending_delta_.clear();
        return d;
    }

    void restore_state(const std::vector<std::string>& deltas) override {
        for (const auto& raw : deltas) {
            Json d = Json::parse(raw, nullptr, false);
            if (d.is_discarded() || !d.is_object())
                throw RunError("private_evolution '" + name() + "': its saved state in the run store is damaged");
            if (d.value("done", false)) {
                done_ = true;
                continue;
            }
            iterations_done_ = d.at("iteration").get<size_t>();
            restored_sigma_ = d.at("sigma").get<double>();
            restored_delta_ = d.at("delta").get<double>();
            private_records_ = d.at("private_records").get<size_t>();
            duplicates_ = d.at("duplicates").get<size_t>();
            saved_population_ = d.at("population").get<std::vector<std::string>>();
            saved_noisy_ = d.at("noisy_histogram").get<std::vector<double>>();
            saved_selected_ = d.at("selected").get<std::vector<size_t>>();
        }
    }

    Json metrics() const override {
        Json m = caller_.metrics();
        m["embedding"] = embedder_.metrics();
        Json p = {{"mechanism", "Gaussian mechanism on nearest-neighbour votes (Private Evolution, Aug-PE)"},
                  {"accounting", "Gaussian DP: mu = sqrt(T)/sigma"},
                  {"iterations", iterations_},
                  {"iterations_done", iterations_done_},
                  {"k", k_},
                  {"noise", noise_seed_ ? "seeded (test only: no guarantee if the seed is known)" : "secure"},
                  {"private_records", private_records_},
                  {"duplicate_private_records", duplicates_}};
        if (sigma_ && delta_) {
            p["sigma"] = *sigma_;
            p["delta"] = *delta_;
            p["epsilon"] = privacy::epsilon_for_sigma(*sigma_, *delta_, iterations_);
            p["epsilon_spent"] =
                iterations_done_ ? privacy::epsilon_for_sigma(*sigma_, *delta_, iterations_done_) : 0.0;
            p["threshold"] = threshold_.value_or(*sigma_);
        }
        m["privacy"] = std::move(p);
        return m;
    }

  private:
    static Json embedding_config(const Json& config) {
        return Json{{"llm", config.value("embedding", Json::object())}};
    }
    // The embedder takes nothing from the flow's `llm:` (that is the generating model's) or
    // from --set llm.*: its whole configuration is the block's `embedding:`.
    static BlockEnv embedding_env(BlockEnv env) {
        env.llm_defaults = Json::object();
        env.llm_overrides = Json::object();
        return env;
    }

    // Fixes N (after deduplication), delta and sigma once the private rows are known.
    void settle_budget(size_t n) {
        if (restored_sigma_) {
            sigma_ = restored_sigma_;
            delta_ = restored_delta_;
            return;
        }
        if (!delta_) delta_ = privacy::default_delta(n);
        if (epsilon_) sigma_ = privacy::sigma_for_budget(*epsilon_, *delta_, iterations_);
    }

    std::vector<privacy::Vector> embed_private(const RowSource& rows, Emitter& out) {
        // Duplicates would let one record vote twice and break the sensitivity bound.
        std::vector<std::string> texts;
        std::unordered_set<std::string> seen;
        size_t dupes = 0;
        rows.for_each([&](uint64_t index, Record&& row) {
            std::string why;
            try {
                std::string t = text_->render(row);
                if (t.empty())
                    why = "empty private text";
                else if (seen.insert(t).second)
                    texts.push_back(std::move(t));
                else
                    why = "duplicate private text (counted once)", ++dupes;
            } catch (const TemplateError& e) {
                why = e.what();
            }
            if (why.empty()) return;
            // Account for the row without copying private text into the rejects file.
            if (iterations_done_ == 0)
                out.reject(Json{{"_private_row", index}}, "private_evolution: " + why + "; text withheld");
        });
        if (iterations_done_ == 0) {
            private_records_ = texts.size();
            duplicates_ = dupes;
        }
        return embed_texts(texts, "private text");
    }

    std::vector<privacy::Vector> embed_texts(const std::vector<std::string>& texts, const char* what) {
        std::vector<blocks::LlmCall> calls;
        calls.reserve(texts.size());
        for (const auto& t : texts) {
            llm::Request req;
            req.embed = true;
            req.prompt = t;
            calls.push_back(embedder_.make_call(std::move(req)));
        }
        std::vector<privacy::Vector> vectors(texts.size());
        embedder_.run(calls, 0, "embedding unusable", [&](size_t i, const llm::Response& r) -> std::string {
            if (r.embedding.empty()) return "the backend returned no embedding";
            vectors[i] = r.embedding;
            return "";
        });
        for (const auto& c : calls)
            if (!c.failure.empty())
                throw RunError(fmt::format("{}: could not embed a {}: {}", name(), what, c.failure));
        return vectors;
    }

    // One trimmed text per call; empty answers are asked again, and a call that never gets
    // a usable one is left with its `failure` set and an empty text.
    std::vector<std::string> generate(std::vector<blocks::LlmCall>& calls) {
        std::vector<std::string> texts(calls.size());
        caller_.run(calls, max_retries_, "empty answer", [&](size_t i, const llm::Response& r) -> std::string {
            const auto b = r.text.find_first_not_of(" \t\r\n");
            if (b == std::string::npos) return "the answer is empty";
            texts[i] = r.text.substr(b, r.text.find_last_not_of(" \t\r\n") - b + 1);
            return "";
        });
        return texts;
    }

    blocks::LlmCall user_call(const std::string& prompt, const std::string& salt) const {
        llm::Request req;
        req.messages.push_back({"user", prompt});
        return caller_.make_call(std::move(req), 0, salt);
    }

    std::vector<std::string> first_population() {
        std::vector<blocks::LlmCall> calls;
        for (size_t i = 0; i < samples_; ++i) {
            Json vars = {
                {"task", task_}, {"index", i}, {"target_words", target_words_ ? Json(*target_words_) : Json()}};
            calls.push_back(user_call(random_prompt_->render(vars), fmt::format("pe:0:{}", i)));
        }
        if (caller_.dry_run(calls)) return {};
        std::vector<std::string> texts = generate(calls);
        std::vector<std::string> population;
        for (size_t i = 0; i < calls.size(); ++i)
            if (calls[i].failure.empty()) population.push_back(std::move(texts[i]));
        if (population.size() < 2)
            throw RunError(fmt::format("{}: the model gave {} usable texts for the first population of {}", name(),
                                       population.size(), samples_));
        last_kept_.clear();
        last_parent_votes_.assign(population.size(), nullptr);
        return population;
    }

    // fill_blanks: the kept text with a share of its words replaced by `_`, chosen by a
    // generator seeded from the run's seed (post-processing: this needs no secrecy).
    std::string masked(const std::string& text, uint64_t salt) const {
        text::SplitMix64 rng(env_.seed ^ (0x5eedULL * (salt + 1)));
        std::string out, word;
        auto flush = [&] {
            if (word.empty()) return;
            const double u = static_cast<double>(rng.next() >> 11) * 0x1.0p-53;
            out += u < mask_rate_ ? "_" : word;
            word.clear();
        };
        for (char c : text) {
            if (std::isspace(static_cast<unsigned char>(c))) {
                flush();
                out += c;
            } else {
                word += c;
            }
        }
        flush();
        return out;
    }

    // Population t+1: the samples kept from histogram t, then variations of them in turn
    // until the population is full.
    std::vector<std::string> next_population(const std::vector<std::string>& population,
                                             const std::vector<size_t>& selected, const std::vector<double>& noisy,
                                             size_t t) {
        std::vector<std::string> next;
        std::vector<Json> votes;
        for (size_t j : selected) {
            next.push_back(population[j]);
            votes.push_back(noisy[j]);
        }
        last_kept_ = next;
        const size_t wanted = samples_ - std::min(samples_, next.size());
        std::vector<blocks::LlmCall> calls;
        std::vector<Json> call_votes;
        for (size_t v = 0; v < wanted; ++v) {
            const size_t j = selected[v % selected.size()];
            std::string base = population[j];
            const int words = target_words_ ? *target_words_ : static_cast<int>(word_count(base));
            if (fill_blanks_) base = masked(base, t * 1000003 + v);
            Json vars = {{"task", task_}, {"text", base}, {"target_words", words}};
            calls.push_back(user_call(variation_prompt_->render(vars), fmt::format("pe:{}:{}", t, v)));
            call_votes.push_back(noisy[j]);
        }
        std::vector<std::string> texts = generate(calls);
        for (size_t i = 0; i < calls.size(); ++i) {
            if (!calls[i].failure.empty()) continue;
            next.push_back(std::move(texts[i]));
            votes.push_back(call_votes[i]);
        }
        last_parent_votes_ = std::move(votes);
        if (next.size() < 2)
            throw RunError(
                fmt::format("{}: iteration {} left fewer than 2 texts; the model's answers were unusable", name(), t));
        return next;
    }

    BlockEnv env_;
    blocks::LlmCaller caller_;
    blocks::LlmCaller embedder_;
    std::optional<Template> text_, random_prompt_, variation_prompt_;
    std::string output_, task_;
    size_t samples_ = 100, iterations_ = 5, k_ = 1, variations_ = 1, keep_ = 50;
    bool fill_blanks_ = false;
    double mask_rate_ = 0.5;
    int max_retries_ = 2;
    std::optional<int> target_words_;
    std::optional<double> epsilon_, delta_, sigma_, threshold_;
    std::optional<uint64_t> noise_seed_;

    // Progress, saved in the run store per iteration.
    size_t iterations_done_ = 0, private_records_ = 0, duplicates_ = 0;
    bool done_ = false;
    std::optional<double> restored_sigma_, restored_delta_;
    std::vector<std::string> saved_population_;
    std::vector<double> saved_noisy_;
    std::vector<size_t> saved_selected_;
    std::string pending_delta_;
    std::vector<std::string> last_kept_;
    std::vector<Json> last_parent_votes_;
};

const bool registered = [] {
    Json schema = Json::parse(kSchema);
    schema["properties"]["llm"] = llm::llm_config_schema();
    schema["properties"]["embedding"] = llm::llm_config_schema();
    BlockRegistry::global().add(
        {"private_evolution",
         "Differentially private synthetic texts from private ones by Private Evolution (Aug-PE): the model never "
         "sees a private text",
         std::move(schema),
         [](const std::string& name, const Json& config, const BlockEnv& env) -> std::unique_ptr<Block> {
             return std::make_unique<PrivateEvolutionBlock>(name, config, env);
         }});
    return true;
}();

}  // namespace
}  // namespace synthforge
