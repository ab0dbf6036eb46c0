// Gossip state machine: merging, liveness, piggy-backed dissemination and push-pull.
#include "distcc-mdns/gossip.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace dmdns {

namespace {

using std::chrono::milliseconds;

std::uint32_t ageMs(SteadyTime origin, SteadyTime now) noexcept
{
	const auto age = std::chrono::duration_cast<milliseconds>(now - origin).count();
	if (age <= 0)
		return 0;
	return static_cast<std::uint32_t>(std::min<long long>(age, wire::kMaxAgeMs));
}

// Whether (incarnation, sequence) @a supersedes @b.
bool newer(std::uint64_t incA, std::uint64_t seqA, std::uint64_t incB, std::uint64_t seqB) noexcept
{
	return incA != incB ? incA > incB : seqA > seqB;
}

// Whether two samples of one server describe the same load: a sample that
// only advances the sequence is a heartbeat. The host's runnable count
// jitters by a task or two from one reading to the next; only a move by a
// quarter of its cpus (at least one task) is news.
// Whether two samples of one server differ in their load at most: then a
// Load record carries the news.
bool sameCapacity(const wire::Sample &a, const wire::Sample &b) noexcept
{
	return a.server == b.server && a.incarnation == b.incarnation && a.slots == b.slots && a.cpus == b.cpus &&
	       a.speed == b.speed && a.state == b.state && a.lzo == b.lzo && a.cpp == b.cpp && a.port == b.port;
}

bool sameLoad(const wire::Sample &a, const wire::Sample &b) noexcept
{
	const double jitter = std::max(1.0, a.cpus / 4.0);
	return sameCapacity(a, b) && a.running == b.running && std::abs(a.runnable - b.runnable) < jitter;
}

// What a Load record can carry of a runnable count.
double loadRunnable(double runnable) noexcept
{
	return std::min(std::round(runnable * 10.0) / 10.0, 6553.5);
}

// Brings what a caller measured into the bounds the wire accepts, so that
// one odd reading cannot make every datagram invalid.
void clampSample(wire::Sample &s)
{
	s.running = std::min<std::uint32_t>(s.running, 65535);
	s.slots = std::clamp<std::uint32_t>(s.slots, 1, kMaxSlots);
	s.cpus = std::clamp<std::uint32_t>(s.cpus, 1, kMaxCpus);
	if (!(s.runnable >= 0.0))
		s.runnable = 0.0;
	s.runnable = std::min(s.runnable, wire::kMaxRunnableMilli / 1000.0);
	if (!(s.speed >= kMinSpeed))
		s.speed = kMinSpeed;
	s.speed = std::min(s.speed, kMaxSpeed);
}

// Evicts from @table the entry @stalest ranks first; returns false if the
// table is empty.
template<typename Map, typename Less>
bool evictOne(Map &table, Less stalest)
{
	if (table.empty())
		return false;
	auto victim = table.begin();
	for (auto it = table.begin(); it != table.end(); ++it)
		if (stalest(it->second, victim->second))
			victim = it;
	table.erase(victim);
	return true;
}

} // namespace

LoadSample GossipServer::load() const
{
	LoadSample l;
	l.running = sample.running;
	l.runnable = sample.runnable;
	l.incarnation = sample.incarnation;
	l.sequence = sample.sequence;
	l.age = age;
	return l;
}

Gossip::Gossip(GossipConfig config)
	: config_(std::move(config)), incarnation_(config_.incarnation), rng_(config_.seed)
{
	if (config_.node == 0)
		throw std::invalid_argument("gossip node id 0");
	if (config_.period <= milliseconds::zero() || config_.pushPullInterval <= milliseconds::zero())
		throw std::invalid_argument("gossip periods must be positive");
	if (config_.fanout == 0)
		throw std::invalid_argument("gossip fanout 0");
	if (config_.suspectAfter > config_.deadAfter)
		throw std::invalid_argument("gossip suspectAfter beyond deadAfter");
	if (config_.reservationTtl <= milliseconds::zero() ||
	    config_.reservationTtl > milliseconds(wire::kMaxReservationTtlMs))
		throw std::invalid_argument("gossip reservation ttl out of range");
	// Every record must fit in one datagram on its own.
	if (config_.maxDatagram < wire::kHeaderSize + wire::kTagSize + 2 + wire::kSampleSize ||
	    config_.maxDatagram > wire::kMaxDatagram)
		throw std::invalid_argument("gossip datagram size out of range");
	if (config_.maxServers == 0 || config_.maxPeers == 0 || config_.maxReservations == 0 ||
	    config_.maxDemands == 0 || config_.maxLeaves == 0 || config_.maxSources == 0)
		throw std::invalid_argument("gossip tables need room");
}

