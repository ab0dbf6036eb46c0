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
#include "distcc-mdns/gossip_wire.h"
#include "distcc-mdns/server.h"

namespace dmdns {

// A peer's UDP address as the daemon knows it (numeric address and port).
struct Endpoint {
	std::string address;
	std::uint16_t port = 0;

	auto operator<=>(const Endpoint &) const = default;
};

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
	unsigned fanout = 3;
	// A new entry is sent ceil(retransmitMult * log2(n + 1)) times by every
	// node, n being the known peers plus this node.
	double retransmitMult = 3.0;
	// A renewal of an unchanged demand is only sent this many times per node.
	unsigned heartbeatTransmits = 3;
	// A new load or a heartbeat of a known server travels as a compact Load
	// record, sent this many times per node; the next one follows within
	// heartbeatInterval anyway, and push-pull repairs the gaps. A new
	// server, incarnation or capacity travels as a full Sample, sent
	// ceil(retransmitMult * log2(n + 1)) times.
	unsigned loadTransmits = 3;
	// An unchanged load is originated again (a heartbeat) only this often,
	// however often the server samples; a change goes out at once.
	std::chrono::milliseconds heartbeatInterval{ 1000 };
	std::chrono::milliseconds pushPullInterval{ 2000 };

	std::chrono::milliseconds suspectAfter{ 2500 };
	std::chrono::milliseconds deadAfter{ 3500 };
	// Entries (samples, leaves, demands) older than this are dropped, except
	// the samples of pinned servers: a dead server the caller still lists
	// must stay dead, not fall back to what mDNS says of it.
	std::chrono::milliseconds forgetAfter{ 60000 };

	std::chrono::milliseconds reservationTtl{ 3000 };
	// A server's sample covers (replaces) a reservation on it only when it
	// was measured this long after the reservation was made: jobs handed
	// out take a moment to reach distccd.
	std::chrono::milliseconds reservationCoverAfter{ 1000 };
	// Own demand is re-sent this often while non-zero, and others' demand
	// that has not been renewed for demandTtl is dropped.
	std::chrono::milliseconds demandRefresh{ 1000 };
	std::chrono::milliseconds demandTtl{ 5000 };

	std::size_t maxServers = 512;
	std::size_t maxPeers = 512;
	std::size_t maxReservations = 4096;
	std::size_t maxDemands = 1024;
	std::size_t maxLeaves = 1024;
	std::size_t maxSources = 1024; // rate-limit buckets

	// Per source address, in datagrams: a token bucket.
	double rateLimit = 100.0; // per second
	double rateBurst = 100.0;

	std::size_t maxDatagram = wire::kMaxDatagram;

	// Authentication, provided by the adapter that holds the key (e.g.
	// net::Authenticator). With sign set every datagram is tagged: sign
	// writes the tag of @body into @tag. With verify set, datagrams without
	// a valid tag are dropped and counted: verify gets a whole tagged
	// datagram, the body followed by its kTagSize-byte tag.
	std::function<void(std::span<const std::uint8_t> body, std::span<std::uint8_t, wire::kTagSize> tag)>
		sign;
	std::function<bool(std::span<const std::uint8_t> datagram)> verify;
};

struct GossipStats {
	std::uint64_t received = 0;	   // datagrams handed to receive()
	std::uint64_t accepted = 0;	   // decoded, authenticated and merged
	std::uint64_t rateLimited = 0;	   // dropped by the per-source bucket
	std::uint64_t invalid = 0;	   // refused by the decoder
	std::uint64_t unauthenticated = 0; // missing or bad tag while verifying
	std::uint64_t looped = 0;	   // our own datagrams coming back
	std::uint64_t unknownRecords = 0;  // skipped record types
	std::uint64_t orphanLoads = 0;	   // Loads of servers without a full Sample here
	std::uint64_t sent = 0;
	std::uint64_t bytesSent = 0;
	std::uint64_t bytesReceived = 0;
	std::uint64_t evicted = 0; // table entries dropped to stay bounded
	std::string lastError;	   // the decoder's last reason
};

