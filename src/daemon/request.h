// The typed requests of the query socket, and the strict reading of the host names they carry.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <sys/types.h>

#include "distcc-mdns/server.h"

namespace dmdns {

// Who sent a request: the kernel's word on the peer's user, and which
// connection it came on (QueryServer numbers them from 1; 0: none, as for
// a request not read from the socket).
struct Caller {
	std::optional<uid_t> uid;
	std::uint64_t connection = 0;
};

// A host and port a client's distcc backs off from, as its lock files name
// them; the host as the line writes it, without brackets or scope.
struct FailingHost {
	std::string host;
	std::uint16_t port = 0;

	auto operator<=>(const FailingHost &) const = default;
};

// "a.b.c.d:PORT", "NAME:PORT" or "[IPV6]:PORT" (the brackets may hold a
// "%scope", which is dropped): a port is required. A bare IPv6 address
// followed by a port ("fe80::9:3632") is refused, since no one can tell
// where the address ends. nullopt for anything else, with no partial read.
std::optional<FailingHost> parseFailingHost(std::string_view text);
// The inverse: IPv6 hosts in brackets.
std::string formatFailingHost(const FailingHost &host);

// {"op":"hosts"}: which hosts should this client use. Absent fields take
// the defaults the answer documents (answerHosts()).
struct HostsRequest {
	// A client names at most this many failing hosts.
	static constexpr std::size_t kMaxFailing = 1024;
	// And no host name longer than this ("HOST:PORT" as sent).
	static constexpr std::size_t kMaxFailingText = 300;

	std::optional<std::uint32_t> localSlots; // [1, kMaxHostLimit]
	std::optional<std::uint32_t> want;	 // [0, wire::kMaxWantedJobs]
	std::optional<double> speed;		 // [kMinSpeed, kMaxSpeed]
	std::optional<double> minSpeed;		 // [0, 1]
	bool lzo = false;
	bool cpp = false;
	std::optional<Compiler> compiler; // valid() when set; its identity may be empty
	std::optional<MatchMode> match;	  // default: MatchMode::Version
	std::optional<bool> reserve;	  // default: whether want is given
	// This connection carries one running build (distcc-mdns-run) whose
	// remote demand is want, until the connection closes; requires want
	// and implies reserve.
	bool build = false;
	std::vector<FailingHost> failing; // at most kMaxFailing
};

// {"op":"stats"}: the gossip node's counters.
struct StatsRequest { };

// {"op":"set-state","state":"drain"|"up"}: the state name as sent; the
// daemon checks who asks before it reads it.
struct SetStateRequest {
	std::string state;
};

// {"op":"setup-user"}: keep a hosts file for the caller, whose uid is the
// kernel's word (SO_PEERCRED), never a field of the request.
struct SetupUserRequest { };

// {"op":"farm"}: the whole farm as this daemon sees it, once. A look: it
// reserves nothing and counts as no user's demand.
struct FarmRequest { };

// {"op":"watch"}: the farm object at once, then a new one on the same
// connection every time it changes (at most once a second, at least every
// 5 s); the connection stays open until the client closes it.
struct WatchRequest { };

using Request = std::variant<HostsRequest, StatsRequest, SetStateRequest, SetupUserRequest, FarmRequest, WatchRequest>;

struct SetStateReply {
	ServerState state = ServerState::Up;
};

// The hosts file the daemon keeps for the caller: an absolute path.
struct SetupUserReply {
	std::string path;
};

} // namespace dmdns
