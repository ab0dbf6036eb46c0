// Gossip state machine: live load, liveness, reservations and demand shared between daemons.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "distcc-mdns/directory.h"
#include "distcc-mdns/gossip/address_validation.h"
#include "distcc-mdns/gossip/client_table.h"
#include "distcc-mdns/gossip/jobs_table.h"
#include "distcc-mdns/gossip/own_news.h"
#include "distcc-mdns/gossip/packer.h"
#include "distcc-mdns/gossip/peer_table.h"
#include "distcc-mdns/gossip/rate_limiter.h"
#include "distcc-mdns/gossip/replay_window.h"
#include "distcc-mdns/gossip/server_table.h"
#include "distcc-mdns/gossip/speed_table.h"
#include "distcc-mdns/gossip_wire.h"
#include "distcc-mdns/server.h"
#include "distcc-mdns/speed_estimate.h"

namespace dmdns {

// The longest a server goes without measuring its load while the load does
// not change: the daemon's sampler backs off this far and no further
// (AdvertiserConfig::maxCheckInterval). A quiet server's heartbeat is dated
// from its measurement, so a peer's copy grows up to loadPace +
// kQuietMeasure old before the next paced turn; that must stay well below
// suspectAfter, or an idle farm flaps to suspect (at 1050 ms and a 1.5 s
// pace it reached 2.55 s against 2.5 s: 2,569 false suspects a minute in
// gossip-sim at 40 nodes, and a failed lan-big-lan).
inline constexpr std::chrono::milliseconds kQuietMeasure{ 400 };

// One datagram to send.
struct Datagram {
	Endpoint to;
	std::vector<std::uint8_t> bytes;
};

struct GossipConfig {
	std::uint64_t node = 0;	       // this daemon's id: its host id, as in the TXT `id`
	std::uint64_t incarnation = 1; // new at every start, larger than any before
	std::uint64_t seed = 0;	       // of the peer and timing choices

	std::chrono::milliseconds period{ 200 };
	// A new own Sample (new capacity, state or incarnation), demand or
	// reservation goes to every peer in this many rounds.
	unsigned newsTransmits = 2;
	// The load is paced per peer instead (docs/protocol.md, Cost): each
	// peer gets a server's newest load once a loadPace, on a phase of its
	// own, changed or not (unchanged, it is a heartbeat as of the last
	// measurement). That bounds what a server costs each peer whatever its
	// load does, keeps every peer's copy at most loadPace (plus one
	// sampling period, kQuietMeasure) old, and gives liveness its
	// heartbeat: a lost one
	// leaves a silence of 2 x loadPace, past suspectAfter, which a probe
	// ends.
	// At few peers the pace is quicker, down to minLoadPace, as long as
	// a server's turns cost all its peers together about loadBytes a
	// second at most; what the turns leave of it lets a new load go to
	// every peer at once (at few peers: a build starting on an idle server
	// is seen within a round, not a pace).
	std::chrono::milliseconds loadPace{ 1500 };
	std::chrono::milliseconds minLoadPace{ 750 };
	std::size_t loadBytes = 1000;
	// A peer not heard yet is asked every heartbeatInterval (doubling), and
	// a --peer pulled as often.
	std::chrono::milliseconds heartbeatInterval{ 1000 };
	// Anti-entropy with one random peer this node believes as a relay (a
	// --peer, or any with a key): a full state from any other is of no use.
	std::chrono::milliseconds pushPullInterval{ 2000 };

	std::chrono::milliseconds suspectAfter{ 2500 };
	// A crashed server's last turn here carries a measurement at most a
	// few ms before the crash, so it is Dead at most deadAfter after it:
	// 3.3 s leaves 0.2 s of the 3.5 s goal for the line to follow. (At
	// 3.5 s it met the goal only while idle servers measured seldom, which
	// aged their last words; lan-big-lan saw 3.493 s once they did not.)
	std::chrono::milliseconds deadAfter{ 3300 };
	// Entries (samples, leaves) older than this are dropped, except the
	// samples of pinned servers: a dead server the caller still lists must
	// stay dead, not fall back to what mDNS says of it.
	std::chrono::milliseconds forgetAfter{ 60000 };