unsigned Gossip::budget() const noexcept
{
	const double n = static_cast<double>(peers_.size() + 1);
	return std::max(1u, static_cast<unsigned>(std::ceil(config_.retransmitMult * std::log2(n + 1))));
}

// ---- peers

Gossip::PeerEntry *Gossip::findPeer(const Endpoint &endpoint)
{
	for (PeerEntry &p : peers_)
		if (p.endpoint == endpoint)
			return &p;
	return nullptr;
}

bool Gossip::makeRoom(bool learnt)
{
	if (peers_.size() < config_.maxPeers)
		return true;
	// Learnt peers go first, then the one heard from least recently
	// (never-heard peers carry the epoch).
	auto victim = std::min_element(peers_.begin(), peers_.end(), [](const PeerEntry &a, const PeerEntry &b) {
		return a.learnt != b.learnt ? a.learnt : a.heard < b.heard;
	});
	if (learnt && !victim->learnt)
		return false;
	peers_.erase(victim);
	++stats_.evicted;
	return true;
}

bool Gossip::addPeer(const Endpoint &peer, bool pull)
{
	if (PeerEntry *known = findPeer(peer)) {
		known->learnt = false;
		known->pull = known->pull || pull;
		return false;
	}
	makeRoom(false);
	PeerEntry entry;
	entry.endpoint = peer;
	entry.pull = pull;
	peers_.push_back(std::move(entry));
	return true;
}

bool Gossip::removePeer(const Endpoint &peer)
{
	auto it = std::find_if(peers_.begin(), peers_.end(),
			       [&](const PeerEntry &p) { return p.endpoint == peer; });
	if (it == peers_.end())
		return false;
	peers_.erase(it);
	return true;
}

std::optional<std::uint64_t> Gossip::peerNode(const Endpoint &peer) const
{
	for (const PeerEntry &p : peers_)
		if (p.endpoint == peer && p.node != 0)
			return p.node;
	return std::nullopt;
}

void Gossip::pin(std::span<const std::uint64_t> servers)
{
	pinned_.clear();
	for (std::uint64_t id : servers) {
		if (pinned_.size() >= config_.maxServers)
			break;
		pinned_.insert(id);
	}
}

std::vector<Endpoint> Gossip::peers() const
{
	std::vector<Endpoint> out;
	out.reserve(peers_.size());
	for (const PeerEntry &p : peers_)
		out.push_back(p.endpoint);
	return out;
}

// ---- own state

void Gossip::setOwnSample(wire::Sample sample, SteadyTime now)
{
	clampSample(sample);
	sample.server = config_.node;
	sample.incarnation = incarnation_;
	sample.sequence = sequence_ + 1;
	sample.ageMs = 0;
	if (std::string why = wire::validate(sample); !why.empty())
		throw std::invalid_argument("own gossip sample: " + why);
	const bool heartbeat = own_ && sameLoad(own_->sample, sample);
	if (heartbeat && now - own_->origin < config_.heartbeatInterval)
		return;
	++sequence_;
	if (own_ && sameCapacity(own_->sample, sample)) {
		// New load or a heartbeat: what a Load record can carry, once the
		// full Sample went out its number of times.
		if (heartbeat)
			sample.runnable = own_->sample.runnable;
		sample.runnable = loadRunnable(sample.runnable);
		const bool spread = own_->compact || own_->transmits == 0;
		own_ = ServerEntry{ sample, now, spread ? config_.loadTransmits : std::max(own_->transmits, config_.loadTransmits),
				    spread };
		return;
	}
	own_ = ServerEntry{ sample, now, budget(), false };
}

void Gossip::setDemand(std::uint32_t wanted, std::uint32_t localSlots, SteadyTime now)
{
	wanted = std::min(wanted, wire::kMaxWantedJobs);
	localSlots = std::min(localSlots, wire::kMaxLocalSlots);
	const bool same = ownDemand_ && ownDemand_->demand.wanted == wanted &&
			  ownDemand_->demand.localSlots == localSlots;
	// tick() renews an unchanged demand on its own schedule.
	if (same)
		return;
	wire::Demand d{ config_.node, incarnation_, ++sequence_, 0, wanted, localSlots };
	ownDemand_ = DemandEntry{ d, now, budget() };
}

