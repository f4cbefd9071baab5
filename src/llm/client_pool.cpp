#include "synthforge/llm/client_pool.h"

#include "llama_backend.h"
#include "openai_backend.h"
#include "synthforge/errors.h"

namespace synthforge::llm {
namespace {

std::filesystem::path resolve_model(const std::string& model, const std::filesystem::path& flow_dir) {
    std::filesystem::path p(model);
    if (p.is_absolute() || std::filesystem::exists(p)) return p;
    if (std::filesystem::exists(flow_dir / p)) return flow_dir / p;
    return p;  // the backend reports it missing, naming the path
}

}  // namespace

Json llm_config_schema() {
    return Json::parse(R"json({
      "type": "object",
      "description": "Which model answers: backend, model and connection settings (flow-level llm: underneath)",
      "additionalProperties": false,
      "properties": {
        "backend": {"type": "string", "description": "llama: in-process GGUF (default); openai: an OpenAI-compatible server; plugins add more"},
        "model": {"type": "string", "description": "GGUF path (llama) or model name (openai)"},
        "base_url": {"type": ["string", "array"], "description": "openai: endpoint URL(s) ending in /v1; requests are balanced over them"},
        "api_key_env": {"type": "string", "description": "openai: environment variable that holds the API key"},
        "concurrency": {"type": "integer", "minimum": 1, "description": "llama: parallel sequences; openai: in-flight requests per endpoint (default 8)"},
        "n_ctx": {"type": "integer", "minimum": 256, "description": "llama: KV cache tokens shared by all sequences (default 4096)"},
        "threads": {"type": "integer", "minimum": 0, "description": "llama: CPU threads, 0 = all"},
        "gpu_layers": {"type": "integer", "description": "llama: layers offloaded to a GPU build, -1 = all"},
        "chat_template": {"type": "string", "description": "llama: Jinja chat template replacing the model's own"},
        "embeddings": {"type": "boolean", "description": "llama: load the model for embeddings (the embed block and embedding-based blocks); it then answers nothing else"},
        "pooling": {"enum": ["model", "mean", "cls", "last", "rank"], "description": "llama with embeddings: how token vectors become one; model = the model's own (mean when none); rank = a reranker's scores"},
        "endpoint": {"enum": ["chat", "completions"], "description": "openai: chat/completions (default) or completions for raw prompts"},
        "max_tokens_field": {"enum": ["max_tokens", "max_completion_tokens"], "description": "openai: the request field carrying the length cap on chat requests; OpenAI's newer models need max_completion_tokens (default max_tokens)"},
        "timeout_s": {"type": "number", "minimum": 0, "description": "openai: per-attempt timeout (default 120)"},
        "max_attempts": {"type": "integer", "minimum": 1, "description": "openai: attempts per request (default 5)"},
        "all_down_timeout_s": {"type": "number", "minimum": 0, "description": "openai: once every endpoint is ejected (failing), queued requests fail after this many seconds (default 300)"},
        "requests_per_minute": {"type": "number", "minimum": 0, "description": "openai: per-endpoint rate limit, 0 = none"},
        "tokens_per_minute": {"type": "number", "minimum": 0, "description": "openai: per-endpoint token budget, 0 = none"},
        "event_loop_threads": {"type": "integer", "minimum": 0, "description": "openai: threads driving HTTP transfers, 0 = automatic (min(2, cores)); only very fast servers need more than one"},
        "http_transport": {"enum": ["auto", "native", "curl"], "description": "openai: auto (default) = the built-in HTTP/1.1 client when every endpoint is plain http:// and no proxy variable applies, else libcurl; native forces the former (http:// only), curl the latter"}
      }
    })json");
}

std::map<std::string, BackendFactory>& backend_kinds() {
    static std::map<std::string, BackendFactory> kinds;
    return kinds;
}

void register_backend_kind(const std::string& name, BackendFactory factory) {
    backend_kinds()[name] = std::move(factory);
}