	// Long enough for a build's first jobs to reach distccd and the
	// server's sample to count them (reservationCoverAfter, plus an idle
	// server's slower sampling); short enough that a line no build follows
	// leaves the others' limits alone within 3 s.
	std::chrono::milliseconds reservationTtl{ 2000 };
	// A server's sample covers (replaces) a reservation on it only when it
	// was measured this long after the reservation was made: jobs handed
	// out take a moment to reach distccd.
	std::chrono::milliseconds reservationCoverAfter{ 1000 };
	// Own demand is re-sent this often while non-zero, and others' demand
	// that has not been renewed for demandTtl is dropped.
	std::chrono::milliseconds demandRefresh{ 1000 };
	std::chrono::milliseconds demandTtl{ 5000 };

	// A relayed claim that contradicts a server's own word makes this node
	// ask the server directly, at most this often per server.
	std::chrono::milliseconds probeInterval{ 500 };
	// Cookies handed out stay valid this long (twice, for an echo in flight).
	std::chrono::milliseconds cookieLifetime{ 60000 };
	// Requests are padded to this many bytes, so that the answer to one
	// from an address not yet validated (at most kAmplification times as
	// many) holds this node's own news and a cookie.
	std::size_t minRequest = 128;

	// Servers on other subnets (WHERE, docs/protocol.md): a trusted
	// relay's full-state answers say where the servers it hears first hand
	// are; this node then gossips with each there (listing it while alive
	// or suspect), and drops one it has not heard for forgetAfter (or at
	// all) relayGrace after the last WHERE naming it. One asker gets an
	// unchanged set of WHEREs again only after whereRefresh. At most
	// maxServers such servers are kept.
	std::chrono::milliseconds relayGrace{ 5000 };
	std::chrono::milliseconds whereRefresh{ 30000 };

	std::size_t maxServers = 512;
	std::size_t maxPeers = 512;
	std::size_t maxReservations = 4096;
	std::size_t maxDemands = 1024;
	std::size_t maxLeaves = 1024;
	std::size_t maxSources = 1024; // rate-limit buckets, cookies, replay marks

	// Per source address, in datagrams: a token bucket.
	double rateLimit = 100.0; // per second
	double rateBurst = 100.0;

	std::size_t maxDatagram = wire::kMaxDatagram;

	// Learned speed (speed_estimate.h): this client's remote jobs' times,
	// and every other client's, fitted against the advertised speeds.
	// False: the planner uses the benchmark alone and nothing is gossiped.
	bool learnSpeed = true;
	// Evidence halves in weight every speedHalfLife, and with every
	// speedHalfLifeJobs newer jobs on the same server.
	std::chrono::milliseconds speedHalfLife{ 600000 };
	double speedHalfLifeJobs = 64.0;
	std::size_t maxSpeedReports = 4096; // others' (client, server) reports
	// This client's report on a server goes out at most this often, at
	// most speedPerRound reports a round, its speedInState newest in a
	// push-pull.
	std::chrono::milliseconds speedRefresh{ 1000 };
	std::size_t speedPerRound = 4;
	std::size_t speedInState = 32;
	SpeedPolicy speedPolicy;

