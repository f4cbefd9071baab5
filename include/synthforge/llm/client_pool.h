#pragma once
// The LLM clients of one run: one per distinct `llm:` configuration, shared by
// every block that names the same model, so a GGUF model loads once and an
// endpoint's concurrency limit holds across blocks.
//
// An `llm:` mapping (flow level, block level on top):
//   backend: llama | openai        (default llama: in-process)
//   model: ...                     GGUF path for llama; model name for openai
//   base_url: URL | [URL, ...]     openai: one or more equivalent endpoints
//   api_key_env: NAME              openai: environment variable holding the key
//   concurrency: 8                 llama: parallel sequences; openai: in-flight requests per endpoint
//   n_ctx, threads, gpu_layers, chat_template          llama only
//   endpoint: chat | completions, timeout_s, max_attempts,
//   requests_per_minute, tokens_per_minute            openai only

#include "synthforge/data/record.h"
#include "synthforge/llm/client.h"

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

namespace synthforge::llm {

// JSON schema of an `llm:` mapping, for block config schemas.
Json llm_config_schema();

// Backend kinds by name ("llama", "openai" built in). Plugins and tests add more:
// the factory gets the merged `llm:` mapping and the flow's folder.
using BackendFactory = std::function<std::unique_ptr<Backend>(const Json& llm_config, const std::filesystem::path&)>;
void register_backend_kind(const std::string& name, BackendFactory factory);

// Creates the backend an `llm:` mapping describes. Relative model paths are tried
// as given, then next to the flow file. Throws UserError for bad settings.
std::unique_ptr<Backend> make_backend(const Json& llm_config, const std::filesystem::path& flow_dir);

class ClientPool {
  public:
    ClientPool(ResponseCache* cache, std::filesystem::path flow_dir) : cache_(cache), flow_dir_(std::move(flow_dir)) {}

    Client& get(const Json& llm_config);
    // Stats of every client, keyed by backend identity.
    Json stats_json() const;
    // All clients added up (latencies left out).
    ClientStats totals() const;

  private:
    ResponseCache* cache_;
    std::filesystem::path flow_dir_;
    mutable std::mutex mutex_;
    std::map<std::string, std::unique_ptr<Client>> clients_;
};

}  // namespace synthforge::llm
