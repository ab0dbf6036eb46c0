// This node's own word (its sample, demand and reservations) and the rounds each still goes out in.
#include "distcc-mdns/gossip/own_news.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "distcc-mdns/gossip/server_table.h"

namespace dmdns::gossip {

namespace {

using std::chrono::milliseconds;

// Whether two samples of one server describe the same load: a sample that
// only advances the sequence is a heartbeat. The host's runnable count
// jitters by a task or two from one reading to the next; only a move by a
// quarter of its cpus (at least one task) is news.
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

} // namespace

std::uint32_t ageMs(SteadyTime origin, SteadyTime now) noexcept
{
	const auto age = std::chrono::duration_cast<milliseconds>(now - origin).count();
	if (age <= 0)
		return 0;
	return static_cast<std::uint32_t>(std::min<long long>(age, wire::kMaxAgeMs));
}

std::uint64_t bump(std::uint64_t &counter) noexcept
{
	if (counter + 1 < wire::kMaxCounter)
		++counter;
	return counter;
}

OwnNews::OwnNews(const OwnNewsSettings &settings)
	: settings_(settings) { }

void OwnNews::setSample(wire::Sample sample, SteadyTime now)
{
	clampSample(sample);
	sample.server = settings_.node;
	sample.incarnation = settings_.incarnation;
	sample.sequence = sampleSequence_ + 1;
	sample.ageMs = 0;
	if (std::string why = wire::validate(sample); !why.empty())
		throw std::invalid_argument("own gossip sample: " + why);
	measured_ = now;
	if (sample_ && sameLoad(*sample_, sample))
		return; // the load as sent still holds: paced() restamps it when due
	if (sample_ && sameCapacity(*sample_, sample)) {
		// A new load: it waits for each peer's paced turn (paced()), as a
		// Load once the full Sample went out its number of times.
		sample.sequence = bump(sampleSequence_);
		sample.runnable = loadRunnable(sample.runnable);
		sample_ = sample;
		sampleOrigin_ = now;
		changed_ = sample.sequence;
		changedAt_ = now;
		compact_ = compact_ || sampleTransmits_ == 0;
		return;
	}
	sample.sequence = bump(sampleSequence_);
	sample_ = sample;
	sampleOrigin_ = now;
	compact_ = false;
	sampleTransmits_ = settings_.newsTransmits;
}

std::vector<wire::Record> OwnNews::paced(SteadyTime now)
{
	std::vector<wire::Record> out;
	if (!sample_)
		return out;
	// The newest measurement that found the load unchanged makes it a
	// heartbeat: a new sequence, as of that measurement (never later, so
	// the age is honest; at most one per setSample, below the pace
	// receivers believe).
	if (measured_ > sampleOrigin_) {
		sample_->sequence = bump(sampleSequence_);
		sampleOrigin_ = measured_;
	}
	if (compact_ && ageMs(sampleOrigin_, now) <= wire::kMaxLoadAgeMs && sampleSequence_ <= UINT32_MAX) {
		out.push_back(wire::Load{ settings_.node, static_cast<std::uint16_t>(settings_.incarnation & 0xffff),
					  static_cast<std::uint32_t>(sample_->sequence), ageMs(sampleOrigin_, now),
					  sample_->running, sample_->runnable });
	} else {
		out.push_back(*sampleAt(now));
		if (const auto p = profile())
			out.push_back(*p);
	}
	return out;
}

void OwnNews::setProfile(std::uint64_t digest, SteadyTime now)
{
	if (profile_ == digest)
		return;
	profile_ = digest;
	if (!sample_)
		return; // goes with the first Sample
	// The PROFILE rides with the full Sample, which peers take first-hand:
	// send both again at once, with a new sequence like any news.
	sample_->sequence = bump(sampleSequence_);
	sampleOrigin_ = now;
	compact_ = false;
	sampleTransmits_ = settings_.newsTransmits;
}

void OwnNews::setDemand(std::uint32_t wanted, std::uint32_t localSlots, SteadyTime now)
{
	wanted = std::min(wanted, wire::kMaxWantedJobs);
	localSlots = std::min(localSlots, wire::kMaxLocalSlots);
	if (const wire::Demand *d = demand()) {
		// renewDemand() renews an unchanged demand on its own schedule.
		if (d->wanted == wanted && d->localSlots == localSlots)
			return;
	}
	wire::Demand d{ settings_.node, settings_.incarnation, bump(sequence_), 0, wanted, localSlots };
	demand_ = Entry{ d, now, settings_.newsTransmits };
}

bool OwnNews::reserve(std::uint64_t server, std::uint32_t count, SteadyTime now)
{
	if (server == 0)
		throw std::invalid_argument("reservation on server id 0");
	count = std::min(count, wire::kMaxReservedJobs);
	if (count == 0 && !reservations_.contains(server))
		return false;
	bool evicted = false;
	if (!reservations_.contains(server) && reservations_.size() >= settings_.maxReservations) {
		reservations_.erase(std::min_element(reservations_.begin(), reservations_.end(),
						     [](const auto &a, const auto &b) {
							     return a.second.origin < b.second.origin;
						     }));
		evicted = true;
	}
	const auto ttl = static_cast<std::uint32_t>(settings_.reservationTtl.count());
	wire::Reservation r{ settings_.node, server, count, ttl, 0, settings_.incarnation, bump(sequence_) };
	reservations_[server] = Entry{ r, now, settings_.newsTransmits };
	return evicted;
}

void OwnNews::setSpeed(std::uint64_t server, double logTime, double jobs, SteadyTime now)
{
	if (server == 0 || server == settings_.node)
		throw std::invalid_argument("speed report on server id 0 or this node");
	auto it = speeds_.find(server);
	if (it == speeds_.end()) {
		if (speeds_.size() >= settings_.maxSpeedReports)
			speeds_.erase(std::min_element(speeds_.begin(), speeds_.end(), [](const auto &a, const auto &b) {
				return a.second.updated < b.second.updated;
			}));
		wire::Speed s{ settings_.node, server, settings_.incarnation, 0, 0, 0.0, 1 };
		it = speeds_.emplace(server, SpeedEntry{ Entry{ s, now, 0 }, false, 0.0, 1, now }).first;
		it->second.entry.origin = now - settings_.speedRefresh; // due at once
	}
	SpeedEntry &e = it->second;
	e.logTime = std::clamp(logTime, 0.0, wire::kMaxSpeedLogTime);
	e.jobs = static_cast<std::uint32_t>(std::clamp(std::round(jobs), 1.0, double{ wire::kMaxSpeedJobs }));
	e.updated = now;
	e.pending = true;
}

void OwnNews::setClients(std::vector<wire::ClientEntry> entries, std::uint32_t others)
{
	clientsWanted_ = JobsTable::List{ 0, 0, std::move(entries), others };
}

void OwnNews::setLocalJobs(std::uint32_t jobs)
{
	localWanted_ = std::min(jobs, wire::kMaxClientJobs);
}

void OwnNews::refute(const wire::Record &record, SteadyTime now)
{
	if (!sample_)
		return;
	// Only this node speaks for itself, and every peer believes its own
	// word over anything relayed: a LEAVE of this run, or a copy of its
	// sample newer than its own, counts only where a relay may speak (a
	// --peer or a key holder), and there it makes the peer ask this node.
	// Saying its own word again at once is refutation enough, for an equal
	// incarnation too; the run keeps its one incarnation (the TXT record
	// carries the same), and no claim makes a counter jump.
	// Copies of its own word that others hold are no claim: every full
	// state carries one, with the age its holder adds. Refuting those
	// would bump the sequence with every answer heard, faster than
	// receivers believe a server can sample, until they refuse its word.
	if (const auto *sample = std::get_if<wire::Sample>(&record)) {
		wire::Sample copy = *sample;
		copy.ageMs = sample_->ageMs;
		if (copy.incarnation < sample_->incarnation || copy == *sample_ ||
		    (copy.incarnation == sample_->incarnation && copy.sequence < sample_->sequence))
			return;
	} else if (const auto *leave = std::get_if<wire::Leave>(&record)) {
		if (leave->incarnation < sample_->incarnation)
			return;
	} else {
		return;
	}
	sample_->sequence = bump(sampleSequence_);
	sampleOrigin_ = now;
	compact_ = false;
	sampleTransmits_ = settings_.newsTransmits;
}

void OwnNews::restamp(SteadyTime now)
{
	// At most one a 50 ms, the pace receivers allow.
	if (sample_ && now - sampleOrigin_ >= ServerTable::kMinSampleMs) {
		sample_->sequence = bump(sampleSequence_);
		sampleOrigin_ = now;
	}
}

void OwnNews::renewDemand(SteadyTime now)
{
	if (!demand_)
		return;
	auto &d = std::get<wire::Demand>(demand_->record);
	if (d.wanted > 0 && now - demand_->origin >= settings_.demandRefresh) {
		d.sequence = bump(sequence_);
		d.incarnation = settings_.incarnation;
		demand_->origin = now;
		demand_->transmits = std::max(demand_->transmits, 1u);
	}
}

void OwnNews::expire(SteadyTime now)
{
	// A window not updated for an hour (the oldest age the wire carries)
	// is no news: receivers have let it decay long since.
	std::erase_if(speeds_, [&](const auto &kv) { return now - kv.second.updated >= milliseconds(wire::kMaxAgeMs); });
	std::erase_if(reservations_, [&](const auto &kv) {
		const auto &r = std::get<wire::Reservation>(kv.second.record);
		return kv.second.origin + milliseconds(r.ttlMs) <= now;
	});
}

std::vector<wire::Record> OwnNews::round(SteadyTime now)
{
	std::vector<wire::Record> news;
	// A new run, capacity, state or profile goes to every peer at once
	// (the full Sample); loads and heartbeats go paced (paced()).
	if (sample_ && sampleTransmits_ && !compact_) {
		--sampleTransmits_;
		news.push_back(*sampleAt(now));
		if (const auto p = profile())
			news.push_back(*p);
		compact_ = sampleTransmits_ == 0;
	}
	if (demand_ && demand_->transmits) {
		--demand_->transmits;
		wire::Demand d = std::get<wire::Demand>(demand_->record);
		d.ageMs = ageMs(demand_->origin, now);
		news.push_back(d);
	}
	for (auto &[server, e] : reservations_) {
		if (!e.transmits)
			continue;
		--e.transmits;
		wire::Reservation r = std::get<wire::Reservation>(e.record);
		r.ageMs = std::min(ageMs(e.origin, now), r.ttlMs);
		news.push_back(r);
	}
	speedRound(news, now);
	jobsRound(news, now);
	return news;
}

void OwnNews::jobsRound(std::vector<wire::Record> &news, SteadyTime now)
{
	if (clientsWanted_) {
		const bool changed = clients_ ? clients_->entries != clientsWanted_->entries ||
							clients_->others != clientsWanted_->others
					      : !clientsWanted_->entries.empty() || clientsWanted_->others != 0;
		if (changed && (!clients_ || now - clientsOrigin_ >= settings_.clientsInterval)) {
			clients_ = *clientsWanted_;
			clients_->incarnation = settings_.incarnation;
			clients_->sequence = bump(clientsSequence_);
			clientsOrigin_ = now;
		}
	}
	if (localWanted_) {
		if (!local_ || std::get<wire::LocalJobs>(local_->record).jobs != *localWanted_) {
			wire::LocalJobs l{ settings_.node, settings_.incarnation, bump(sequence_), *localWanted_ };
			local_ = Entry{ l, now, settings_.clientsTransmits };
		} else if (now - local_->origin >= settings_.localJobsRefresh) {
			// The same word again (same sequence): receivers keep it.
			local_->origin = now;
			local_->transmits = std::max(local_->transmits, 1u);
		}
	}
	if (local_ && local_->transmits) {
		--local_->transmits;
		news.push_back(local_->record);
	}
}

void OwnNews::speedRound(std::vector<wire::Record> &news, SteadyTime now)
{
	// Jobs end many a second: a changed window is said again once a
	// speedRefresh, and a few reports a round at most, taken in turn after
	// the last one sent so that none waits behind the others for ever.
	for (auto &[server, e] : speeds_) {
		if (!e.pending || now - e.entry.origin < settings_.speedRefresh)
			continue;
		auto &s = std::get<wire::Speed>(e.entry.record);
		s.sequence = bump(sequence_);
		s.logTime = e.logTime;
		s.jobs = e.jobs;
		e.entry.origin = e.updated;
		e.entry.transmits = settings_.newsTransmits;
		e.pending = false;
	}
	std::size_t sent = 0;
	auto start = speeds_.upper_bound(speedCursor_);
	for (std::size_t i = 0; i < speeds_.size() && sent < settings_.speedPerRound; ++i, ++start) {
		if (start == speeds_.end())
			start = speeds_.begin();
		SpeedEntry &e = start->second;
		if (!e.entry.transmits)
			continue;
		--e.entry.transmits;
		wire::Speed s = std::get<wire::Speed>(e.entry.record);
		s.ageMs = ageMs(e.entry.origin, now);
		news.push_back(s);
		speedCursor_ = start->first;
		++sent;
	}
}

std::vector<wire::Record> OwnNews::clientParts() const
{
	std::vector<wire::Record> out;
	if (clients_)
		for (wire::Clients &part : JobsTable::parts(settings_.node, *clients_))
			out.push_back(std::move(part));
	return out;
}

std::vector<wire::Record> OwnNews::state(SteadyTime now, bool list, bool local) const
{
	std::vector<wire::Record> out;
	if (sample_)
		out.push_back(*sampleAt(now));
	if (const auto p = profile())
		out.push_back(*p);
	if (demand_) {
		wire::Demand d = std::get<wire::Demand>(demand_->record);
		d.ageMs = ageMs(demand_->origin, now);
		out.push_back(d);
	}
	for (const auto &[server, e] : reservations_) {
		wire::Reservation r = std::get<wire::Reservation>(e.record);
		if (r.count == 0)
			continue;
		r.ageMs = std::min(ageMs(e.origin, now), r.ttlMs);
		out.push_back(r);
	}
	if (clients_ && list)
		for (wire::Clients &part : JobsTable::parts(settings_.node, *clients_))
			out.push_back(std::move(part));
	if (local_ && local)
		out.push_back(local_->record);
	// The newest reports that went out at least once.
	std::vector<const SpeedEntry *> speeds;
	for (const auto &[server, e] : speeds_)
		if (std::get<wire::Speed>(e.entry.record).sequence != 0)
			speeds.push_back(&e);
	const std::size_t keep = std::min(speeds.size(), settings_.speedInState);
	std::partial_sort(speeds.begin(), speeds.begin() + keep, speeds.end(),
			  [](const SpeedEntry *a, const SpeedEntry *b) { return a->entry.origin > b->entry.origin; });
	for (std::size_t i = 0; i < keep; ++i) {
		wire::Speed s = std::get<wire::Speed>(speeds[i]->entry.record);
		s.ageMs = ageMs(speeds[i]->entry.origin, now);
		out.push_back(s);
	}
	return out;
}

std::optional<wire::Sample> OwnNews::sampleAt(SteadyTime now) const
{
	if (!sample_)
		return std::nullopt;
	wire::Sample s = *sample_;
	s.ageMs = ageMs(sampleOrigin_, now);
	return s;
}

std::optional<wire::Profile> OwnNews::profile() const
{
	// Only beside a Sample: alone it would be taken nowhere.
	if (!sample_ || !profile_)
		return std::nullopt;
	return wire::Profile{ settings_.node, settings_.incarnation, *profile_ };
}

const wire::Demand *OwnNews::demand() const noexcept
{
	return demand_ ? &std::get<wire::Demand>(demand_->record) : nullptr;
}

} // namespace dmdns::gossip
