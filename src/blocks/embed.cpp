// `embed`: each record's text as a vector from an embedding model on the in-process llama
// backend (llm.embeddings: true), for embedding-based dedup, clustering and privacy checks.
// The vectors are L2-normalised by default and rounded to 6 significant digits: cosine
// similarities keep ~1e-6 precision and the output stays a readable size.

#include "llm_call.h"
#include "synthforge/engine/registry.h"
#include "synthforge/engine/template.h"
#include "synthforge/errors.h"
#include "synthforge/llm/client_pool.h"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "llm": {"type": "object"},
    "text": {"type": "string", "description": "The text embedded: a column name or a Jinja template over the record", "default": "text"},
    "output": {"type": "string", "description": "Column receiving the vector (an array of numbers)", "default": "embedding"},
    "normalize": {"type": "boolean", "description": "Scale every vector to length 1, so a dot product is the cosine", "default": true},
    "prefix": {"type": "string", "description": "Text put before every input, for models trained with one (e.g. 'query: ' or 'search_document: ')", "default": ""}
  }
})json";

class EmbedBlock final : public Block {
  public:
    EmbedBlock(const std::string& name, const Json& config, const BlockEnv& env)
        : Block(name), caller_(name, config, env) {
        const Json& llm = caller_.llm_config();
        if (llm.value("backend", "llama") == "openai" || !llm.value("embeddings", false))
            throw ConfigError(
                "config.llm: embed needs an embedding model on the llama backend: set backend: llama, embeddings: true "
                "and model: an embedding GGUF (e.g. bge-small-en-v1.5 or nomic-embed-text)");
        text_ = compile_column_or_template(config.value("text", "text"), "config.text");
        output_ = config.value("output", "embedding");
        if (output_.empty()) throw ConfigError("config.output: the embedding column needs a name");
        normalize_ = config.value("normalize", true);
        prefix_ = config.value("prefix", "");
    }

    void process(std::vector<Record>&& rows, Emitter& out) override {
        std::vector<blocks::LlmCall> calls;
        std::vector<size_t> call_of(rows.size(), SIZE_MAX);
        for (size_t r = 0; r < rows.size(); ++r) {
            llm::Request req;
            req.embed = true;
            try {
                req.prompt = text_->render(rows[r]);
            } catch (const TemplateError& e) {
                out.reject(std::move(rows[r]), e.what());
                continue;
            }
            if (req.prompt.empty()) {
                out.reject(std::move(rows[r]), "embed: the text is empty");
                continue;
            }
            req.prompt = prefix_ + req.prompt;
            call_of[r] = calls.size();
            calls.push_back(caller_.make_call(std::move(req)));
        }
        if (caller_.dry_run(calls)) return;
        std::vector<std::vector<float>> vectors(calls.size());
        caller_.run(calls, 0, "embedding unusable", [&](size_t i, const llm::Response& response) -> std::string {
            if (response.embedding.empty()) return "the backend returned no embedding";
            for (float v : response.embedding)
                if (!std::isfinite(v)) return "the embedding has a non-finite value";
            vectors[i] = response.embedding;
            return "";
        });
        for (size_t r = 0; r < rows.size(); ++r) {
            const size_t c = call_of[r];
            if (c == SIZE_MAX) continue;
            if (!calls[c].failure.empty()) {
                out.reject(std::move(rows[r]), calls[c].failure);
                continue;
            }
            const auto& v = vectors[c];
            double norm = 0;
            for (float x : v) norm += static_cast<double>(x) * x;
            norm = std::sqrt(norm);
            const double scale = normalize_ && norm > 0 ? 1 / norm : 1;
            Json arr = Json::array();
            for (float x : v) arr.push_back(std::stod(fmt::format("{:.6g}", x * scale)));
            rows[r][output_] = std::move(arr);
            out.emit(std::move(rows[r]));
        }
    }

    Json metrics() const override { return caller_.metrics(); }

  private:
    blocks::LlmCaller caller_;
    std::optional<Template> text_;
    std::string output_, prefix_;
    bool normalize_ = true;
};

const bool registered = [] {
    Json schema = Json::parse(kSchema);
    schema["properties"]["llm"] = llm::llm_config_schema();
    BlockRegistry::global().add(
        {"embed", "Add each text's vector from an embedding model (in-process llama.cpp, llm.embeddings: true)",
         std::move(schema),
         [](const std::string& name, const Json& config, const BlockEnv& env) -> std::unique_ptr<Block> {
             return std::make_unique<EmbedBlock>(name, config, env);
         }});
    return true;
}();

}  // namespace
}  // namespace synthforge