void Gossip::reserve(std::uint64_t server, std::uint32_t count, SteadyTime now)
{
	if (server == 0)
		throw std::invalid_argument("reservation on server id 0");
	count = std::min(count, wire::kMaxReservedJobs);
	if (count == 0 && !ownReservations_.contains(server))
		return;
	if (!ownReservations_.contains(server) && ownReservations_.size() >= config_.maxReservations) {
		evictOne(ownReservations_, [](const ReservationEntry &a, const ReservationEntry &b) {
			return a.origin < b.origin;
		});
		++stats_.evicted;
	}
	const auto ttl = static_cast<std::uint32_t>(config_.reservationTtl.count());
	wire::Reservation r{ config_.node, server, count, ttl, 0, incarnation_, ++sequence_ };
	ownReservations_[server] = ReservationEntry{ r, now, budget() };
}

void Gossip::refute(std::uint64_t seen, SteadyTime now)
{
	if (seen < incarnation_ || left_)
		return;
	// Someone holds news of this node newer than its own (a previous run
	// with a larger incarnation, or a LEAVE not sent by us): outbid it.
	incarnation_ = seen + 1;
	if (own_) {
		own_->sample.incarnation = incarnation_;
		own_->sample.sequence = ++sequence_;
		own_->origin = now;
		own_->transmits = budget();
		own_->compact = false; // a new incarnation needs the full record
	}
	if (ownDemand_) {
		ownDemand_->demand.incarnation = incarnation_;
		ownDemand_->demand.sequence = ++sequence_;
		ownDemand_->origin = now;
		ownDemand_->transmits = budget();
	}
}

// ---- receiving

bool Gossip::admit(const std::string &address, SteadyTime now)
{
	auto it = sources_.find(address);
	if (it == sources_.end()) {
		if (sources_.size() >= config_.maxSources) {
			evictOne(sources_, [](const Bucket &a, const Bucket &b) { return a.last < b.last; });
			++stats_.evicted;
		}
		it = sources_.emplace(address, Bucket{ config_.rateBurst, now }).first;
	}
	Bucket &b = it->second;
	const double elapsed = std::chrono::duration<double>(now - b.last).count();
	if (elapsed > 0) {
		b.tokens = std::min(config_.rateBurst, b.tokens + elapsed * config_.rateLimit);
		b.last = now;
	}
	if (b.tokens < 1.0)
		return false;
	b.tokens -= 1.0;
	return true;
}

std::vector<Datagram> Gossip::receive(const Endpoint &from, std::span<const std::uint8_t> datagram,
				      SteadyTime now)
{
	++stats_.received;
	stats_.bytesReceived += datagram.size();
	if (!admit(from.address, now)) {
		++stats_.rateLimited;
		return {};
	}
	const wire::Decoded decoded = wire::decode(datagram);
	if (!decoded.packet) {
		++stats_.invalid;
		stats_.lastError = decoded.error;
		return {};
	}
	if (config_.verify && (!decoded.tagged || !config_.verify(datagram))) {
		++stats_.unauthenticated;
		return {};
	}
	const wire::Packet &packet = *decoded.packet;
	if (packet.header.sender == config_.node) {
		++stats_.looped;
		return {};
	}
	++stats_.accepted;
	stats_.unknownRecords += decoded.unknownRecords;
	for (const wire::Record &record : packet.records)
		merge(record, now);

	PeerEntry *peer = findPeer(from);
	const bool newcomer = !peer;
	if (newcomer) {
		// One learnt peer per address: a new port replaces the old one, so
		// many ports of one host cannot crowd out the real peers.
		std::erase_if(peers_, [&](const PeerEntry &p) { return p.learnt && p.endpoint.address == from.address; });
		if (!makeRoom(true))
			return {};
		PeerEntry entry;
		entry.endpoint = from;
		entry.learnt = true;
		peers_.push_back(std::move(entry));
		peer = &peers_.back();
	}
	peer->heard = now;
	peer->node = packet.header.sender;
	// Only known peers get the full state: a spoofed source would turn a
	// small request into a flood at its victim. Once per half interval,
	// since a request may arrive over several paths.
	if (!(packet.header.flags & wire::kFlagPushPullRequest) || left_)
		return {};
	if (peer->replied && now - *peer->replied < config_.pushPullInterval / 2)
		return {};
	peer->replied = now;
	// A learnt peer (one that wrote first) gets our own sample only, about
	// what it sent: a forged source address must not turn into a flood at
	// its owner. Peers the caller found (mDNS, --peer) get the full state.
	std::vector<Datagram> out;
	if (newcomer || peer->learnt) {
		std::vector<wire::Record> mine;
		if (own_)
			mine.push_back(sampleRecord(*own_, now));
		for (auto &bytes : pack(mine, 0))
			out.push_back({ from, std::move(bytes) });
	} else {
		out = pushPull(from, wire::kFlagFullState, now);
	}
	count(out);
	return out;
}

