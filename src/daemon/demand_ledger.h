// What this daemon tells gossip its own clients want: the lines it hands out and the builds running here.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "daemon/hosts_query.h"

namespace dmdns {

// Answers are pure (answerHosts()); what they leave behind for the farm is
// kept here. Two sources: a query whose client will use the line reserves
// its jobs on the servers listed; a hosts file or +zeroconf file, which no
// one asks for, counts the distcc clients running here as the builds'
// demand. The demand of the files is told again at every rewrite while it
// is above zero, and once more when it falls to zero, so that others stop
// counting it at once rather than when it expires.
class DemandLedger final
{
public:
	using Reservations = std::vector<std::pair<std::uint64_t, std::uint32_t>>;
	// Tells gossip: jobs reserved per server id, the remote jobs wanted,
	// this machine's slots (GossipNode::handedOut()).
	using Sink = std::function<void(const Reservations &reservations, std::uint32_t want, std::uint32_t localSlots)>;

	explicit DemandLedger(Sink sink)
		: sink_(std::move(sink)) { }

	// A query was answered; a look (not @answer.reserve) leaves nothing.
	void answered(const HostsAnswer &answer);
	// The files were rewritten while @clients distcc clients run here.
	void buildsRunning(std::uint32_t clients, std::uint32_t localSlots);

	// The demand the files told last.
	std::uint32_t fileDemand() const noexcept { return fileDemand_; }

private:
	Sink sink_;
	std::uint32_t fileDemand_ = 0;
};

} // namespace dmdns
