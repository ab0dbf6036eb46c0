// The one request both programs answer: which hosts should this client use.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "distcc-mdns/directory.h"

namespace dmdns {

struct HostsAnswer {
	nlohmann::json view; // see makeView()
	// What the client will run where: server id and expected jobs, for the
	// listed servers gossip can name.
	std::vector<std::pair<std::uint64_t, std::uint32_t>> reservations;
	std::uint32_t want = 0; // remote jobs asked for
	std::uint32_t localSlots = 0;
	// The client will use the line: reserve and gossip the demand. A look
	// (--status, --json, a test's poll) must not make others avoid servers.
	bool reserve = false;
};

// Answers {"op":"hosts", "local_slots":N, "want":N, "reserve":bool,
// "lzo":bool, "cpp":bool, "compiler":"MACHINE VERSION", "speed":X,
// "min_speed":F, "failing":["HOST:PORT",...]} ("reserve" defaults to
// whether "want" is given; "failing" names the hosts the client's distcc
// backs off from, as its lock files name them; a "want" above the farm's
// slots, every server's plus "local_slots", is clamped to them and counts
// as that much demand: the view then carries "want", the demand counted,
// and "want_asked" when it was clamped)
// from the servers in @entries and what @others do; throws
// std::invalid_argument for a bad request.
// What the farm is busy with beyond the servers' samples: per entry the
// jobs other clients reserved (empty: none known), the remote jobs the
// other clients ask for together, per entry this client's own jobs in
// flight (empty: none known), which are no one else's load, and the hosts
// and ports this client's distcc recently failed on.
struct FarmState {
	std::span<const std::uint32_t> reserved;
	std::uint64_t wanted = 0;
	std::vector<std::uint32_t> own;
	// Each other client's demand, when gossip knows them apart.
	std::vector<std::uint32_t> demands;
	std::set<std::pair<std::string, std::uint16_t>> failing;
};

// @localSpeed: this machine's speed, unless the request says "speed".
// @seed fixes the picker's draws (a hosts file that changes only when the
// farm does); by default every answer draws anew.
HostsAnswer answerHosts(const nlohmann::json &request, const std::vector<DirectoryEntry> &entries,
			const FarmState &others, double localSpeed, std::string_view source,
			std::optional<std::uint64_t> seed = std::nullopt);

} // namespace dmdns
