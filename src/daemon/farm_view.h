// The typed farm object of the "farm" and "watch" operations: every server and client this daemon knows, with their history.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "daemon/gossip_node.h"
#include "daemon/history.h"
#include "daemon/stock_probe.h"
#include "daemon/view.h"
#include "distcc-mdns/gossip.h"

namespace dmdns {

// A client's jobs on one server, as the server itself gossiped them.
struct FarmServerClient {
	std::string address;		   // numeric; empty: the "others" remainder
	std::optional<std::string> client; // its node id, when gossip knows who sends from the address
	std::optional<std::string> name;   // its host name: a server's TXT, else its gossip record's
	std::uint32_t running = 0;
};

// A sample younger than this is fresh: the view says which rows are.
inline constexpr std::chrono::milliseconds kFreshSample{ 3000 };

struct FarmServer {
	ServerView server; // as the "hosts" reply writes it, seen by this machine's look
	bool fresh = false;
	std::vector<FarmServerClient> clients; // busiest first
	// Oldest first, one per second, at most History::kSamples.
	std::vector<std::uint32_t> busyHistory;
	std::vector<std::uint32_t> reservedHistory;
};

struct FarmClient {
	std::string id; // 16 hex digits
	std::optional<std::string> name;
	std::optional<std::string> address;
	bool self = false; // this machine
	std::uint32_t want = 0;
	std::uint32_t localSlots = 0;
	// Its fair share of the remote slots; nullopt while every demand fits.
	std::optional<std::uint32_t> share;
	std::uint32_t holding = 0;		// its reservations added up
	std::optional<std::uint32_t> running;	// its jobs the servers report; none report: nullopt
	std::optional<std::uint32_t> localJobs; // run on its own machine; unknown: nullopt
	std::int64_t ageMs = 0;			// of its demand
	// Oldest first, one per second; the share history holds the want for
	// seconds without overload (all it wants is its share then).
	std::vector<std::uint32_t> wantHistory;
	std::vector<std::uint32_t> shareHistory;
};

struct FarmTotals {
	std::uint32_t servers = 0;
	std::uint32_t up = 0;	 // up and not dead or gone: the ones counted below
	std::uint64_t slots = 0; // of the servers up
	std::uint64_t busy = 0;
	std::uint64_t reserved = 0;
	std::uint64_t wanted = 0;  // every client's want
	std::uint64_t waiting = 0; // wanted beyond what is busy
	double utilisation = 0.0;  // busy / slots, 0 without slots
	std::uint32_t clients = 0;
};

// Requests the query socket answered, by operation, and those it refused.
struct QueryCounts {
	std::uint64_t hosts = 0;
	std::uint64_t stats = 0;
	std::uint64_t farm = 0;
	std::uint64_t watch = 0;
	std::uint64_t setState = 0;
	std::uint64_t setupUser = 0;
	std::uint64_t errors = 0;  // requests answered with an error
	std::uint64_t refused = 0; // connections or watches refused by a limit
};

// The connect probe of stock-only servers, for the "stats" reply.
struct StockProbeReport {
	StockProbeStats counts;
	std::size_t tracked = 0;  // stock-only servers followed now
	std::size_t inFlight = 0; // connects under way
};

// What the "stats" reply holds, typed.
struct FarmStats {
	std::optional<GossipNodeStats> gossip;
	std::string notAdvertising; // empty while advertised
	SpeedStats speed;
	std::optional<StockProbeReport> stockProbe; // nullopt: --probe-stock=no, or --no-resolve
};

struct FarmView {
	static constexpr int kVersion = 1;
	std::uint64_t seq = 0; // grows by one per object the daemon produced
	std::string node;      // this daemon's gossip id, 16 hex digits
	std::string host;      // this machine's host name
	std::int64_t timeMs = 0;
	std::string line; // the hosts line this machine's user would get now (a look)
	std::uint32_t jobs = 0;
	FarmTotals totals;
	std::vector<FarmServer> servers;
	std::vector<FarmClient> clients;
	FarmStats stats;
	QueryCounts queries;
};

// This machine as a client: what its daemon told gossip.
struct OwnClient {
	std::optional<std::uint64_t> node; // nullopt without gossip
	std::string host;
	std::uint32_t want = 0;
	std::uint32_t localSlots = 0;
	std::uint32_t holding = 0;
	std::optional<std::uint32_t> localJobs;
	// Its own addresses (numeric): how servers' client lists name it.
	std::vector<std::string> addresses;
};

// The farm from this machine's @look (a hosts answer that reserves
// nothing), what @gossip knows of every server's clients and of every
// client (null: no gossip) and this machine as a client; history, seq,
// time, stats and queries are left for the caller.
// @hostAt names a gossip peer by its address (GossipNode::hostAt): how
// clients that are no servers get a name.
using PeerHostName = std::function<std::optional<std::string>(const Endpoint &peer)>;
FarmView makeFarmView(const View &look, const Gossip *gossip, const OwnClient &self, SteadyTime now,
		      const PeerHostName &hostAt = {});

// Each client's fair share of @slots when the @wants together exceed them
// (as planHostsLine() splits an overloaded farm: in proportion to demand,
// each want counted at most @slots, no share above its want); empty when
// they fit.
std::vector<std::uint32_t> fairShares(const std::vector<std::uint32_t> &wants, std::uint64_t slots);

// One second of @farm into @history.
void record(History &history, const FarmView &farm);
// Fills the history series of @farm's servers and clients from @history.
void addHistory(FarmView &farm, const History &history);

// What a watcher is told about: the values that matter, not the clock,
// the ages, the history or the counters. Two objects with the same key
// show the same farm.
std::string changeKey(const FarmView &farm);

} // namespace dmdns
