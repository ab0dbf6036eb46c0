// This machine's local users as the system daemon sees them: who is building now, and each one's portion of the machine's share.
#include "daemon/local_users.h"

#include <algorithm>
#include <map>

namespace dmdns {

LocalUsers::User &LocalUsers::entry(uid_t uid, SteadyTime now)
{
	auto it = std::find_if(users_.begin(), users_.end(), [uid](const User &u) { return u.uid == uid; });
	if (it != users_.end())
		return *it;
	// Expired users go first; then, with the table still full, the one
	// heard from least recently.
	std::erase_if(users_, [now](const User &u) { return !active(u, now); });
	if (users_.size() >= std::max<std::size_t>(config_.maxUsers, 1))
		users_.erase(std::min_element(users_.begin(), users_.end(),
					      [](const User &a, const User &b) { return a.seen < b.seen; }));
	return users_.emplace_back(User{ uid, 0, now, now, {}, now });
}

void LocalUsers::asked(uid_t uid, std::uint32_t demand, bool building, SteadyTime now)
{
	User &u = entry(uid, now);
	u.demand = demand;
	u.seen = now;
	// A look never shortens what a handed-out line still holds.
	u.until = std::max(now < u.until ? u.until : now, now + (building ? config_.buildHold : config_.lookHold));
}

void LocalUsers::idle(uid_t uid, SteadyTime now)
{
	User &u = entry(uid, now);
	u.seen = now;
	u.until = now + config_.lookHold;
}

void LocalUsers::builds(uid_t uid, std::uint32_t want, SteadyTime now)
{
	const bool known = std::any_of(users_.begin(), users_.end(), [uid](const User &u) { return u.uid == uid; });
	// A build's end need not make room for a user no longer known.
	if (!known && want == 0)
		return;
	User &u = entry(uid, now);
	u.builds = want;
	u.seen = now;
}

void LocalUsers::reserved(uid_t uid, Reservations jobs, SteadyTime until, SteadyTime now)
{
	User &u = entry(uid, now);
	u.jobs = std::move(jobs);
	u.jobsUntil = until;
}

LocalUsers::Reservations LocalUsers::reservations(SteadyTime now) const
{
	std::map<std::uint64_t, std::uint64_t> sum;
	for (const User &u : users_)
		if (now < u.jobsUntil)
			for (const auto &[server, count] : u.jobs)
				sum[server] += count;
	Reservations out;
	for (const auto &[server, count] : sum)
		out.emplace_back(server, static_cast<std::uint32_t>(std::min<std::uint64_t>(count, UINT32_MAX)));
	return out;
}

std::vector<uid_t> LocalUsers::building(SteadyTime now) const
{
	std::vector<uid_t> out;
	for (const User &u : users_)
		if (active(u, now))
			out.push_back(u.uid);
	std::sort(out.begin(), out.end());
	return out;
}

std::vector<std::uint32_t> LocalUsers::othersDemands(uid_t uid, SteadyTime now) const
{
	std::vector<std::uint32_t> out;
	for (const User &u : users_)
		if (u.uid != uid && active(u, now) && demandOf(u, now) > 0)
			out.push_back(demandOf(u, now));
	return out;
}

std::vector<LocalUsers::Other> LocalUsers::others(uid_t uid, SteadyTime now) const
{
	std::vector<Other> out;
	for (const User &u : users_)
		if (u.uid != uid && active(u, now))
			out.push_back({ u.uid, demandOf(u, now), u.builds > 0 });
	return out;
}

std::uint32_t LocalUsers::totalDemand(SteadyTime now) const
{
	std::uint64_t sum = 0;
	for (const User &u : users_)
		if (active(u, now))
			sum += demandOf(u, now);
	return static_cast<std::uint32_t>(std::min<std::uint64_t>(sum, kAll));
}

std::uint32_t LocalUsers::shareFor(uid_t uid, std::uint32_t slots, SteadyTime now) const
{
	std::vector<uid_t> uids = building(now);
	if (!std::binary_search(uids.begin(), uids.end(), uid))
		uids.insert(std::upper_bound(uids.begin(), uids.end(), uid), uid);
	const auto n = static_cast<std::uint32_t>(uids.size());
	const auto rank = static_cast<std::uint32_t>(std::lower_bound(uids.begin(), uids.end(), uid) - uids.begin());
	return slots / n + (rank < slots % n ? 1 : 0);
}

} // namespace dmdns
