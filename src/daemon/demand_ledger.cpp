// What this daemon tells gossip its own clients want.
#include "daemon/demand_ledger.h"

#include <algorithm>

#include "distcc-mdns/gossip_wire.h"

namespace dmdns {

DemandLedger::DemandLedger(uv::Clock &clock, Sink sink, Census count, Slots slots)
	: clock_(clock), sink_(std::move(sink)), census_(std::move(count)), slots_(std::move(slots)),
	  timer_(clock_.alarm([this] { expired(); }))
{
}

std::uint32_t DemandLedger::clients(std::uint32_t uid) const
{
	const auto it = byUid_.find(uid);
	return it == byUid_.end() ? 0 : it->second;
}

void DemandLedger::answered(const HostsAnswer &answer)
{
	if (!answer.reserve)
		return;
	// The reservations expire in gossip by themselves (their TTL); the
	// demand is ours to end, at the census after kQueryHold.
	queryAt_ = clock_.now();
	queryWant_ = answer.want;
	held_ = true;
	told_ = current();
	sink_(answer.reservations, told_, answer.localSlots);
	// The census that ends the line's hold runs when the hold ends, not up
	// to a census interval later.
	running_ = true;
	timer_->start(kQueryHold, kCensusInterval);
}

void DemandLedger::building(std::uint64_t connection, std::uint32_t uid, std::uint32_t want,
			    const Reservations &reservations, std::uint32_t localSlots, std::uint32_t handed)
{
	builds_[connection] = Build{ uid, want, handed };
	told_ = current();
	sink_(reservations, told_, localSlots);
	// A renew every half second must not push the next census back: the
	// census only starts here when it is not running.
	schedule();
}

void DemandLedger::ended(std::uint64_t connection)
{
	if (builds_.erase(connection) == 0)
		return;
	// Counted and told now: the build's distcc clients ended with it (make
	// waits for its recipes), and the last census, up to a second old,
	// would still count them as its user's demand until the next.
	census();
}

std::vector<std::uint32_t> DemandLedger::buildWants(std::uint32_t uid, std::uint64_t except) const
{
	std::vector<std::uint32_t> wants;
	for (const auto &[connection, build] : builds_)
		if (build.uid == uid && connection != except)
			wants.push_back(build.want);
	return wants;
}

std::vector<DemandLedger::UserBuild> DemandLedger::buildsOf(std::uint32_t uid) const
{
	std::vector<UserBuild> out;
	for (const auto &[connection, build] : builds_)
		if (build.uid == uid)
			out.push_back({ connection, build.want, build.handed });
	return out;
}

std::uint32_t DemandLedger::buildWant(std::uint32_t uid) const
{
	std::uint64_t sum = 0;
	for (const std::uint32_t want : buildWants(uid))
		sum += want;
	return static_cast<std::uint32_t>(std::min<std::uint64_t>(sum, UINT32_MAX));
}

std::set<std::uint32_t> DemandLedger::buildUids() const
{
	std::set<std::uint32_t> uids;
	for (const auto &[connection, build] : builds_)
		uids.insert(build.uid);
	return uids;
}

std::map<std::uint32_t, std::uint32_t> DemandLedger::demandByUid() const
{
	std::map<std::uint32_t, std::uint64_t> builds;
	for (const auto &[connection, build] : builds_)
		builds[build.uid] += build.want;
	std::map<std::uint32_t, std::uint32_t> out = byUid_;
	for (const auto &[uid, want] : builds) {
		std::uint32_t &demand = out[uid];
		demand = std::max(demand, static_cast<std::uint32_t>(std::min<std::uint64_t>(want, UINT32_MAX)));
	}
	return out;
}

std::uint32_t DemandLedger::current() const
{
	std::uint64_t sum = 0;
	for (const auto &[uid, demand] : demandByUid())
		sum += demand;
	// Each want is clamped to the farm; many builds together are one
	// client's demand, which the wire bounds.
	auto demand = static_cast<std::uint32_t>(std::min<std::uint64_t>(sum, wire::kMaxWantedJobs));
	if (held_)
		demand = std::max(demand, queryWant_);
	return demand;
}

void DemandLedger::watchAlways()
{
	always_ = true;
	census();
}

void DemandLedger::expired()
{
	// The first expiry after a line was handed out ends its hold. The
	// alarm runs on the loop's cached time, which lags the real clock by
	// the work of the iteration that answered: comparing real times here
	// could find the hold a few milliseconds short of kQueryHold and keep
	// it a whole census interval longer.
	held_ = false;
	census();
}

void DemandLedger::schedule()
{
	if (running_)
		return;
	running_ = true;
	timer_->start(kCensusInterval, kCensusInterval);
}

void DemandLedger::census()
{
	const auto now = clock_.now();
	byUid_ = census_();
	std::uint64_t total = 0;
	for (const auto &[uid, count] : byUid_)
		total += count;
	total_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(total, UINT32_MAX));
	const std::uint32_t demand = current();
	if (demand > 0 || told_ > 0)
		sink_({}, demand, slots_());
	told_ = demand;
	const bool watching = queryAt_ && now - *queryAt_ < kWatch;
	if (!always_ && !watching && total_ == 0 && builds_.empty()) {
		timer_->stop();
		running_ = false;
		queryAt_.reset();
	} else {
		schedule();
	}
}

FarmState withLocalUsers(FarmState farm, const std::map<std::uint32_t, std::uint32_t> &demandByUid,
			 std::uint32_t uid)
{
	for (const auto &[other, demand] : demandByUid) {
		if (other == uid || demand == 0)
			continue;
		farm.wanted += demand;
		farm.demands.push_back(demand);
	}
	return farm;
}

} // namespace dmdns
