// Runs the gossip protocol on a UDP socket: peers from mDNS and --peer, ticks, a clean leave.
#include "daemon/gossip_node.h"

#include <algorithm>
#include <cstring>

#include <arpa/inet.h>
#include <net/if.h>

#include <fmt/format.h>

#include "common/log.h"
#include "distcc-mdns/host_port.h"
#include "distcc-mdns/live.h"
#include "host/probe.h"

namespace dmdns {

namespace {

using std::chrono::milliseconds;

// Names in --peer are looked up again this often: DHCP moves hosts.
constexpr milliseconds kLookupInterval{ 60000 };

// How long an IPv6 sighting of a name waits for an IPv4 one (instanceResolved).
constexpr milliseconds kIPv6Hold{ 500 };

bool isIPv4(const Endpoint &e)
{
	return e.address.find(':') == std::string::npos;
}

Endpoint endpointOf(const sockaddr_storage &address)
{
	char text[INET6_ADDRSTRLEN] = {};
	if (address.ss_family == AF_INET) {
		const auto &in = reinterpret_cast<const sockaddr_in &>(address);
		::inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
		return { text, ntohs(in.sin_port) };
	}
	const auto &in6 = reinterpret_cast<const sockaddr_in6 &>(address);
	::inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
	// fmt, not operator+ on strings: GCC 12 at -O3 warns falsely there.
	if (in6.sin6_scope_id != 0)
		return { fmt::format("{}%{}", text, in6.sin6_scope_id), ntohs(in6.sin6_port) };
	return { text, ntohs(in6.sin6_port) };
}

// The address gossip sends to for an mDNS sighting: link-local IPv6 needs
// its interface.
std::optional<Endpoint> endpointOf(const ResolvedInstance &instance)
{
	if (!instance.address || instance.port == 0)
		return std::nullopt;
	const Address &a = *instance.address;
	if (a.isLinkLocal() && a.family == Address::Family::IPv6) {
		if (a.scope == 0)
			return std::nullopt;
		return Endpoint{ fmt::format("{}%{}", a.text, a.scope), instance.port };
	}
	return Endpoint{ a.text, instance.port };
}

std::string publishedName()
{
	return "distcc-mdns@" + host::hostName();
}

} // namespace

GossipNode::GossipNode(uv_loop_t &loop, avahi::Mdns &mdns, GossipNodeConfig config, GossipIo io)
	: loop_(loop), config_(std::move(config)),
	  loopClock_(io.clock ? nullptr : std::make_unique<uv::LoopClock>(loop)),
	  clock_(io.clock ? *io.clock : *loopClock_),
	  gossip_([this] {
		  GossipConfig c = config_.gossip;
		  c.random = net::randomU64;
		  if (!config_.keys.empty()) {
			  const std::vector<net::Authenticator> &keys = config_.keys;
			  c.sign = [&keys](std::span<const std::uint8_t> body,
					   std::span<std::uint8_t, wire::kTagSize> tag) {
				  const std::vector<std::uint8_t> signed_ = keys.front().sign(body);
				  std::copy(signed_.end() - wire::kTagSize, signed_.end(), tag.begin());
			  };
			  c.verify = [&keys](std::span<const std::uint8_t> datagram) {
				  return std::any_of(keys.begin(), keys.end(), [&](const net::Authenticator &key) {
					  return key.verify(datagram).has_value();
				  });
			  };
		  }
		  return c;
	  }()),
	  socket_([&] {
		  uv::DatagramSocket::OnDatagram onDatagram = [this](std::span<const std::uint8_t> data,
								     const sockaddr_storage &from) { received(data, from); };
		  if (io.socket)
			  return io.socket(std::move(onDatagram));
		  return std::unique_ptr<uv::DatagramSocket>(std::make_unique<uv::Udp>(loop, std::move(onDatagram)));
	  }()),
	  timer_(clock_.alarm([this] { tick(); })), lookupTimer_(clock_.alarm([this] {
		  for (StaticPeer &p : static_)
			  lookUp(p);
	  })),
	  publisher_(mdns.publisher()), browser_(mdns.browse(std::string(kGossipServiceType), *this))
{
	socket_->bind("::", config_.port);
	for (const std::string &domain : config_.domains)
		domainBrowsers_.push_back(mdns.browse(std::string(kGossipServiceType), *this, domain));
	for (const HostPort &spec : config_.peers) {
		static_.push_back({ spec, {}, nullptr });
		StaticPeer &p = static_.back();
		if (uv::resolveNumeric(spec.host, spec.port))
			p.addresses = { spec.host };
	}
	static_.shrink_to_fit(); // lookups keep pointers into it from here on
	bool names = false;
	for (StaticPeer &p : static_) {
		if (p.addresses.empty()) {
			lookUp(p);
			names = true;
		}
	}
	if (names)
		lookupTimer_->start(kLookupInterval, kLookupInterval);
	syncPeers();

	avahi::ServiceSpec spec;
	spec.name = publishedName();
	spec.type = std::string(kGossipServiceType);
	spec.port = socket_->localPort();
	spec.txt = { "id=" + wire::formatNodeId(config_.gossip.node) };
	publisher_->publish(std::move(spec));
	log(LogLevel::Info, "gossip on udp port {} as node {}{}", socket_->localPort(),
	    wire::formatNodeId(config_.gossip.node),
	    config_.keys.empty() ? "" : config_.keys.size() > 1 ? ", authenticated (two keys)"
								: ", authenticated");
	timer_->start(milliseconds(0));
}

GossipNode::~GossipNode() = default;

void GossipNode::lookUp(StaticPeer &peer)
{
	if (uv::resolveNumeric(peer.spec.host, peer.spec.port) || (peer.lookup && peer.lookup->pending()))
		return;
	StaticPeer *p = &peer;
	peer.lookup = std::make_unique<uv::Lookup>(
		loop_, peer.spec.host, [this, p](std::vector<std::string> addresses, std::string error) {
			if (addresses.empty()) {
				log(LogLevel::Warning, "peer {}: {}", p->spec.host, error.empty() ? "no address" : error);
				return;
			}
			// One address per peer: a host is one node.
			addresses.resize(1);
			if (addresses != p->addresses) {
				log(LogLevel::Info, "peer {} is {}", p->spec.host, addresses.front());
				for (const std::string &old : p->addresses)
					gossip_.removePeer({ old, p->spec.port });
				p->addresses = std::move(addresses);
				syncPeers();
			}
		});
}

void GossipNode::syncPeers()
{
	std::set<Endpoint> wanted, named;
	for (const auto &[key, endpoint] : seen_) {
		wanted.insert(endpoint);
		// A --domain record is the administrator's word, as a --peer is,
		// and its node, on another subnet, may not know us: it is asked for
		// its news as a --peer is.
		if (key.domain != "local")
			named.insert(endpoint);
	}
	for (const Endpoint &e : mdnsPeers_)
		if (!wanted.contains(e))
			gossip_.removePeer(e);
	for (const Endpoint &e : wanted)
		gossip_.addPeer(e, named.contains(e));
	mdnsPeers_ = std::move(wanted);
	for (const StaticPeer &p : static_)
		for (const std::string &a : p.addresses)
			gossip_.addPeer({ a, p.spec.port }, true);
	repin();
}

void GossipNode::instanceResolved(const ResolvedInstance &instance)
{
	if (instance.local)
		return;
	// The id in the TXT tells our own record apart when Avahi does not flag
	// it (another interface of this host).
	for (const std::string &item : instance.txt)
		if (item == "id=" + wire::formatNodeId(config_.gossip.node))
			return;
	const std::optional<Endpoint> endpoint = endpointOf(instance);
	if (!endpoint) {
		instanceRemoved(instance.key);
		return;
	}
	// One endpoint per instance name: IPv4 sightings win over IPv6 ones.
	// Both ends must settle on the same family from the start: a receiver
	// binds a node to the first address it speaks from (PeerTable::
	// speaksFor) and refuses its others until that one has been silent for
	// deadAfter. Avahi often resolves the IPv6 sighting of a dual-stack
	// host first; taken at once and replaced by the IPv4 one a moment
	// later, it moved the node's datagrams from its link-local address to
	// its IPv4 one, and peers that had bound the first counted it dead for
	// deadAfter (lan-gossip-scale, 1 run in 5; the two sightings came 40 ms
	// apart there). An IPv6 sighting therefore
	// waits kIPv6Hold for an IPv4 one (tick() takes it after that: on an
	// IPv6-only LAN), unless the name is already reached over IPv6.
	bool haveV6 = false;
	for (const auto &[key, e] : seen_) {
		if (key.name != instance.key.name || key.domain != instance.key.domain)
			continue;
		if (key != instance.key && isIPv4(e) && !isIPv4(*endpoint))
			return;
		haveV6 = haveV6 || !isIPv4(e);
	}
	if (!isIPv4(*endpoint) && !haveV6) {
		const SteadyTime now = clock_.now();
		auto [it, added] = heldV6_.try_emplace(instance.key, Held{ *endpoint, instance.hostName, now });
		if (!added) {
			it->second.endpoint = *endpoint;
			it->second.hostName = instance.hostName;
		}
		return;
	}
	std::erase_if(heldV6_, [&](const auto &kv) {
		return kv.first.name == instance.key.name && kv.first.domain == instance.key.domain;
	});
	accept(instance.key, *endpoint, instance.hostName);
}

void GossipNode::accept(const InstanceKey &key, const Endpoint &endpoint, const std::string &hostName)
{
	const auto sameName = [&](const auto &kv) {
		return kv.first.name == key.name && kv.first.domain == key.domain && kv.first != key;
	};
	std::erase_if(seen_, sameName);
	std::erase_if(hostNames_, sameName);
	seen_[key] = endpoint;
	hostNames_[key] = hostName;
	syncPeers();
}

void GossipNode::takeHeld(SteadyTime now)
{
	for (auto it = heldV6_.begin(); it != heldV6_.end();) {
		if (now - it->second.since < kIPv6Hold) {
			++it;
			continue;
		}
		const InstanceKey key = it->first;
		const Held held = std::move(it->second);
		it = heldV6_.erase(it);
		accept(key, held.endpoint, held.hostName);
	}
}

void GossipNode::instanceRemoved(const InstanceKey &key)
{
	heldV6_.erase(key);
	hostNames_.erase(key);
	if (seen_.erase(key))
		syncPeers();
}

std::optional<std::string> GossipNode::hostAt(const Endpoint &peer) const
{
	for (const auto &[key, endpoint] : seen_)
		if (endpoint == peer) {
			const auto it = hostNames_.find(key);
			if (it != hostNames_.end() && !it->second.empty())
				return it->second;
		}
	return std::nullopt;
}

void GossipNode::browserReset()
{
	// avahi-daemon went away: keep gossiping with the peers we know, since
	// gossip does not need it; they are dropped when they leave or fall
	// silent, and the browser reports them again when it is back.
}

void GossipNode::setListed(std::vector<std::uint64_t> ids)
{
	listed_ = std::move(ids);
	repin();
}

void GossipNode::repin()
{
	// A --peer is configured, so its address speaks for the node it
	// answers as; every other node is bound to the first address it
	// speaks from (mDNS, which anyone may forge, vouches for nobody).
	std::vector<std::uint64_t> pins = listed_;
	std::map<std::uint64_t, std::set<std::string>> vouched;
	for (const StaticPeer &p : static_)
		for (const std::string &a : p.addresses)
			if (auto node = gossip_.peerNode({ a, p.spec.port })) {
				pins.push_back(*node);
				vouched[*node].insert(a);
			}
	gossip_.pin(pins);
	gossip_.vouch(std::move(vouched));
}

void GossipNode::handedOut(const std::vector<std::pair<std::uint64_t, std::uint32_t>> &reservations,
			   std::uint32_t want, std::uint32_t localSlots)
{
	const SteadyTime now = clock_.now();
	for (const auto &[server, count] : reservations)
		gossip_.reserve(server, count, now);
	gossip_.setDemand(want, localSlots, now);
	demandAt_ = now;
}

std::vector<DirectoryEntry> GossipNode::peerServers(SteadyTime now) const
{
	std::vector<DirectoryEntry> out;
	for (const StaticPeer &p : static_) {
		for (const std::string &a : p.addresses) {
			const auto node = gossip_.peerNode({ a, p.spec.port });
			if (!node || std::find(listed_.begin(), listed_.end(), *node) != listed_.end())
				continue;
			const auto server = gossip_.server(*node, now);
			const auto address = Address::parse(a.substr(0, a.find('%')));
			if (!server || !address || server->liveness == Liveness::Dead || server->liveness == Liveness::Left)
				continue;
			out.push_back(peerEntry(*server, *address, p.spec.host));
		}
	}
	// Servers of other subnets a trusted relay told of (WHERE), alive by
	// their own gossip; named by their address, as nothing else names them.
	for (const RelayedServer &r : gossip_.relayedServers(now)) {
		if (std::find(listed_.begin(), listed_.end(), r.id) != listed_.end() ||
		    std::any_of(out.begin(), out.end(),
				[&](const DirectoryEntry &e) { return e.server.id == wire::formatNodeId(r.id); }))
			continue;
		const auto server = gossip_.server(r.id, now);
		const auto address = Address::parse(r.at.address);
		if (server && address)
			out.push_back(peerEntry(*server, *address, r.at.address));
	}
	return out;
}

void GossipNode::received(std::span<const std::uint8_t> data, const sockaddr_storage &from)
{
	if (left_)
		return;
	const SteadyTime now = clock_.now();
	const Endpoint source = endpointOf(from);
	const std::uint64_t before = gossip_.stats().unauthenticated;
	send(gossip_.receive(source, data, now));
	if (gossip_.stats().unauthenticated != before)
		failedAuthentication(source.address, now);
}

void GossipNode::failedAuthentication(const std::string &address, SteadyTime now)
{
	auto it = std::find_if(authSources_.begin(), authSources_.end(),
			       [&](const AuthSource &s) { return s.address == address; });
	if (it == authSources_.end()) {
		// Once per source while it is remembered: a peer with another key
		// sends every round. A table full of sources may be a flood of
		// forged addresses: then at most one warning a minute.
		const bool full = authSources_.size() >= kMaxAuthSources;
		const bool warn = !full || !authWarnedFull_ || now - *authWarnedFull_ >= std::chrono::minutes(1);
		if (full && warn)
			authWarnedFull_ = now;
		log(warn ? LogLevel::Warning : LogLevel::Debug,
		    "gossip: a datagram from {} failed authentication: does it have a different --key-file? "
		    "(distcc-mdns-hosts --status counts them)",
		    address);
		if (authSources_.size() >= kMaxAuthSources)
			authSources_.erase(std::min_element(
				authSources_.begin(), authSources_.end(),
				[](const AuthSource &a, const AuthSource &b) { return a.last < b.last; }));
		it = authSources_.insert(authSources_.end(), AuthSource{ address, 0, now });
	}
	++it->count;
	it->last = now;
}

void GossipNode::send(const std::vector<Datagram> &datagrams)
{
	for (const Datagram &d : datagrams) {
		const auto to = uv::resolveNumeric(d.to.address, d.to.port);
		if (!to) {
			++unsendable_;
			continue;
		}
		socket_->send(*to, d.bytes);
	}
}

void GossipNode::tick()
{
	const SteadyTime now = clock_.now();
	if (demandAt_ && now - *demandAt_ >= config_.demandHold) {
		gossip_.setDemand(0, 0, now);
		demandAt_.reset();
	}
	takeHeld(now);
	send(gossip_.tick(now));
	// Peers introduced by --peer become pinned once they said who they are.
	repin();
	logPeerChanges(now);
	schedule();
}

void GossipNode::logPeerChanges(SteadyTime now)
{
	if (!logEnabled(LogLevel::Info))
		return;
	std::map<Endpoint, std::pair<std::uint64_t, Liveness>> current;
	for (const Endpoint &e : gossip_.peers())
		if (const auto node = gossip_.peerNode(e))
			current[e] = { *node, gossip_.liveness(*node, now) };
	for (const auto &[endpoint, state] : current) {
		const auto &[node, liveness] = state;
		const std::string who = fmt::format("gossip peer {} at {}", wire::formatNodeId(node),
						    formatHostPort({ endpoint.address, endpoint.port }));
		const auto it = told_.find(endpoint);
		if (it == told_.end() || it->second.first != node) {
			// A node that sends no load sample is a client (another
			// machine's or a per-user daemon), not a server.
			log(LogLevel::Info, "{} joined ({})", who,
			    liveness == Liveness::Unknown ? "a client, no server" : livenessName(liveness));
			continue;
		}
		if (it->second.second == liveness)
			continue;
		switch (liveness) {
		case Liveness::Alive:
			log(LogLevel::Info, "{} is alive{}", who,
			    it->second.second == Liveness::Unknown ? ": its server is sampled" : " again");
			break;
		case Liveness::Suspect:
			log(LogLevel::Info, "{} is suspected: no fresh sample for {} ms", who,
			    config_.gossip.suspectAfter.count());
			break;
		case Liveness::Dead:
			log(LogLevel::Info, "{} left: suspected dead, no fresh sample for {} ms", who,
			    config_.gossip.deadAfter.count());
			break;
		case Liveness::Left:
			log(LogLevel::Info, "{} left: it said goodbye", who);
			break;
		case Liveness::Unknown:
			break;
		}
	}
	for (const auto &[endpoint, state] : told_)
		if (!current.contains(endpoint))
			log(LogLevel::Info, "gossip peer {} at {} is no longer a peer (mDNS no longer lists it)",
			    wire::formatNodeId(state.first), formatHostPort({ endpoint.address, endpoint.port }));
	told_ = std::move(current);
}

void GossipNode::schedule()
{
	const auto wait = std::chrono::duration_cast<milliseconds>(gossip_.nextTick() - clock_.now());
	timer_->start(std::clamp(wait + milliseconds(1), milliseconds(1), config_.gossip.period));
}

void GossipNode::leave()
{
	if (left_)
		return;
	send(gossip_.leave(clock_.now()));
	left_ = true;
	timer_->stop();
	lookupTimer_->stop();
	publisher_->withdraw();
}

GossipNodeStats GossipNode::stats() const
{
	const SteadyTime now = clock_.now();
	GossipNodeStats out;
	out.node = wire::formatNodeId(config_.gossip.node);
	out.incarnation = gossip_.incarnation();
	out.port = socket_->localPort();
	out.keys = config_.keys.size();
	for (const Endpoint &e : gossip_.peers())
		out.peers.push_back(formatHostPort({ e.address, e.port }));
	out.counters = gossip_.stats();
	out.unsendable = unsendable_;
	out.servers = gossip_.serverCount();
	out.reservations = gossip_.reservationCount();
	out.demands = gossip_.demandCount();
	out.leaves = gossip_.leaveCount();
	out.demand = gossip_.demand(now);
	out.othersWanted = gossip_.othersDemand(now).summary.wanted;
	for (const AuthSource &a : authSources_)
		out.authFailures.push_back(
			{ a.address, a.count,
			  std::chrono::duration_cast<std::chrono::milliseconds>(now - a.last).count() });
	std::sort(out.authFailures.begin(), out.authFailures.end(),
		  [](const AuthFailure &a, const AuthFailure &b) { return a.agoMs < b.agoMs; });
	return out;
}

} // namespace dmdns