// What gossip knows about one server.
struct GossipServer {
	wire::Sample sample; // ageMs as of the query time
	std::chrono::milliseconds age{ 0 };
	Liveness liveness = Liveness::Unknown;

	// The sample as the picker's load model reads it.
	LoadSample load() const;
};

struct DemandSummary {
	std::uint64_t wanted = 0;     // remote jobs all clients ask for, this one included
	std::uint64_t localSlots = 0; // of those clients
	std::uint32_t clients = 0;    // clients asking for at least one job
};

// The gossip protocol of one daemon, pure: the caller passes time and
// received datagrams in, and sends the datagrams it gets back. Peers are
// endpoints the caller learnt (mDNS, --peer). Gossip reports on server ids
// only; which servers exist is the caller's business, so gossip can drop a
// server quickly but never invent one.
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
	// first when the table is full.
	// With @pull (a --peer, which may not know us) it is also asked for
	// its news every heartbeatInterval.
	bool addPeer(const Endpoint &peer, bool pull = false);
	bool removePeer(const Endpoint &peer);
	std::vector<Endpoint> peers() const;
	// The node id the peer at @peer sends as, once a datagram from it was
	// accepted.
	std::optional<std::uint64_t> peerNode(const Endpoint &peer) const;

	// The servers the caller lists (from mDNS or a --peer): their samples
	// are kept while they are pinned, and a flood of unknown ids cannot
	// evict them. Replaces the previous set; at most maxServers are taken.
	void pin(std::span<const std::uint64_t> servers);

	// A server daemon's own load, every sampling period: gossip fills in the
	// server id (this node), the incarnation and the next sequence number.
	void setOwnSample(wire::Sample sample, SteadyTime now);
	// How many remote jobs this client asks for now (0: none).
	void setDemand(std::uint32_t wanted, std::uint32_t localSlots, SteadyTime now);
	// "This client handed out @count jobs on @server": replaces this client's
	// previous reservation there, expires after reservationTtl; 0 cancels.
	void reserve(std::uint64_t server, std::uint32_t count, SteadyTime now);

	// Datagrams to send now: a gossip round every period and a push-pull
	// every pushPullInterval. Call at least every period.
	std::vector<Datagram> tick(SteadyTime now);
	SteadyTime nextTick() const noexcept { return nextRound_; }

	// Handles one received datagram; returns what to answer (a push-pull
	// reply), usually nothing.
	std::vector<Datagram> receive(const Endpoint &from, std::span<const std::uint8_t> datagram,
				      SteadyTime now);

	// A clean stop: a LEAVE for every peer. Afterwards tick() sends nothing.
	std::vector<Datagram> leave(SteadyTime now);

	// Queries.
	std::optional<GossipServer> server(std::uint64_t id, SteadyTime now) const;
	Liveness liveness(std::uint64_t id, SteadyTime now) const;
	// Jobs other clients reserved on @server that its samples do not show yet.
	std::uint32_t reservedByOthers(std::uint64_t server, SteadyTime now) const;
	// Every client's demand; @includeOwn false: the other clients' only.
	DemandSummary demand(SteadyTime now, bool includeOwn = true) const;

	const GossipStats &stats() const noexcept { return stats_; }
	std::size_t serverCount() const noexcept { return servers_.size(); }
	std::size_t reservationCount() const noexcept { return reservations_.size(); }
	std::size_t demandCount() const noexcept { return demands_.size(); }
	std::size_t leaveCount() const noexcept { return leaves_.size(); }
	std::size_t sourceCount() const noexcept { return sources_.size(); }

