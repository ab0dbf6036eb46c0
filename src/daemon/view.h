// The view of the servers and the chosen hosts line, shared by the daemon and distcc-mdns-hosts.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "distcc-mdns/directory.h"
#include "distcc-mdns/picker.h"
#include "distcc-mdns/plan.h"

namespace dmdns {

// The client's compiler against the server's compiler of the same target
// machine and version: their identities (host/compiler_id.h).
struct IdentityView {
	IdentityMatch match = IdentityMatch::Unchecked; // Unchecked: the rest empty
	std::string machine;				// the client's compiler's
	std::string version;
	std::string here;  // the client's identity, or empty
	std::string there; // the server's, or empty
};

std::string_view identityMatchName(IdentityMatch match) noexcept;
std::optional<IdentityMatch> parseIdentityMatch(std::string_view name) noexcept;
// "x86_64-linux-gnu 12 (a1b2c3d4) here, 12 (e5f6a7b8) there", "none" for
// a side without identity.
std::string identityText(const IdentityView &identity);

// One server as a client sees it: what its records say, and what this
// client's line does with it.
struct ServerView {
	std::string name;
	std::string id;
	std::string host;
	std::optional<std::string> address; // the line's, else the preferred one
	std::vector<std::string> addresses;
	std::uint16_t port = 0;
	std::optional<std::uint32_t> cpus; // unknown without a usable TXT value
	std::uint32_t slots = 0;
	double speed = 1.0; // what the planner uses
	// How `speed` was chosen where gossip knows the server: the speed it
	// advertises (its benchmark), the one its jobs show once enough ran,
	// the (decayed) jobs behind that, and whether the planner takes it.
	std::optional<double> benchmarkSpeed;
	std::optional<double> learnedSpeed;
	std::uint32_t speedJobs = 0;
	bool speedLearned = false;
	ServerState state = ServerState::Up;
	// From the load sample; unknown without one.
	std::optional<std::uint32_t> running;
	std::optional<double> load;
	std::optional<std::int64_t> ageMs;
	Liveness liveness = Liveness::Unknown;
	std::uint32_t reserved = 0; // jobs other clients reserved there
	bool stock = false;
	bool local = false;
	std::vector<std::string> compilers; // "MACHINE:VERSION"
	IdentityView identity;		    // with a compiler asked for
	std::vector<std::string> problems;  // "KEY: REASON"
	std::uint32_t limit = 0;	    // in the line; 0 when left out
	std::uint32_t expected = 0;	    // jobs this client's demand puts there
	Exclusion excluded = Exclusion::None;
	Ineligible ineligible = Ineligible::None; // for Exclusion::Ineligible
	std::string duplicateOf;		  // for Exclusion::Duplicate: its name
	std::string otherReason;		  // for Exclusion::Other: the text read
};

// The human text of why @server is left out; empty when it is listed. The
// one place these sentences are written.
std::string exclusionText(const ServerView &server);
// The reason a text from exclusionText() names (Exclusion::Other, with the
// text kept, for one it does not know).
void parseExclusion(std::string_view text, ServerView &server);

struct View {
	std::string source; // where the data came from: "daemon", "browse", ...
	std::string line;
	std::uint32_t jobs = 0; // suggested make -j
	std::uint32_t localSlots = 0;
	double localSpeed = 1.0;
	LocalPlace localhost = LocalPlace::Last;
	// Overloaded farm: the slots this client's limits add up to.
	std::optional<std::uint32_t> share;
	// How the client's compiler was matched: an exact match leaves out a
	// server whose identity differs, a version match warns of it.
	MatchMode match = MatchMode::Version;
	// Listed servers in line order, then the others.
	std::vector<ServerView> servers;
	// The demand counted, and what was asked when it was clamped.
	std::optional<std::uint32_t> want;
	std::optional<std::uint32_t> wantAsked;
};

// Plans the hosts line for @entries and describes every server: listed
// ones in line order with their limit and the jobs the client's demand puts
// there, then the others with the reason they were left out. @reserved is
// empty or holds, per entry, the jobs other clients reserved there.
// @source says where the data came from.
View makeView(const std::vector<DirectoryEntry> &entries, std::span<const std::uint32_t> reserved,
	      const PlanOptions &options, std::uint64_t seed, std::string_view source);

// A readable table of a view.
std::string statusTable(const View &view);

// One source whose gossip datagrams failed authentication (a missing or
// wrong tag while this node verifies): the usual sign of a peer holding
// another --key-file, which otherwise looks alive to mDNS.
struct AuthFailure {
	std::string address; // the datagrams' source, numeric
	std::uint64_t count = 0;
	std::int64_t agoMs = 0; // since the last one
};
// "N datagrams from ADDRESS failed authentication: different key? (last
// Ts ago)", the address made printable.
std::string authFailureText(const AuthFailure &failure);

// This machine's speed as the daemon measured it, and its timing of remote
// jobs (--learn-speed), for the "stats" reply's "speed" object.
struct SpeedStats {
	double speed = 1.0;    // what is advertised and used as this machine's
	bool measured = false; // by the benchmark (false: --speed gave it)
	double best = 1.0;     // the fastest and slowest benchmark runs so far
	double worst = 1.0;
	std::uint32_t runs = 0;
	std::uint32_t reruns = 0; // benchmarks re-run while the host was idle
	bool learn = false;	  // --learn-speed
	std::uint64_t jobsTimed = 0, jobsUnmatched = 0, jobsUntimed = 0;
};

} // namespace dmdns
