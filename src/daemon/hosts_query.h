// The one request both programs answer: which hosts should this client use.
#pragma once

#include <nlohmann/json.hpp>

#include "distcc-mdns/directory.h"

namespace dmdns {

// Answers {"op":"hosts", "local_slots":N, "lzo":bool, "cpp":bool} from
// the servers in @entries; throws std::invalid_argument for a bad request.
nlohmann::json answerHosts(const nlohmann::json &request, const std::vector<DirectoryEntry> &entries,
			   std::string_view source);

} // namespace dmdns
