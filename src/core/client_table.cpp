// Other clients' demand and reservations, counted per client and bounded by what a client may take.
#include "distcc-mdns/gossip/client_table.h"

#include <algorithm>
#include <stdexcept>

namespace dmdns::gossip {

namespace {

using std::chrono::milliseconds;

// Whether (incarnation, sequence) @a supersedes @b, for one client id; a
// record under another id from the same client replaces it outright.
template <typename Record>
bool supersedes(const Record &a, const Record &b, std::uint64_t idA, std::uint64_t idB) noexcept
{
	if (idA != idB)
		return true;
	return a.incarnation != b.incarnation ? a.incarnation > b.incarnation : a.sequence > b.sequence;
}

} // namespace

std::uint64_t capped(const wire::Demand &d, std::uint64_t capacity) noexcept
{
	// As a local request's want is clamped: remote jobs beyond the farm's
	// slots cannot run anywhere, so no claim counts for more.
	return std::min<std::uint64_t>(d.wanted, capacity);
}

ClientTable::ClientTable(std::size_t maxClients, std::size_t maxReservations, milliseconds demandTtl)
	: maxClients_(maxClients), maxReservations_(maxReservations), demandTtl_(demandTtl)
{
	if (maxClients == 0 || maxReservations == 0)
		throw std::invalid_argument("client table needs room");
}

Verdict ClientTable::demand(const std::string &client, const wire::Demand &d, SteadyTime now)
{
	if (milliseconds(d.ageMs) >= demandTtl_)
		return Verdict::Stale;
	const SteadyTime origin = now - milliseconds(d.ageMs);
	auto it = demands_.find(client);
	if (it != demands_.end()) {
		if (!supersedes(d, it->second.demand, d.client, it->second.demand.client))
			return Verdict::Stale;
		it->second = DemandEntry{ d, origin };
		return Verdict::Applied;
	}
	if (demands_.size() >= maxClients_) {
		auto victim = std::min_element(demands_.begin(), demands_.end(), [](const auto &a, const auto &b) {
			return a.second.origin < b.second.origin;
		});
		++evicted_;
		if (victim->second.origin >= origin)
			return Verdict::Refused;
		demands_.erase(victim);
	}
	demands_.emplace(client, DemandEntry{ d, origin });
	return Verdict::Applied;
}

Verdict ClientTable::reservation(const std::string &client, const wire::Reservation &r, SteadyTime now)
{
	const auto key = std::make_pair(client, r.server);
	auto it = reservations_.find(key);
	if (it != reservations_.end() &&
	    !supersedes(r, it->second.reservation, r.client, it->second.reservation.client))
		return Verdict::Stale;
	if (it == reservations_.end() && reservations_.size() >= maxReservations_) {
		// The one to expire first is worth least.
		reservations_.erase(std::min_element(reservations_.begin(), reservations_.end(), [](const auto &a, const auto &b) {
			return a.second.origin + milliseconds(a.second.reservation.ttlMs) <
			       b.second.origin + milliseconds(b.second.reservation.ttlMs);
		}));
		++evicted_;
	}
	reservations_[key] = ReservationEntry{ r, now - milliseconds(r.ageMs) };
	return Verdict::Applied;
}

void ClientTable::forget(const std::string &client)
{
	demands_.erase(client);
	std::erase_if(reservations_, [&](const auto &kv) { return kv.first.first == client; });
}

bool ClientTable::live(const ReservationEntry &e, SteadyTime now) const
{
	return e.reservation.count > 0 && e.origin + milliseconds(e.reservation.ttlMs) > now;
}

void ClientTable::expire(SteadyTime now)
{
	std::erase_if(demands_, [&](const auto &kv) { return now - kv.second.origin >= demandTtl_; });
	std::erase_if(reservations_, [&](const auto &kv) {
		return kv.second.origin + milliseconds(kv.second.reservation.ttlMs) <= now;
	});
}

ClientTable::Tally ClientTable::tally(SteadyTime now, std::uint64_t capacity) const
{
	Tally out;
	for (const auto &[client, e] : demands_) {
		if (now - e.origin >= demandTtl_ || e.demand.wanted == 0)
			continue;
		const std::uint64_t wanted = capped(e.demand, capacity);
		out.summary.wanted += wanted;
		out.summary.localSlots += e.demand.localSlots;
		++out.summary.clients;
		out.each.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(wanted, UINT32_MAX)));
	}
	return out;
}

std::vector<std::uint32_t> ClientTable::reservedOn(std::span<const Sampled> servers, milliseconds coverAfter,
						   SteadyTime now, std::uint64_t capacity) const
{
	// Each client's live reservations together, to scale them down to
	// what its demand lets it hold.
	std::map<std::string, std::uint64_t> totals;
	for (const auto &[key, e] : reservations_)
		if (live(e, now))
			totals[key.first] += e.reservation.count;
	std::map<std::string, double> scales;
	for (const auto &[client, held] : totals) {
		std::uint64_t allowed = 0;
		if (auto d = demands_.find(client); d != demands_.end() && now - d->second.origin < demandTtl_)
			allowed = capped(d->second.demand, capacity);
		scales[client] = held > allowed ? static_cast<double>(allowed) / static_cast<double>(held) : 1.0;
	}
	// Per server asked about, when its sample was measured and the jobs
	// reserved on it, added in table order.
	std::map<std::uint64_t, std::pair<std::optional<SteadyTime>, double>> sums;
	for (const Sampled &s : servers)
		sums.try_emplace(s.server, s.sampled, 0.0);
	for (const auto &[key, e] : reservations_) {
		auto it = sums.find(key.second);
		if (it == sums.end() || !live(e, now))
			continue;
		// The server's own later sample already counts these jobs.
		const std::optional<SteadyTime> &sampled = it->second.first;
		if (sampled && *sampled > e.origin + coverAfter)
			continue;
		it->second.second += e.reservation.count * scales.at(key.first);
	}
	std::vector<std::uint32_t> out;
	out.reserve(servers.size());
	for (const Sampled &s : servers)
		out.push_back(static_cast<std::uint32_t>(std::min<double>(sums.at(s.server).second + 1e-9, UINT32_MAX)));
	return out;
}

std::uint32_t ClientTable::reservedOn(std::uint64_t server, std::optional<SteadyTime> sampled,
				      milliseconds coverAfter, SteadyTime now, std::uint64_t capacity) const
{
	const Sampled one{ server, sampled };
	return reservedOn(std::span<const Sampled>(&one, 1), coverAfter, now, capacity).front();
}

} // namespace dmdns::gossip
