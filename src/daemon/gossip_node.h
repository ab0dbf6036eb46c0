// Runs the gossip protocol on a UDP socket: peers from mDNS and --peer, ticks, a clean leave.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "avahi/mdns.h"
#include "daemon/view.h"
#include "distcc-mdns/gossip.h"
#include "distcc-mdns/host_port.h"
#include "distcc-mdns/text.h"
#include "net/auth.h"
#include "uv/clock.h"
#include "uv/dns.h"
#include "uv/udp.h"

namespace dmdns {

inline constexpr std::string_view kGossipServiceType = "_distcc-mdns._udp";

struct GossipNodeConfig {
	GossipConfig gossip;		  // node id and incarnation set by the caller
	std::uint16_t port = kDistccPort; // UDP, ours and the peers' default
	std::vector<HostPort> peers;	  // --peer
	// --domain: the peers' advertisements are browsed there too (unicast
	// DNS-SD), besides .local.
	std::vector<std::string> domains;
	// --key-file, at most two: the first signs, either verifies, so that a
	// farm rotates keys without a flag day (docs/security.md).
	std::vector<net::Authenticator> keys;
	// A client's demand lasts this long after its last hosts query.
	std::chrono::milliseconds demandHold{ 30000 };
};

// What the query socket's "stats" reports of a node (docs/query-socket.md).
struct GossipNodeStats {
	std::string node; // its id, 16 hex digits
	std::uint64_t incarnation = 0;
	std::uint16_t port = 0;
	std::size_t keys = 0;		// --key-file count; 0: unauthenticated
	std::vector<std::string> peers; // HOST:PORT, [IPV6]:PORT
	GossipStats counters;
	std::uint64_t unsendable = 0; // datagrams the socket refused
	std::size_t servers = 0, reservations = 0, demands = 0, leaves = 0;
	DemandSummary demand;		// every client's, this one's included
	std::uint64_t othersWanted = 0; // the other clients' remote jobs
	// Sources of datagrams that failed authentication, most recent first.
	std::vector<AuthFailure> authFailures;
};

// The clock and the socket a GossipNode runs on; what is unset is libuv's
// (steady_clock with uv::Timer, uv::Udp). Tests pass fakes.
struct GossipIo {
	uv::Clock *clock = nullptr; // borrowed
	std::function<std::unique_ptr<uv::DatagramSocket>(uv::DatagramSocket::OnDatagram)> socket;
};

// Owns the gossip state, its socket and timer, the `_distcc-mdns._udp`
// advertisement of its port and the browser that finds the peers'.
class GossipNode final : public avahi::BrowserHandler
{
public:
	// Borrows @loop (for name lookups and what @io leaves unset) and @mdns
	// (avahi::Client, or a fake) for its lifetime; binds the UDP port
	// (throws std::system_error if taken).
	GossipNode(uv_loop_t &loop, avahi::Mdns &mdns, GossipNodeConfig config, GossipIo io = {});
	~GossipNode();

	const Gossip &gossip() const noexcept { return gossip_; }
	// The mDNS host name of the `_distcc-mdns._udp` record that made
	// @peer a peer (nullopt: a static peer, or not one): a name for
	// clients, which publish no `_distcc._tcp` record.
	std::optional<std::string> hostAt(const Endpoint &peer) const;
	Gossip &gossip() noexcept { return gossip_; }

	// The servers the caller lists by their gossip id; with the servers the
	// --peer hosts introduced, their samples are kept (see Gossip::pin).
	void setListed(std::vector<std::uint64_t> ids);
	// Records a hosts query: the jobs it reserved and the demand it stands
	// for, which lasts demandHold.
	void handedOut(const std::vector<std::pair<std::uint64_t, std::uint32_t>> &reservations,
		       std::uint32_t want, std::uint32_t localSlots);
	// Servers only a --peer introduced (mDNS does not list them), heard
	// alive or suspect by gossip.
	std::vector<DirectoryEntry> peerServers(SteadyTime now) const;

	// A clean stop: tells every peer, withdraws the advertisement.
	void leave();

	GossipNodeStats stats() const;

	void instanceResolved(const ResolvedInstance &instance) override;
	void instanceRemoved(const InstanceKey &key) override;
	void allForNow() override { }
	void browserReset() override;

private:
	// An IPv6 sighting waiting for an IPv4 one of the same name.
	struct Held {
		Endpoint endpoint;
		std::string hostName;
		SteadyTime since;
	};
	struct StaticPeer {
		HostPort spec;
		std::vector<std::string> addresses; // numeric, once looked up
		std::unique_ptr<uv::Lookup> lookup;
	};

	void received(std::span<const std::uint8_t> data, const sockaddr_storage &from);
	// Counts a datagram from @address that failed authentication; warns
	// once per source.
	void failedAuthentication(const std::string &address, SteadyTime now);
	void tick();
	void send(const std::vector<Datagram> &datagrams);
	void schedule();
	void lookUp(StaticPeer &peer);
	void repin();
	// Makes the gossip peers those mDNS shows now, plus the static ones.
	void syncPeers();
	// Makes @endpoint the one gossip peer of @key's name.
	void accept(const InstanceKey &key, const Endpoint &endpoint, const std::string &hostName);
	// Takes the IPv6 sightings that waited long enough for an IPv4 one.
	void takeHeld(SteadyTime now);
	// -v: logs peers joining, changing liveness and going (log lines only).
	void logPeerChanges(SteadyTime now);

	uv_loop_t &loop_;
	GossipNodeConfig config_;
	std::unique_ptr<uv::Clock> loopClock_; // when @io brought no clock
	uv::Clock &clock_;
	Gossip gossip_;
	std::unique_ptr<uv::DatagramSocket> socket_;
	std::unique_ptr<uv::Alarm> timer_;
	std::unique_ptr<uv::Alarm> lookupTimer_;
	std::unique_ptr<avahi::Publishing> publisher_;
	std::map<InstanceKey, Endpoint> seen_;	       // by mDNS, our own left out
	std::map<InstanceKey, std::string> hostNames_; // of seen_'s records
	std::map<InstanceKey, Held> heldV6_;	       // not in seen_ yet
	std::set<Endpoint> mdnsPeers_;		       // given to gossip_
	std::vector<StaticPeer> static_;
	std::vector<std::uint64_t> listed_;
	std::optional<SteadyTime> demandAt_;
	std::uint64_t unsendable_ = 0;
	// Sources whose datagrams failed authentication: a few, so that a
	// flood of forged addresses costs nothing; the oldest goes first.
	static constexpr std::size_t kMaxAuthSources = 16;
	struct AuthSource {
		std::string address;
		std::uint64_t count = 0;
		SteadyTime last;
	};
	std::vector<AuthSource> authSources_;
	std::optional<SteadyTime> authWarnedFull_; // last warning with the table full
	bool left_ = false;
	// What logPeerChanges last said of each peer: its node and liveness.
	// Bounded by the peer table, whose peers it follows.
	std::map<Endpoint, std::pair<std::uint64_t, Liveness>> told_;
	std::unique_ptr<avahi::Browsing> browser_;
	std::vector<std::unique_ptr<avahi::Browsing>> domainBrowsers_; // --domain // last: its callbacks use the members above
};

} // namespace dmdns
