// Other clients' demand and reservations, counted per client and bounded by what a client may take.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "distcc-mdns/directory.h"
#include "distcc-mdns/gossip/server_table.h"
#include "distcc-mdns/gossip_wire.h"

namespace dmdns {

struct DemandSummary {
	std::uint64_t wanted = 0;     // remote jobs all clients ask for, this one included
	std::uint64_t localSlots = 0; // of those clients
	std::uint32_t clients = 0;    // clients asking for at least one job
};

} // namespace dmdns

namespace dmdns::gossip {

// What counts of @d's demand: at most the farm's @capacity.
std::uint64_t capped(const wire::Demand &d, std::uint64_t capacity) noexcept;

// Entries are keyed by who the client is: its source address without a
// key (one client per address, whatever ids it invents), its id when a key
// vouches for it. A client counts once: its demand at most up to the
// farm's capacity, and its reservations together at most up to its demand,
// so that no claim makes a client take more than one client's share.
class ClientTable final
{
public:
	ClientTable(std::size_t maxClients, std::size_t maxReservations, std::chrono::milliseconds demandTtl);

	Verdict demand(const std::string &client, const wire::Demand &d, SteadyTime now);
	Verdict reservation(const std::string &client, const wire::Reservation &r, SteadyTime now);
	// The client left: its demand and reservations go.
	void forget(const std::string &client);
	void expire(SteadyTime now);

	// Every live client's demand, each capped at @capacity: added up, and
	// one by one in client order.
	struct Tally {
		DemandSummary summary;
		std::vector<std::uint32_t> each;
	};
	Tally tally(SteadyTime now, std::uint64_t capacity) const;
	DemandSummary summary(SteadyTime now, std::uint64_t capacity) const { return tally(now, capacity).summary; }
	std::vector<std::uint32_t> wants(SteadyTime now, std::uint64_t capacity) const
	{
		return tally(now, capacity).each;
	}

	// A server asked about, and when its newest sample was measured.
	struct Sampled {
		std::uint64_t server = 0;
		std::optional<SteadyTime> sampled;
	};
	// Per server, the jobs reserved on it not yet in its sample (measured
	// at Sampled::sampled), each client's reservations scaled to its capped
	// demand; one walk of the table whatever the number of servers.
	std::vector<std::uint32_t> reservedOn(std::span<const Sampled> servers, std::chrono::milliseconds coverAfter,
					      SteadyTime now, std::uint64_t capacity) const;
	std::uint32_t reservedOn(std::uint64_t server, std::optional<SteadyTime> sampled,
				 std::chrono::milliseconds coverAfter, SteadyTime now, std::uint64_t capacity) const;

	struct DemandEntry {
		wire::Demand demand;
		SteadyTime origin{};
	};
	struct ReservationEntry {
		wire::Reservation reservation;
		SteadyTime origin{};
	};
	const std::map<std::string, DemandEntry> &demands() const noexcept { return demands_; }
	const std::map<std::pair<std::string, std::uint64_t>, ReservationEntry> &reservations() const noexcept
	{
		return reservations_;
	}
	std::uint64_t evicted() const noexcept { return evicted_; }

private:
	bool live(const ReservationEntry &e, SteadyTime now) const;

	std::size_t maxClients_;
	std::size_t maxReservations_;
	std::chrono::milliseconds demandTtl_;
	std::map<std::string, DemandEntry> demands_;
	std::map<std::pair<std::string, std::uint64_t>, ReservationEntry> reservations_; // client, server
	std::uint64_t evicted_ = 0;
};

} // namespace dmdns::gossip