std::unique_ptr<Backend> make_backend(const Json& c, const std::filesystem::path& flow_dir) {
    const std::string backend = c.value("backend", "llama");
    const std::string model = c.value("model", "");
    const int concurrency = c.value("concurrency", 8);
    if (auto it = backend_kinds().find(backend); it != backend_kinds().end()) return it->second(c, flow_dir);
    if (backend == "llama") {
        if (model.empty())
            throw UserError(
                "llm.model: the llama backend needs a GGUF file (--set model=path/to/model.gguf; "
                "`synthforge tiny-model tiny.gguf` makes a test model)");
        LlamaBackendOptions o;
        o.model = resolve_model(model, flow_dir);
        o.n_parallel = concurrency;
        o.n_ctx = c.value("n_ctx", 4096);
        o.n_threads = c.value("threads", 0);
        o.n_gpu_layers = c.value("gpu_layers", 0);
        o.chat_template = c.value("chat_template", "");
        o.embeddings = c.value("embeddings", false);
        o.pooling = c.value("pooling", "model");
        return make_llama_backend(o);
    }
    if (backend == "openai") {
        OpenAiBackendOptions o;
        if (c.contains("base_url")) {
            if (c["base_url"].is_string())
                o.base_urls = {c["base_url"].get<std::string>()};
            else
                o.base_urls = c["base_url"].get<std::vector<std::string>>();
        }
        if (o.base_urls.empty()) throw UserError("llm.base_url: the openai backend needs the server's URL (…/v1)");
        if (model.empty()) throw UserError("llm.model: the openai backend needs a model name");
        o.model = model;
        o.api_key_env = c.value("api_key_env", "");
        o.use_completions_endpoint = c.value("endpoint", "chat") == "completions";
        o.max_completion_tokens = c.value("max_tokens_field", "max_tokens") == "max_completion_tokens";
        o.max_concurrency = concurrency;
        o.timeout_s = c.value("timeout_s", o.timeout_s);
        o.max_attempts = c.value("max_attempts", o.max_attempts);
        // Without it a dead server holds a run for the default 300 s however short timeout_s is.
        o.all_down_timeout_s = c.value("all_down_timeout_s", o.all_down_timeout_s);
        o.requests_per_minute = c.value("requests_per_minute", 0.0);
        o.tokens_per_minute = c.value("tokens_per_minute", 0.0);
        o.event_loop_threads = c.value("event_loop_threads", o.event_loop_threads);
        o.http_transport = c.value("http_transport", o.http_transport);
        return make_openai_backend(o);
    }
    std::string known = "llama, openai";
    for (const auto& [name, _] : backend_kinds()) known += ", " + name;
    throw UserError("llm.backend: unknown backend '" + backend + "'; backends: " + known);
}

Client& ClientPool::get(const Json& llm_config) {
    std::lock_guard lock(mutex_);
    std::string key = llm_config.dump();
    auto it = clients_.find(key);
    if (it != clients_.end()) return *it->second;
    auto client = std::make_unique<Client>(make_backend(llm_config, flow_dir_), cache_);
    return *clients_.emplace(key, std::move(client)).first->second;
}

Json ClientPool::stats_json() const {
    std::lock_guard lock(mutex_);
    Json out = Json::object();
    for (const auto& [_, client] : clients_) {
        Json entry = client->stats().to_json();
        if (Json backend = client->backend_stats(); !backend.is_null()) entry["backend"] = std::move(backend);
        out[client->identity()] = std::move(entry);
    }
    return out;
}

}  // namespace synthforge::llm

namespace synthforge::llm {
ClientStats ClientPool::totals() const {
    std::lock_guard lock(mutex_);
    ClientStats t;
    for (const auto& [_, client] : clients_) {
        ClientStats s = client->stats();
        t.requests += s.requests;
        t.cached += s.cached;
        t.sent += s.sent;
        t.failures += s.failures;
        t.attempts += s.attempts;
        t.in_flight += s.in_flight;
        t.prompt_tokens += s.prompt_tokens;
        t.completion_tokens += s.completion_tokens;
        t.busy_seconds += s.busy_seconds;
    }
    return t;
}
}  // namespace synthforge::llm