private:
	struct ServerEntry {
		wire::Sample sample;
		SteadyTime origin{}; // when the server measured it, on our clock
		unsigned transmits = 0;
		bool compact = false; // only the load changed: send it as a Load
	};
	struct LeaveEntry {
		std::uint64_t incarnation = 0;
		SteadyTime heard{};
		unsigned transmits = 0;
	};
	struct ReservationEntry {
		wire::Reservation reservation; // ageMs meaningless here
		SteadyTime origin{};
		unsigned transmits = 0;
	};
	struct DemandEntry {
		wire::Demand demand;
		SteadyTime origin{};
		unsigned transmits = 0;
	};
	struct PeerEntry {
		Endpoint endpoint;
		std::uint64_t node = 0; // sender id of its last accepted datagram
		SteadyTime heard{};
		std::optional<SteadyTime> replied; // last push-pull reply
		std::optional<SteadyTime> probed;  // last direct request while suspect
		bool learnt = false; // it wrote to us first; forgotten when silent
		bool pull = false;   // ask it for news every heartbeat interval
		std::optional<SteadyTime> pulled;
	};
	struct Bucket {
		double tokens = 0.0;
		SteadyTime last{};
	};
	// An entry due to be piggy-backed, with its send counter.
	struct Pending {
		wire::Record record;
		unsigned *transmits;
		// 0 this node's own news, 1 news about what the caller lists (and
		// leaves, reservations, demand), 2 samples of unlisted servers.
		int rank;
	};
	using ReservationKey = std::pair<std::uint64_t, std::uint64_t>; // client, server

	unsigned budget() const noexcept;
	bool admit(const std::string &address, SteadyTime now);
	void merge(const wire::Record &record, SteadyTime now);
	void mergeSample(const wire::Sample &sample, SteadyTime now);
	void mergeLeave(const wire::Leave &leave, SteadyTime now);
	void mergeReservation(const wire::Reservation &reservation, SteadyTime now);
	void mergeDemand(const wire::Demand &demand, SteadyTime now);
	void mergeLoad(const wire::Load &load, SteadyTime now);
	// Own state seen from outside with a higher incarnation: take a higher one.
	void refute(std::uint64_t seen, SteadyTime now);
	bool hasLeft(std::uint64_t node, std::uint64_t incarnation) const;
	void expire(SteadyTime now);

	wire::Record sampleRecord(const ServerEntry &e, SteadyTime now) const;
	// What a gossip round sends of @e: a Load when only its load changed.
	wire::Record newsRecord(const ServerEntry &e, SteadyTime now) const;
	wire::Record reservationRecord(const ReservationEntry &e, SteadyTime now) const;
	wire::Record demandRecord(const DemandEntry &e, SteadyTime now) const;
	std::vector<Pending> pending(SteadyTime now);
	std::vector<wire::Record> fullState(SteadyTime now) const;
	std::vector<wire::Record> ownState(SteadyTime now) const;
	std::vector<std::vector<std::uint8_t>> pack(const std::vector<wire::Record> &records,
						    std::uint8_t flags) const;
	std::vector<std::uint8_t> seal(std::vector<std::uint8_t> bytes) const;
	std::vector<Datagram> pushPull(const Endpoint &to, std::uint8_t flags, SteadyTime now);
	void count(const std::vector<Datagram> &out);
	PeerEntry *findPeer(const Endpoint &endpoint);
	// Makes room for one more peer; false if only configured peers are
	// there and @learnt says the newcomer is not configured.
	bool makeRoom(bool learnt);

	GossipConfig config_;
	std::uint64_t incarnation_;
	std::mt19937_64 rng_;
	bool left_ = false;
	SteadyTime nextRound_{};
	SteadyTime nextPushPull_{};
	bool started_ = false;

	std::optional<ServerEntry> own_; // this node's sample
	std::uint64_t sequence_ = 0;	 // of own samples, reservations and demand

	std::map<std::uint64_t, ServerEntry> servers_; // others
	std::set<std::uint64_t> pinned_;
	std::map<std::uint64_t, LeaveEntry> leaves_;
	std::map<ReservationKey, ReservationEntry> reservations_; // others'
	std::map<std::uint64_t, ReservationEntry> ownReservations_;
	std::map<std::uint64_t, DemandEntry> demands_; // others'
	std::optional<DemandEntry> ownDemand_;
	std::vector<PeerEntry> peers_;
	std::map<std::string, Bucket> sources_;
	GossipStats stats_;
};

} // namespace dmdns