	// Who runs jobs where (CLIENTS, LOCAL_JOBS): a server's changed client
	// list goes out at most every clientsInterval (see clientsBytes), a
	// client's changed local jobs in clientsTransmits rounds; a client's unchanged local jobs are
	// said again every localJobsRefresh and forgotten elsewhere after
	// forgetAfter without a word. A node's own list goes in its full-state
	// answers too (not in requests), others' lists and local jobs only
	// with relayJobs. The defaults keep the cost within 10 % of a 12-node
	// farm's gossip with builds running (docs/protocol.md, Cost): every
	// node hears each server first hand, so nothing needs relaying. At
	// most maxDemands clients' local jobs are kept, and maxServers lists.
	std::chrono::milliseconds clientsInterval{ 10000 };
	std::chrono::milliseconds localJobsRefresh{ 30000 };
	unsigned clientsTransmits = 1;
	// A changed list rides on each peer's paced turn, at most every
	// clientsInterval, and at many peers less often: all the peers together
	// get about clientsBytes a second of this node's lists at most.
	std::size_t clientsBytes = 300;
	bool relayJobs = false;

	// Authentication, provided by the adapter that holds the key (e.g.
	// net::Authenticator). With sign set every datagram is tagged: sign
	// writes the tag of @body into @tag. With verify set, datagrams without
	// a valid tag are dropped and counted: verify gets a whole tagged
	// datagram, the body followed by its kTagSize-byte tag.
	std::function<void(std::span<const std::uint8_t> body, std::span<std::uint8_t, wire::kTagSize> tag)>
		sign;
	std::function<bool(std::span<const std::uint8_t> datagram)> verify;
	// Unpredictable 64-bit numbers for cookies (the adapter's CSPRNG);
	// unset, the seeded generator serves (simulations and tests).
	std::function<std::uint64_t()> random;
};

struct GossipStats {
	std::uint64_t received = 0;	   // datagrams handed to receive()
	std::uint64_t accepted = 0;	   // decoded, authenticated and merged
	std::uint64_t rateLimited = 0;	   // dropped by the per-source bucket
	std::uint64_t invalid = 0;	   // refused by the decoder
	std::uint64_t otherVersion = 0;	   // of those, another wire version (an old peer)
	std::uint64_t unauthenticated = 0; // missing or bad tag while verifying
	std::uint64_t replayed = 0;	   // tagged, but seen before (or too old to judge)
	std::uint64_t looped = 0;	   // our own datagrams coming back
	std::uint64_t unknownRecords = 0;  // skipped record types
	std::uint64_t orphanLoads = 0;	   // Loads of servers without a full Sample here
	std::uint64_t untrusted = 0;	   // records about others from an untrusted relay
	std::uint64_t contradicted = 0;	   // relayed claims that asked for a probe
	std::uint64_t probes = 0;	   // direct requests to a server about a claim
	std::uint64_t cookieAnswers = 0;   // small answers to unvalidated sources
	std::uint64_t sent = 0;
	std::uint64_t bytesSent = 0;
	std::uint64_t bytesReceived = 0;
	std::uint64_t evicted = 0; // table entries dropped to stay bounded
	std::string lastError;	   // the decoder's last reason
};

// One client's jobs on a server, as the server saw its distccd's
// connections (docs/protocol.md, CLIENTS).
struct ClientJobs {
	std::string address;	   // numeric, the client's address as the server saw it; empty: "others"
	std::uint32_t running = 0; // its ESTABLISHED connections to the server's distccd

	bool operator==(const ClientJobs &) const = default;
};

// A server a trusted relay said where to find (a WHERE), not one the
// caller listed: its gossip endpoint, which is also its distccd's address.
struct RelayedServer {
	std::uint64_t id = 0;
	Endpoint at;

	bool operator==(const RelayedServer &) const = default;
};

// What gossip knows about one server.
struct GossipServer {
	wire::Sample sample; // ageMs as of the query time
	std::chrono::milliseconds age{ 0 };
	Liveness liveness = Liveness::Unknown;
	bool firstHand = false; // the newest word came from the server itself