void Gossip::merge(const wire::Record &record, SteadyTime now)
{
	std::visit(
		[&](const auto &r) {
			using T = std::decay_t<decltype(r)>;
			if constexpr (std::is_same_v<T, wire::Sample>)
				mergeSample(r, now);
			else if constexpr (std::is_same_v<T, wire::Leave>)
				mergeLeave(r, now);
			else if constexpr (std::is_same_v<T, wire::Reservation>)
				mergeReservation(r, now);
			else if constexpr (std::is_same_v<T, wire::Demand>)
				mergeDemand(r, now);
			else
				mergeLoad(r, now);
		},
		record);
}

bool Gossip::hasLeft(std::uint64_t node, std::uint64_t incarnation) const
{
	auto it = leaves_.find(node);
	return it != leaves_.end() && it->second.incarnation >= incarnation;
}

void Gossip::mergeSample(const wire::Sample &s, SteadyTime now)
{
	if (s.server == config_.node) {
		// Our own sample always wins over relayed copies of it.
		if (s.incarnation > incarnation_)
			refute(s.incarnation, now);
		return;
	}
	if (hasLeft(s.server, s.incarnation))
		return;
	const SteadyTime origin = now - milliseconds(s.ageMs);
	if (now - origin > config_.forgetAfter)
		return;
	if (auto it = servers_.find(s.server); it != servers_.end()) {
		ServerEntry &e = it->second;
		if (!newer(s.incarnation, s.sequence, e.sample.incarnation, e.sample.sequence))
			return;
		// Only the load changed: the cheap record spreads it.
		// Only the load changed: the cheap record spreads it, once the full
		// Sample went out its number of times.
		const bool compact = sameCapacity(e.sample, s) && s.ageMs <= wire::kMaxLoadAgeMs &&
				     (e.compact || e.transmits == 0);
		e.sample = s;
		e.sample.runnable = compact ? loadRunnable(s.runnable) : s.runnable;
		e.origin = origin;
		e.transmits = compact ? config_.loadTransmits
				      : sameCapacity(e.sample, s) ? std::max(e.transmits, config_.loadTransmits) : budget();
		e.compact = compact;
		return;
	}
	if (servers_.size() >= config_.maxServers) {
		// Make room by the stalest unpinned sample; a flood of made-up ids
		// can churn among themselves but never push out a listed server.
		const bool pinned = pinned_.contains(s.server);
		auto victim = servers_.end();
		for (auto it = servers_.begin(); it != servers_.end(); ++it) {
			if (pinned_.contains(it->first))
				continue;
			if (victim == servers_.end() || it->second.origin < victim->second.origin)
				victim = it;
		}
		++stats_.evicted;
		if (victim == servers_.end() || (!pinned && victim->second.origin >= origin))
			return;
		servers_.erase(victim);
	}
	servers_.emplace(s.server, ServerEntry{ s, origin, budget(), false });
}

void Gossip::mergeLeave(const wire::Leave &l, SteadyTime now)
{
	if (l.node == config_.node) {
		if (l.incarnation >= incarnation_)
			refute(l.incarnation, now);
		return;
	}
	auto it = leaves_.find(l.node);
	if (it != leaves_.end() && it->second.incarnation >= l.incarnation)
		return;
	if (it == leaves_.end() && leaves_.size() >= config_.maxLeaves) {
		evictOne(leaves_, [](const LeaveEntry &a, const LeaveEntry &b) { return a.heard < b.heard; });
		++stats_.evicted;
	}
	leaves_[l.node] = LeaveEntry{ l.incarnation, now, budget() };

	// A node that left no longer asks for jobs or holds any.
	if (auto d = demands_.find(l.node); d != demands_.end() && d->second.demand.incarnation <= l.incarnation)
		demands_.erase(d);
	std::erase_if(reservations_, [&](const auto &kv) {
		return kv.first.first == l.node && kv.second.reservation.incarnation <= l.incarnation;
	});
}

