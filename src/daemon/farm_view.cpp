// The typed farm object of the "farm" and "watch" operations: every server and client this daemon knows, with their history.
#include "daemon/farm_view.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "distcc-mdns/gossip_wire.h"

namespace dmdns {

namespace {

// A farm object lists at most gossip's client table; this bounds it
// whatever the table's configuration.
constexpr std::size_t kMaxClients = 1024;

bool isUp(const ServerView &s)
{
	return s.state == ServerState::Up && s.liveness != Liveness::Dead && s.liveness != Liveness::Left;
}

// Who is who: node ids to host names (the servers' TXT) and addresses to
// node ids (the servers' own addresses, then gossip's peers).
struct Names {
	std::map<std::string, std::string> hostById;
	std::map<std::string, std::string> idByAddress;

	std::optional<std::string> name(const std::optional<std::string> &id) const
	{
		if (!id)
			return std::nullopt;
		const auto it = hostById.find(*id);
		return it == hostById.end() || it->second.empty() ? std::nullopt : std::optional(it->second);
	}
};

Names names(const View &look, const Gossip *gossip, const OwnClient &self, const PeerHostName &hostAt)
{
	Names n;
	for (const ServerView &s : look.servers) {
		if (!wire::parseNodeId(s.id))
			continue;
		n.hostById.emplace(s.id, s.host);
		for (const std::string &a : s.addresses)
			n.idByAddress.emplace(a, s.id);
	}
	if (self.node) {
		const std::string id = wire::formatNodeId(*self.node);
		n.hostById[id] = self.host;
		for (const std::string &a : self.addresses)
			n.idByAddress[a] = id;
	}
	if (gossip)
		for (const Endpoint &peer : gossip->peers())
			if (const auto node = gossip->peerNode(peer)) {
				const std::string id = wire::formatNodeId(*node);
				n.idByAddress.emplace(peer.address, id);
				// The record's host name, for the node gossip hears from
				// that very address: a record cannot name another node.
				// A server's own TXT name comes first.
				if (hostAt)
					if (const auto host = hostAt(peer))
						n.hostById.emplace(id, *host);
			}
	return n;
}

std::optional<std::string> nodeOf(const std::string &address, const Gossip *gossip, const Names &names)
{
	if (address.empty())
		return std::nullopt;
	if (gossip)
		if (const auto node = gossip->nodeAt(address))
			return wire::formatNodeId(*node);
	const auto it = names.idByAddress.find(address);
	return it == names.idByAddress.end() ? std::nullopt : std::optional(it->second);
}

std::vector<FarmServerClient> serverClients(const ServerView &s, const Gossip *gossip, const Names &names)
{
	std::vector<FarmServerClient> out;
	const auto id = wire::parseNodeId(s.id);
	if (!gossip || !id)
		return out;
	for (const ClientJobs &c : gossip->serverClients(*id)) {
		FarmServerClient f;
		f.address = c.address;
		f.client = nodeOf(c.address, gossip, names);
		f.name = names.name(f.client);
		f.running = c.running;
		out.push_back(std::move(f));
	}
	return out;
}

// The other clients gossip knows, keyed as its client table keys them
// (the source address, or the node id under a key).
void addOthers(FarmView &farm, const Gossip &gossip, const OwnClient &self, const Names &names, SteadyTime now)
{
	const gossip::ClientTable &table = gossip.clientTable();
	const auto ttl = gossip.config().demandTtl;
	struct Other {
		std::optional<std::uint64_t> node;
		FarmClient client;
	};
	std::map<std::string, Other> others;
	for (const auto &[key, entry] : table.demands()) {
		if (now - entry.origin >= ttl || (self.node && entry.demand.client == *self.node))
			continue;
		Other &o = others[key];
		o.node = entry.demand.client;
		o.client.want = entry.demand.wanted;
		o.client.localSlots = entry.demand.localSlots;
		o.client.ageMs = std::chrono::duration_cast<std::chrono::milliseconds>(now - entry.origin).count();
	}
	for (const auto &[key, entry] : table.reservations()) {
		const auto &[client, server] = key;
		if (entry.reservation.count == 0 ||
		    entry.origin + std::chrono::milliseconds(entry.reservation.ttlMs) <= now ||
		    (self.node && entry.reservation.client == *self.node))
			continue;
		Other &o = others[client];
		if (!o.node)
			o.node = entry.reservation.client;
		o.client.holding += entry.reservation.count;
	}
	for (auto &[key, o] : others) {
		if (farm.clients.size() >= kMaxClients)
			break;
		FarmClient &c = o.client;
		c.id = wire::formatNodeId(*o.node);
		// Without a key the table's key is the source address.
		if (!wire::parseNodeId(key) || key.size() != 16) {
			c.address = key;
		} else {
			for (const auto &[address, id] : names.idByAddress)
				if (id == c.id && !address.empty()) {
					c.address = address;
					break;
				}
		}
		c.name = names.name(c.id);
		c.localJobs = gossip.localJobs(*o.node);
		farm.clients.push_back(std::move(c));
	}
}

// A client's jobs on the servers, as the servers report them: matched by
// node, else by address (this machine: by any of its own).
std::optional<std::uint32_t> runningOf(const FarmClient &client, const std::vector<FarmServer> &servers,
				       const std::vector<std::string> &ownAddresses)
{
	std::optional<std::uint32_t> running;
	for (const FarmServer &s : servers)
		for (const FarmServerClient &c : s.clients) {
			const bool mine = (c.client && *c.client == client.id) ||
					  (client.address && !c.address.empty() && c.address == *client.address) ||
					  (client.self && std::find(ownAddresses.begin(), ownAddresses.end(), c.address) !=
								  ownAddresses.end());
			if (mine)
				running = running.value_or(0) + c.running;
		}
	return running;
}

} // namespace

std::vector<std::uint32_t> fairShares(const std::vector<std::uint32_t> &wants, std::uint64_t slots)
{
	std::uint64_t all = 0;
	for (const std::uint32_t w : wants)
		all += std::min<std::uint64_t>(w, slots);
	if (all <= slots)
		return {};
	std::vector<std::uint32_t> shares;
	shares.reserve(wants.size());
	for (const std::uint32_t w : wants) {
		const std::uint64_t counted = std::min<std::uint64_t>(w, slots);
		shares.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(w, slots * counted / all)));
	}
	return shares;
}