	// The sample as the picker's load model reads it.
	LoadSample load() const;
};

// The gossip protocol of one daemon, pure: the caller passes time and
// received datagrams in, and sends the datagrams it gets back. Peers are
// endpoints the caller learnt (mDNS, --peer). Gossip reports on server ids
// only; which servers exist is the caller's business, so gossip can drop a
// server quickly but never invent one.
//
// Trust (docs/security.md): without a key a node believes what a server
// says of itself (a datagram from an address that speaks for it, see
// gossip::PeerTable) and what clients say of themselves, one client per
// address; others' words about them only from a trusted relay (a --peer),
// and then never their departure, state or new run: those it asks the
// server about. With a key every tagged, fresh datagram is trusted as its
// sender id's own word, and relayed claims obey the same rules.
class Gossip final
{
public:
	explicit Gossip(GossipConfig config);

	const GossipConfig &config() const noexcept { return config_; }
	std::uint64_t incarnation() const noexcept { return incarnation_; }

	// Peers. addPeer() returns false for a peer already known; when the
	// table is full the peer heard from least recently is replaced. A node
	// that writes to us (say it has us as its --peer) becomes a learnt peer
	// too; learnt peers are forgotten after forgetAfter of silence, and go
	// first when the table is full. With @pull (a --peer, which may not
	// know us) it is also asked for its news every heartbeatInterval, and
	// trusted to relay what others said.
	bool addPeer(const Endpoint &peer, bool pull = false);
	bool removePeer(const Endpoint &peer);
	std::vector<Endpoint> peers() const;
	// The node id the peer at @peer sends as, once a datagram from it was
	// accepted.
	std::optional<std::uint64_t> peerNode(const Endpoint &peer) const;

	// The servers the caller lists (from mDNS or a --peer): their samples
	// are kept while they are pinned, and a flood of unknown ids cannot
	// evict them. Replaces the previous set; at most maxServers are taken.
	// The servers relayedServers() gives are pinned besides.
	void pin(std::span<const std::uint64_t> servers);
	// Which addresses speak for which node, as the caller knows them (mDNS,
	// --peer): a datagram from elsewhere is not that node's own word.
	// Replaces the previous word; a node left out is bound to the first
	// address it speaks from.
	void vouch(std::map<std::uint64_t, std::set<std::string>> addresses);

	// A server daemon's own load, every sampling period: gossip fills in the
	// server id (this node), the incarnation and the next sequence number.
	void setOwnSample(wire::Sample sample, SteadyTime now);
	// The digest of the TXT this server advertises (txtProfileDigest): sent
	// as a PROFILE with the own Sample, so that clients take only the TXT
	// that matches it. Cheap when unchanged.
	void setOwnProfile(std::uint64_t digest, SteadyTime now);
	// How many remote jobs this client asks for now (0: none).
	void setDemand(std::uint32_t wanted, std::uint32_t localSlots, SteadyTime now);
	// The clients running jobs on this server now, as its distccd's
	// connections show them (any order, any number): kept to the busiest
	// wire::kMaxClientEntries, the rest summed into an "others" entry with
	// an empty address, and gossiped when they change.
	void setOwnClients(std::vector<ClientJobs> clients);
	// How many jobs this machine's users run on this machine itself (distcc
	// clients with no connection to a server): gossiped when it changes.
	void setOwnLocalJobs(std::uint32_t jobs);
	// "This client handed out @count jobs on @server": replaces this client's
	// previous reservation there, expires after reservationTtl; 0 cancels.
	void reserve(std::uint64_t server, std::uint32_t count, SteadyTime now);

	// A remote job of this machine's clients on @server ran @wall and ended
	// at @end. Its time is corrected for the server's contention as its
	// samples while the job ran show it (a server running more jobs than
	// cores gave each cores/running of a core; a factor 4 at most).
	void recordJob(std::uint64_t server, std::chrono::milliseconds wall, SteadyTime end);
	// What the planner should take for @server's speed, advertising
	// @advertised: the benchmark, or what the jobs of this and every
	// other client say (speed_estimate.h).
	SpeedEstimate speedOf(std::uint64_t server, double advertised, SteadyTime now) const;