void Gossip::mergeReservation(const wire::Reservation &r, SteadyTime now)
{
	if (r.client == config_.node) {
		if (r.incarnation > incarnation_)
			refute(r.incarnation, now);
		return;
	}
	if (hasLeft(r.client, r.incarnation) || r.ageMs >= r.ttlMs)
		return;
	const ReservationKey key{ r.client, r.server };
	auto it = reservations_.find(key);
	if (it != reservations_.end() &&
	    !newer(r.incarnation, r.sequence, it->second.reservation.incarnation, it->second.reservation.sequence))
		return;
	if (it == reservations_.end() && reservations_.size() >= config_.maxReservations) {
		// The one to expire first is worth least.
		evictOne(reservations_, [](const ReservationEntry &a, const ReservationEntry &b) {
			return a.origin + milliseconds(a.reservation.ttlMs) < b.origin + milliseconds(b.reservation.ttlMs);
		});
		++stats_.evicted;
	}
	reservations_[key] = ReservationEntry{ r, now - milliseconds(r.ageMs), budget() };
}

void Gossip::mergeDemand(const wire::Demand &d, SteadyTime now)
{
	if (d.client == config_.node) {
		if (d.incarnation > incarnation_)
			refute(d.incarnation, now);
		return;
	}
	if (hasLeft(d.client, d.incarnation) || milliseconds(d.ageMs) >= config_.demandTtl)
		return;
	auto it = demands_.find(d.client);
	if (it != demands_.end() &&
	    !newer(d.incarnation, d.sequence, it->second.demand.incarnation, it->second.demand.sequence))
		return;
	const SteadyTime origin = now - milliseconds(d.ageMs);
	if (it == demands_.end() && demands_.size() >= config_.maxDemands) {
		auto victim = std::min_element(demands_.begin(), demands_.end(), [](const auto &a, const auto &b) {
			return a.second.origin < b.second.origin;
		});
		++stats_.evicted;
		if (victim->second.origin >= origin)
			return;
		demands_.erase(victim);
	}
	// A renewal of the same demand is a heartbeat; a new figure spreads fully.
	const bool renewal = it != demands_.end() && it->second.demand.wanted == d.wanted &&
			     it->second.demand.localSlots == d.localSlots;
	demands_[d.client] =
		DemandEntry{ d, origin, renewal ? std::min(budget(), config_.heartbeatTransmits) : budget() };
}

void Gossip::mergeLoad(const wire::Load &l, SteadyTime now)
{
	if (l.server == config_.node)
		return; // ours: we know better
	auto it = servers_.find(l.server);
	if (it == servers_.end() || (it->second.sample.incarnation & 0xffff) != l.incarnation) {
		// Nothing to apply it to: the full Sample comes by push-pull.
		++stats_.orphanLoads;
		return;
	}
	ServerEntry &e = it->second;
	if (hasLeft(l.server, e.sample.incarnation) || l.sequence <= e.sample.sequence)
		return;
	e.sample.sequence = l.sequence;
	e.sample.running = l.running;
	e.sample.runnable = l.runnable;
	e.origin = now - milliseconds(l.ageMs);
	// A full Sample still being spread goes on as one, with the new load.
	if (e.compact || e.transmits == 0) {
		e.compact = true;
		e.transmits = config_.loadTransmits;
	} else {
		e.transmits = std::max(e.transmits, config_.loadTransmits);
	}
}

// ---- sending

wire::Record Gossip::sampleRecord(const ServerEntry &e, SteadyTime now) const
{
	wire::Sample s = e.sample;
	s.ageMs = ageMs(e.origin, now); // relayed ages grow by the time held
	return s;
}

wire::Record Gossip::newsRecord(const ServerEntry &e, SteadyTime now) const
{
	const std::uint32_t age = ageMs(e.origin, now);
	if (!e.compact || age > wire::kMaxLoadAgeMs || e.sample.sequence > UINT32_MAX)
		return sampleRecord(e, now);
	return wire::Load{ e.sample.server,
			   static_cast<std::uint16_t>(e.sample.incarnation & 0xffff),
			   static_cast<std::uint32_t>(e.sample.sequence),
			   age,
			   e.sample.running,
			   e.sample.runnable };
}

wire::Record Gossip::reservationRecord(const ReservationEntry &e, SteadyTime now) const
{
	wire::Reservation r = e.reservation;
	r.ageMs = std::min(ageMs(e.origin, now), r.ttlMs);
	return r;
}

wire::Record Gossip::demandRecord(const DemandEntry &e, SteadyTime now) const
{
	wire::Demand d = e.demand;
	d.ageMs = ageMs(e.origin, now);
	return d;
}

