// What this node believes of who runs jobs where: servers' client lists and clients' local jobs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "distcc-mdns/directory.h"
#include "distcc-mdns/gossip/server_table.h"
#include "distcc-mdns/gossip_wire.h"

namespace dmdns::gossip {

// Per server, the list of clients it last said run jobs on it (CLIENTS,
// assembled from its parts), and per client its local jobs (LOCAL_JOBS).
// Trust follows the samples': a node's own word ("first hand") replaces
// what is held whenever it is newer than its last own word, whatever
// relays said; a trusted relay's copy only when newer than what is held,
// and for a server's list only of the run the server's own samples speak
// for. Both tables are bounded; the least recently heard entry goes.
class JobsTable final
{
public:
	struct List {
		std::uint64_t incarnation = 0;
		std::uint64_t sequence = 0;
		std::vector<wire::ClientEntry> entries; // as sent: busiest first
		std::uint32_t others = 0;
	};
	struct Local {
		wire::LocalJobs record;
		SteadyTime heard{}; // its last copy, first hand or relayed
	};

	JobsTable(std::size_t maxServers, std::size_t maxClients, std::chrono::milliseconds forgetAfter);

	// One part of @c.server's list; @run is the incarnation the server's own
	// samples speak for (ServerTable's anchor; with none, the held sample's).
	// A relayed part of another run is Refused. Applied when it completed a
	// list that replaced the held one, or was kept until the rest comes.
	Verdict clients(const wire::Clients &c, bool firstHand, std::uint64_t run, SteadyTime now);
	Verdict localJobs(const wire::LocalJobs &l, bool firstHand, SteadyTime now);

	const List *clientsOf(std::uint64_t server) const;
	const Local *localOf(std::uint64_t client) const;

	// A node left (runs up to @incarnation): what it said goes.
	void forget(std::uint64_t node, std::uint64_t incarnation);
	// Lists of servers @known no longer reports go (a server's list lives
	// as long as its samples: it is sent on change only), and local jobs
	// not heard for forgetAfter.
	void expire(SteadyTime now, const std::function<bool(std::uint64_t server)> &known);

	const std::map<std::uint64_t, Local> &locals() const noexcept { return locals_; }
	std::vector<std::uint64_t> listed() const;
	std::uint64_t evicted() const noexcept { return evicted_; }
	// Every part of @list, as the server sent it (for a push-pull answer).
	static std::vector<wire::Clients> parts(std::uint64_t server, const List &list);

private:
	struct Key {
		std::uint64_t incarnation = 0;
		std::uint64_t sequence = 0;
		auto operator<=>(const Key &) const = default;
	};
	struct Pending {
		Key key;
		bool firstHand = false;
		std::uint8_t parts = 1;
		std::uint8_t have = 0; // a bit per part received
		std::vector<wire::Clients> got;
	};
	struct Server {
		std::optional<List> held;
		std::optional<Key> anchor; // the server's own last complete list
		std::optional<Pending> pending;
		SteadyTime heard{};
	};
	Verdict complete(Server &s);

	std::size_t maxServers_;
	std::size_t maxClients_;
	std::chrono::milliseconds forgetAfter_;
	std::map<std::uint64_t, Server> servers_;
	std::map<std::uint64_t, Local> locals_;
	std::map<std::uint64_t, Key> localAnchors_;
	std::uint64_t evicted_ = 0;
};

} // namespace dmdns::gossip