	// Datagrams to send now: own news to every peer every period, requests
	// to peers not heard yet and to suspects, and a push-pull every
	// pushPullInterval. Call at least every period.
	std::vector<Datagram> tick(SteadyTime now);
	SteadyTime nextTick() const noexcept { return nextRound_; }

	// Handles one received datagram; returns what to answer (a push-pull
	// reply, probes), usually nothing.
	std::vector<Datagram> receive(const Endpoint &from, std::span<const std::uint8_t> datagram,
				      SteadyTime now);

	// A clean stop: a LEAVE for every peer. Afterwards tick() sends nothing.
	std::vector<Datagram> leave(SteadyTime now);

	// Queries.
	std::optional<GossipServer> server(std::uint64_t id, SteadyTime now) const;
	Liveness liveness(std::uint64_t id, SteadyTime now) const;
	// The TXT digest @server's own PROFILE gave for its current run; empty
	// before it (or from a daemon that sends none: an older version).
	std::optional<std::uint64_t> profileDigest(std::uint64_t server) const;
	// The farm's slots as gossip knows them: the listed servers' (all
	// known ones when none is listed) and this node's own.
	std::uint64_t capacity() const;
	// Jobs other clients reserved on @server that its samples do not show
	// yet; each client's reservations count up to its demand, itself
	// capped at the farm's capacity.
	std::uint32_t reservedByOthers(std::uint64_t server, SteadyTime now) const;
	// The same for many servers at once, in their order: the farm's
	// capacity and each client's reservations are added up once (a view
	// of every server asks this).
	std::vector<std::uint32_t> reservedByOthers(std::span<const std::uint64_t> servers, SteadyTime now) const;
	// Every client's demand, each capped at the farm's capacity (no claim
	// counts for more than the whole farm); @includeOwn false: the other
	// clients' only.
	DemandSummary demand(SteadyTime now, bool includeOwn = true) const;
	// The other clients' demands one by one (each capped as above), for a
	// planner that counts each at most the slots it can use.
	std::vector<std::uint32_t> demands(SteadyTime now) const;
	// Both of the other clients' at once: demand(now, false) as summary and
	// demands(now) as each, from one walk.
	gossip::ClientTable::Tally othersDemand(SteadyTime now) const;

	// The clients @serverId last said run jobs on it (empty when unknown),
	// busiest first; an "others" remainder has an empty address.
	std::vector<ClientJobs> serverClients(std::uint64_t serverId) const;
	// A client's jobs run on its own machine, as it last gossiped them;
	// nullopt when unknown.
	std::optional<std::uint32_t> localJobs(std::uint64_t clientId) const;
	// The node whose datagrams come from @address (a peer's source
	// address, numeric); nullopt when none does.
	std::optional<std::uint64_t> nodeAt(std::string_view address) const;

	// Servers only a trusted relay's WHERE told of, which gossip hears
	// alive or suspect now (the caller lists them as it lists a --peer),
	// by id. A server the caller gossips with otherwise is never one.
	std::vector<RelayedServer> relayedServers(SteadyTime now) const;
	std::size_t relayedCount() const noexcept { return relayed_.size(); }

	const GossipStats &stats() const noexcept { return stats_; }
	std::size_t serverCount() const noexcept { return servers_.entries().size(); }
	std::size_t reservationCount() const noexcept { return clients_.reservations().size(); }
	std::size_t demandCount() const noexcept { return clients_.demands().size(); }
	std::size_t leaveCount() const noexcept { return servers_.leaves().size(); }
	std::size_t clientListCount() const noexcept { return jobs_.size(); }
	std::size_t localJobsCount() const noexcept { return jobs_.locals().size(); }
	std::size_t sourceCount() const noexcept { return limiter_.size(); }
	std::size_t cookieCount() const noexcept { return validator_.size() + jar_.size(); }
	const gossip::SpeedTable &speeds() const noexcept { return speeds_; }
	// Every other client's demand and reservations as kept (a view lists them).
	const gossip::ClientTable &clientTable() const noexcept { return clients_; }

private:
	// Where a datagram came from, as far as this node can tell.
	struct Source {
		Endpoint from;
		std::uint64_t sender = 0;
		std::uint64_t incarnation = 0; // the sender's run
		bool authenticated = false;
		bool trustedRelay = false; // may relay what others said
		std::string client;	   // the key of its demand and reservations
	};