void Gossip::expire(SteadyTime now)
{
	std::erase_if(servers_, [&](const auto &kv) {
		return now - kv.second.origin > config_.forgetAfter && !pinned_.contains(kv.first);
	});
	std::erase_if(leaves_, [&](const auto &kv) { return now - kv.second.heard > config_.forgetAfter; });
	auto over = [&](const auto &kv) {
		return kv.second.origin + milliseconds(kv.second.reservation.ttlMs) <= now;
	};
	std::erase_if(reservations_, over);
	std::erase_if(ownReservations_, over);
	std::erase_if(demands_, [&](const auto &kv) { return now - kv.second.origin >= config_.demandTtl; });
	std::erase_if(peers_, [&](const PeerEntry &p) { return p.learnt && now - p.heard > config_.forgetAfter; });
	// A bucket idle long enough to be full again carries no information.
	const double refill = config_.rateLimit > 0 ? config_.rateBurst / config_.rateLimit : 3600.0;
	std::erase_if(sources_, [&](const auto &kv) {
		return std::chrono::duration<double>(now - kv.second.last).count() > refill;
	});
}

std::vector<Gossip::Pending> Gossip::pending(SteadyTime now)
{
	std::vector<Pending> out;
	auto fresh = [&](SteadyTime origin) { return now - origin <= milliseconds(wire::kMaxAgeMs); };
	if (own_ && own_->transmits)
		out.push_back({ newsRecord(*own_, now), &own_->transmits, 0 });
	if (ownDemand_ && ownDemand_->transmits)
		out.push_back({ demandRecord(*ownDemand_, now), &ownDemand_->transmits, 0 });
	for (auto &[server, e] : ownReservations_)
		if (e.transmits)
			out.push_back({ reservationRecord(e, now), &e.transmits, 0 });
	for (auto &[node, e] : leaves_)
		if (e.transmits)
			out.push_back({ wire::Leave{ node, e.incarnation }, &e.transmits, 1 });
	for (auto &[id, e] : servers_)
		if (e.transmits && fresh(e.origin) && !hasLeft(id, e.sample.incarnation))
			out.push_back({ newsRecord(e, now), &e.transmits, pinned_.contains(id) ? 1 : 2 });
	for (auto &[key, e] : reservations_)
		if (e.transmits)
			out.push_back({ reservationRecord(e, now), &e.transmits, 1 });
	for (auto &[client, e] : demands_)
		if (e.transmits && fresh(e.origin))
			out.push_back({ demandRecord(e, now), &e.transmits, 1 });
	// Own news first, so that no flood of others' entries can crowd out
	// this node's heartbeats; then news of listed servers; within a rank
	// the entries sent least often.
	std::stable_sort(out.begin(), out.end(), [](const Pending &a, const Pending &b) {
		return a.rank != b.rank ? a.rank < b.rank : *a.transmits > *b.transmits;
	});
	return out;
}

std::vector<wire::Record> Gossip::ownState(SteadyTime now) const
{
	std::vector<wire::Record> out;
	if (own_)
		out.push_back(sampleRecord(*own_, now));
	if (ownDemand_)
		out.push_back(demandRecord(*ownDemand_, now));
	for (const auto &[server, e] : ownReservations_)
		if (e.reservation.count)
			out.push_back(reservationRecord(e, now));
	return out;
}

std::vector<wire::Record> Gossip::fullState(SteadyTime now) const
{
	std::vector<wire::Record> out = ownState(now);
	auto fresh = [&](SteadyTime origin) { return now - origin <= milliseconds(wire::kMaxAgeMs); };
	for (const auto &[node, e] : leaves_)
		out.push_back(wire::Leave{ node, e.incarnation });
	for (const auto &[id, e] : servers_)
		if (fresh(e.origin) && !hasLeft(id, e.sample.incarnation))
			out.push_back(sampleRecord(e, now));
	for (const auto &[key, e] : reservations_)
		if (e.reservation.count)
			out.push_back(reservationRecord(e, now));
	for (const auto &[client, e] : demands_)
		if (fresh(e.origin))
			out.push_back(demandRecord(e, now));
	return out;
}

std::vector<std::uint8_t> Gossip::seal(std::vector<std::uint8_t> bytes) const
{
	if (config_.sign) {
		const std::size_t body = bytes.size() - wire::kTagSize;
		config_.sign(std::span<const std::uint8_t>(bytes.data(), body),
			     std::span<std::uint8_t, wire::kTagSize>(bytes.data() + body, wire::kTagSize));
	}
	return bytes;
}

