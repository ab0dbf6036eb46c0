// The one request both programs answer: which hosts should this client use.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "daemon/request.h"
#include "daemon/view.h"
#include "distcc-mdns/directory.h"

namespace dmdns {

struct HostsAnswer {
	View view;
	// What the client will run where: server id and expected jobs, for the
	// listed servers gossip can name.
	std::vector<std::pair<std::uint64_t, std::uint32_t>> reservations;
	std::uint32_t want = 0; // remote jobs asked for
	std::uint32_t localSlots = 0;
	// The client will use the line: reserve and gossip the demand. A look
	// (--status, --json, a test's poll) must not make others avoid servers.
	bool reserve = false;
};

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

// What the answer assumes of the machine that asks, unless the request
// says otherwise: its slots ("local_slots") and its speed ("speed").
struct LocalMachine {
	std::uint32_t slots = 1;
	double speed = 1.0;
	// Its host id (host::hostId()), which its own TXT record carries when
	// it is a server too: that entry is this machine (PlanOptions::self).
	std::string id{};
};

// Answers @request from the servers in @entries and what @others do. A
// "want" above the farm's slots (every server's plus the local slots) is
// clamped to them and counts as that much demand: the view then carries
// the demand counted in View::want, and View::wantAsked when it was
// clamped. "reserve" defaults to whether "want" is given; "failing" hosts
// are left out as the client's distcc would skip them.
// @seed fixes the picker's draws (a hosts file that changes only when the
// farm does); by default every answer draws anew.
HostsAnswer answerHosts(const HostsRequest &request, const std::vector<DirectoryEntry> &entries,
			const FarmState &others, const LocalMachine &local, std::string_view source,
			std::optional<std::uint64_t> seed = std::nullopt);

} // namespace dmdns
