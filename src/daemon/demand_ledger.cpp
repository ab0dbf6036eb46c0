// What this daemon tells gossip its own clients want.
#include "daemon/demand_ledger.h"

#include <algorithm>

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
	told_ = std::max(told_, answer.want);
	sink_(answer.reservations, std::max(answer.want, total_), answer.localSlots);
	// The census that ends the line's hold runs when the hold ends, not up
	// to a census interval later.
	running_ = true;
	timer_->start(kQueryHold, kCensusInterval);
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
	std::uint32_t demand = total_;
	if (held_)
		demand = std::max(demand, queryWant_);
	if (demand > 0 || told_ > 0)
		sink_({}, demand, slots_());
	told_ = demand;
	const bool watching = queryAt_ && now - *queryAt_ < kWatch;
	if (!always_ && !watching && total_ == 0) {
		timer_->stop();
		running_ = false;
		queryAt_.reset();
	} else {
		schedule();
	}
}

FarmState withLocalUsers(FarmState farm, const std::map<std::uint32_t, std::uint32_t> &clientsByUid,
			 std::uint32_t uid)
{
	for (const auto &[other, clients] : clientsByUid) {
		if (other == uid || clients == 0)
			continue;
		farm.wanted += clients;
		farm.demands.push_back(clients);
	}
	return farm;
}

} // namespace dmdns