std::vector<std::vector<std::uint8_t>> Gossip::pack(const std::vector<wire::Record> &records,
						    std::uint8_t flags) const
{
	const std::uint8_t tagged = config_.sign ? wire::kFlagTagged : 0;
	std::vector<std::vector<std::uint8_t>> out;
	// A push-pull request rides on the first datagram only, so that the
	// peer answers once.
	wire::PacketWriter writer({ static_cast<std::uint8_t>(flags | tagged), config_.node, incarnation_ },
				  config_.maxDatagram);
	wire::PacketWriter rest({ static_cast<std::uint8_t>((flags & ~wire::kFlagPushPullRequest) | tagged),
				  config_.node, incarnation_ },
				config_.maxDatagram);
	wire::PacketWriter *w = &writer;
	for (const wire::Record &record : records) {
		if (w->add(record))
			continue;
		out.push_back(seal(w->finish()));
		w = &rest;
		w->add(record); // always fits an empty datagram: checked in the constructor
	}
	if (!w->empty() || (out.empty() && (flags & wire::kFlagPushPullRequest)))
		out.push_back(seal(w->finish()));
	return out;
}

std::vector<Datagram> Gossip::pushPull(const Endpoint &to, std::uint8_t flags, SteadyTime now)
{
	std::vector<Datagram> out;
	for (auto &bytes : pack(fullState(now), flags))
		out.push_back({ to, std::move(bytes) });
	return out;
}

void Gossip::count(const std::vector<Datagram> &out)
{
	for (const Datagram &d : out) {
		++stats_.sent;
		stats_.bytesSent += d.bytes.size();
	}
}

std::vector<Datagram> Gossip::tick(SteadyTime now)
{
	if (left_)
		return {};
	if (!started_) {
		started_ = true;
		nextRound_ = now;
		nextPushPull_ = now; // a newcomer asks for the state at once
	}
	expire(now);

	// Keep a live demand from expiring elsewhere.
	if (ownDemand_ && ownDemand_->demand.wanted > 0 && now - ownDemand_->origin >= config_.demandRefresh) {
		ownDemand_->demand.sequence = ++sequence_;
		ownDemand_->demand.incarnation = incarnation_;
		ownDemand_->origin = now;
		ownDemand_->transmits = std::min(budget(), config_.heartbeatTransmits);
	}

	// Rounds and pulls go to the peers the caller gave; learnt ones only
	// get answers to what they ask (no unsolicited traffic to an address
	// that may have been forged).
	std::vector<std::size_t> order;
	for (std::size_t i = 0; i < peers_.size(); ++i)
		if (!peers_[i].learnt)
			order.push_back(i);

	std::vector<Datagram> out;
	if (now >= nextRound_ && !order.empty()) {
		nextRound_ += config_.period;
		if (nextRound_ <= now)
			nextRound_ = now + config_.period;

		// A few distinct random peers: partial Fisher-Yates over indexes.
		const std::size_t fanout = std::min<std::size_t>(config_.fanout, order.size());
		for (std::size_t i = 0; i < fanout; ++i) {
			std::uniform_int_distribution<std::size_t> pick(i, order.size() - 1);
			std::swap(order[i], order[pick(rng_)]);
		}

		std::vector<Pending> due = pending(now);
		const std::uint8_t flags = config_.sign ? wire::kFlagTagged : 0;
		for (std::size_t i = 0; i < fanout && !due.empty(); ++i) {
			wire::PacketWriter w({ flags, config_.node, incarnation_ }, config_.maxDatagram);
			for (Pending &p : due)
				if (*p.transmits && w.add(p.record))
					--*p.transmits;
			if (!w.empty())
				out.push_back({ peers_[order[i]].endpoint, seal(w.finish()) });
		}
	} else if (now >= nextRound_) {
		nextRound_ = now + config_.period;
	}

	// A suspect that is also a peer is asked directly (as SWIM probes):
	// alive, it answers with its own fresh sample; crashed, it stays silent.
	for (PeerEntry &p : peers_) {
		if (p.node == 0 || (p.probed && now - *p.probed < config_.suspectAfter))
			continue;
		if (liveness(p.node, now) != Liveness::Suspect)
			continue;
		p.probed = now;
		for (auto &bytes : pack(ownState(now), wire::kFlagPushPullRequest))
			out.push_back({ p.endpoint, std::move(bytes) });
	}

	if (now >= nextPushPull_ && !order.empty()) {
		nextPushPull_ = now + config_.pushPullInterval;
		std::uniform_int_distribution<std::size_t> pick(0, order.size() - 1);
		const Endpoint to = peers_[order[pick(rng_)]].endpoint;
		// The request carries only this node's own records: the reply
		// repairs this node, and the peer's own pulls repair the peer.
		for (auto &bytes : pack(ownState(now), wire::kFlagPushPullRequest))
			out.push_back({ to, std::move(bytes) });
	}

	// Peers that may not know us (--peer) are asked for their news once a
	// heartbeat interval: they answer even if they never write first.
	for (PeerEntry &p : peers_) {
		if (!p.pull || (p.pulled && now - *p.pulled < config_.heartbeatInterval))
			continue;
		p.pulled = now;
		for (auto &bytes : pack(ownState(now), wire::kFlagPushPullRequest))
			out.push_back({ p.endpoint, std::move(bytes) });
	}
	count(out);
	return out;
}