FarmView makeFarmView(const View &look, const Gossip *gossip, const OwnClient &self, SteadyTime now,
		      const PeerHostName &hostAt)
{
	FarmView farm;
	farm.node = self.node ? wire::formatNodeId(*self.node) : std::string();
	farm.host = self.host;
	farm.line = look.line;
	farm.jobs = look.jobs;
	const Names known = names(look, gossip, self, hostAt);

	for (const ServerView &s : look.servers) {
		FarmServer f;
		f.server = s;
		f.fresh = s.ageMs && *s.ageMs >= 0 && std::chrono::milliseconds(*s.ageMs) < kFreshSample;
		f.clients = serverClients(s, gossip, known);
		farm.servers.push_back(std::move(f));
	}

	FarmClient own;
	own.id = farm.node;
	own.name = self.host.empty() ? std::nullopt : std::optional(self.host);
	own.self = true;
	own.want = self.want;
	own.localSlots = self.localSlots;
	own.holding = self.holding;
	own.localJobs = self.localJobs;
	farm.clients.push_back(std::move(own));
	if (gossip)
		addOthers(farm, *gossip, self, known, now);
	for (FarmClient &c : farm.clients)
		c.running = runningOf(c, farm.servers, self.addresses);

	FarmTotals &t = farm.totals;
	t.servers = static_cast<std::uint32_t>(farm.servers.size());
	for (const FarmServer &f : farm.servers) {
		if (!isUp(f.server))
			continue;
		++t.up;
		t.slots += f.server.slots;
		t.busy += f.server.running.value_or(0);
		t.reserved += f.server.reserved;
	}
	std::vector<std::uint32_t> wants;
	for (const FarmClient &c : farm.clients) {
		t.wanted += c.want;
		wants.push_back(c.want);
	}
	t.waiting = t.wanted > t.busy ? t.wanted - t.busy : 0;
	t.utilisation = t.slots > 0 ? static_cast<double>(t.busy) / static_cast<double>(t.slots) : 0.0;
	t.clients = static_cast<std::uint32_t>(farm.clients.size());
	const std::vector<std::uint32_t> shares = fairShares(wants, t.slots);
	for (std::size_t i = 0; i < shares.size(); ++i)
		farm.clients[i].share = shares[i];
	return farm;
}

void record(History &history, const FarmView &farm)
{
	std::vector<History::Point> servers, clients;
	std::set<std::uint64_t> seen;
	for (const FarmServer &f : farm.servers)
		if (const auto id = wire::parseNodeId(f.server.id); id && seen.insert(*id).second)
			servers.push_back({ *id, f.server.running.value_or(0), f.server.reserved });
	for (const FarmClient &c : farm.clients)
		if (const auto id = wire::parseNodeId(c.id))
			clients.push_back({ *id, c.want, c.share.value_or(c.want) });
	history.tick(servers, clients);
}

void addHistory(FarmView &farm, const History &history)
{
	for (FarmServer &f : farm.servers)
		if (const auto id = wire::parseNodeId(f.server.id)) {
			History::Series s = history.server(*id);
			f.busyHistory = std::move(s.first);
			f.reservedHistory = std::move(s.second);
		}
	for (FarmClient &c : farm.clients)
		if (const auto id = wire::parseNodeId(c.id)) {
			History::Series s = history.client(*id);
			c.wantHistory = std::move(s.first);
			c.shareHistory = std::move(s.second);
		}
}

std::string changeKey(const FarmView &farm)
{
	std::string key = fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}\n", farm.line, farm.jobs, farm.totals.servers,
				      farm.totals.up, farm.totals.slots, farm.totals.busy, farm.totals.reserved,
				      farm.totals.wanted, farm.totals.clients);
	for (const FarmServer &f : farm.servers) {
		const ServerView &s = f.server;
		key += fmt::format("s {} {} {} {} {} {} {} {} {}", s.id, s.name, stateName(s.state),
				   static_cast<int>(s.liveness), s.running.value_or(~0u), s.reserved, s.slots, f.fresh,
				   s.limit);
		for (const FarmServerClient &c : f.clients)
			key += fmt::format(" {}={}", c.address, c.running);
		key += '\n';
	}
	for (const FarmClient &c : farm.clients)
		key += fmt::format("c {} {} {} {} {} {} {}\n", c.id, c.want, c.share.value_or(~0u), c.holding,
				   c.running.value_or(~0u), c.localJobs.value_or(~0u), c.localSlots);
	return key;
}

} // namespace dmdns