	// The receiving half (gossip_receive.cpp): each record under the
	// trust rules; @probe collects the servers to ask about a claim.
	void merge(const wire::Record &record, const Source &source, SteadyTime now,
		   std::set<std::uint64_t> &probe);
	void mergeServer(const wire::Record &record, std::uint64_t subject, const Source &source, SteadyTime now,
			 std::set<std::uint64_t> &probe);
	void mergeClient(const wire::Record &record, std::uint64_t client, const Source &source, SteadyTime now);
	void mergeSpeed(const wire::Speed &speed, const Source &source, SteadyTime now);
	void mergeJobs(const wire::Record &record, std::uint64_t subject, const Source &source, SteadyTime now);
	void mergeWhere(const wire::Where &where, const Source &source, SteadyTime now);
	// WHEREs for the servers this node hears first hand now, at the
	// endpoints it hears them from (routable ones only).
	std::vector<wire::Record> whereRecords(SteadyTime now) const;
	// Pins the caller's servers and the relayed ones.
	void repin();
	// Adds a relayed server's peer; false when the caller's peer is there.
	bool addRelayedPeer(const Endpoint &at);
	struct Relayed;
	// Removes it again, unless the caller took it over.
	void dropRelayedPeer(const Relayed &r);
	std::vector<Datagram> answer(const Source &source, std::size_t requestBytes, gossip::Peer &peer,
				     bool validated, SteadyTime now);

	void expire(SteadyTime now);
	std::uint64_t nextRandom();
	// Without @ownList, this node's client list left out.
	std::vector<wire::Record> fullState(SteadyTime now, bool ownList = true) const;
	// With @introduce (a hello to a peer not heard yet), the own client
	// list and local jobs ride along: their news went out before it
	// answered.
	std::vector<Datagram> request(const Endpoint &to, SteadyTime now, bool introduce = false);
	void count(const std::vector<Datagram> &out);
	void refitSpeeds(SteadyTime now) const;

	GossipConfig config_;
	std::uint64_t incarnation_;
	std::mt19937_64 rng_;
	bool left_ = false;
	SteadyTime nextRound_{};
	SteadyTime nextPushPull_{};
	bool started_ = false;
	// Bytes of loadBytes the paced turns left unspent, up to one burst
	// (a new load to every peer at once), and when last counted.
	double spare_ = 0.0;
	std::optional<SteadyTime> spareAt_;

	gossip::OwnNews own_;
	gossip::Packer packer_;

	gossip::PeerTable peers_;
	gossip::ServerTable servers_;
	gossip::ClientTable clients_;
	gossip::JobsTable jobs_;
	gossip::RateLimiter limiter_;
	gossip::ReplayWindow replay_;
	gossip::AddressValidator validator_;
	gossip::CookieJar jar_;
	std::map<std::uint64_t, SteadyTime> probed_; // per server, the last probe about a claim
	// Servers a WHERE told of, by id: where, of which run, when a WHERE
	// last named it, and whether its peer entry is ours to remove.
	struct Relayed {
		Endpoint at;
		std::uint64_t incarnation = 0;
		SteadyTime named{};
		bool ownsPeer = false;
	};
	std::map<std::uint64_t, Relayed> relayed_;
	std::vector<std::uint64_t> callerPins_;
	std::uint64_t relayEvicted_ = 0;
	gossip::SpeedTable speeds_;
	// The fit of speeds_, redone when evidence came in or a second passed.
	mutable SpeedModel speedModel_;
	mutable bool speedDirty_ = true;
	mutable std::optional<SteadyTime> speedFitted_;
	GossipStats stats_;
};

} // namespace dmdns