std::vector<Datagram> Gossip::leave(SteadyTime now)
{
	(void)now;
	if (left_)
		return {};
	left_ = true;
	std::vector<Datagram> out;
	const wire::Header header{ static_cast<std::uint8_t>(config_.sign ? wire::kFlagTagged : 0), config_.node,
				   incarnation_ };
	for (const PeerEntry &p : peers_) {
		wire::PacketWriter w(header, config_.maxDatagram);
		w.add(wire::Leave{ config_.node, incarnation_ });
		out.push_back({ p.endpoint, seal(w.finish()) });
	}
	count(out);
	return out;
}

// ---- queries

std::optional<GossipServer> Gossip::server(std::uint64_t id, SteadyTime now) const
{
	const ServerEntry *e = nullptr;
	if (id == config_.node)
		e = own_ ? &*own_ : nullptr;
	else if (auto it = servers_.find(id); it != servers_.end())
		e = &it->second;
	if (!e)
		return std::nullopt;
	GossipServer out;
	out.sample = e->sample;
	out.sample.ageMs = ageMs(e->origin, now);
	out.age = std::max(milliseconds::zero(), std::chrono::duration_cast<milliseconds>(now - e->origin));
	out.liveness = liveness(id, now);
	return out;
}

Liveness Gossip::liveness(std::uint64_t id, SteadyTime now) const
{
	if (id == config_.node)
		return !own_ ? Liveness::Unknown : left_ ? Liveness::Left : Liveness::Alive;
	auto it = servers_.find(id);
	if (it == servers_.end())
		return leaves_.contains(id) ? Liveness::Left : Liveness::Unknown;
	const ServerEntry &e = it->second;
	if (hasLeft(id, e.sample.incarnation))
		return Liveness::Left;
	const auto silent = now - e.origin;
	if (silent < config_.suspectAfter)
		return Liveness::Alive;
	if (silent < config_.deadAfter)
		return Liveness::Suspect;
	return Liveness::Dead;
}

std::uint32_t Gossip::reservedByOthers(std::uint64_t server, SteadyTime now) const
{
	std::optional<SteadyTime> sampled;
	if (server == config_.node && own_)
		sampled = own_->origin;
	else if (auto it = servers_.find(server); it != servers_.end())
		sampled = it->second.origin;
	std::uint64_t total = 0;
	for (const auto &[key, e] : reservations_) {
		const wire::Reservation &r = e.reservation;
		if (key.second != server || r.count == 0)
			continue;
		if (e.origin + milliseconds(r.ttlMs) <= now || hasLeft(r.client, r.incarnation))
			continue;
		// The server's own later sample already counts these jobs.
		if (sampled && *sampled > e.origin + config_.reservationCoverAfter)
			continue;
		total += r.count;
	}
	return static_cast<std::uint32_t>(std::min<std::uint64_t>(total, UINT32_MAX));
}

DemandSummary Gossip::demand(SteadyTime now, bool includeOwn) const
{
	DemandSummary sum;
	auto add = [&](const wire::Demand &d) {
		if (d.wanted == 0)
			return;
		sum.wanted += d.wanted;
		sum.localSlots += d.localSlots;
		++sum.clients;
	};
	if (includeOwn && ownDemand_ && !left_)
		add(ownDemand_->demand);
	for (const auto &[client, e] : demands_)
		if (now - e.origin < config_.demandTtl && !hasLeft(client, e.demand.incarnation))
			add(e.demand);
	return sum;
}

} // namespace dmdns
