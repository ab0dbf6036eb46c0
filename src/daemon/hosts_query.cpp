// The one request both programs answer: which hosts should this client use.
#include "daemon/hosts_query.h"

#include <algorithm>
#include <random>

#include "distcc-mdns/gossip_wire.h"
#include "distcc-mdns/hosts_line.h"

namespace dmdns {

namespace {

// distcc names a host in its lock files as the line does: an IPv6 address
// may carry brackets and a scope.
std::string bareHost(std::string host)
{
	if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
		host = host.substr(1, host.size() - 2);
	if (const std::size_t scope = host.find('%'); scope != std::string::npos)
		host.erase(scope);
	return host;
}

// Per entry: whether one of its addresses and its port are failing.
std::vector<bool> failingEntries(const std::vector<DirectoryEntry> &entries,
				 const std::set<std::pair<std::string, std::uint16_t>> &failing)
{
	std::vector<bool> marked(entries.size(), false);
	if (failing.empty())
		return marked;
	for (std::size_t i = 0; i < entries.size(); ++i)
		for (const Address &a : entries[i].server.addresses)
			if (failing.contains({ bareHost(a.text), entries[i].server.port }))
				marked[i] = true;
	return marked;
}

// The farm's slots: every server's plus this machine's, saturating.
std::uint32_t farmSlots(const std::vector<DirectoryEntry> &entries, std::uint32_t localSlots)
{
	std::uint64_t slots = 0;
	for (const DirectoryEntry &e : entries)
		slots += e.server.slots;
	// No server known: the farm is this machine.
	if (slots == 0)
		return localSlots;
	return static_cast<std::uint32_t>(std::min<std::uint64_t>(slots, wire::kMaxWantedJobs));
}

} // namespace

HostsAnswer answerHosts(const HostsRequest &request, const std::vector<DirectoryEntry> &entries,
			const FarmState &others, const LocalMachine &local, std::string_view source,
			std::optional<std::uint64_t> fixedSeed)
{
	PlanOptions options;
	options.localSlots = request.localSlots.value_or(local.slots);
	if (request.want) {
		// One client cannot use more than the farm has: a demand beyond
		// its slots would only cut the other clients' fair shares and be
		// gossiped as if it were many clients. Clamped, not refused:
		// `make -j1000` asks for all there is.
		options.want = std::min(*request.want, farmSlots(entries, options.localSlots));
	}
	options.localSpeed = request.speed.value_or(local.speed);
	options.minSpeed = request.minSpeed.value_or(options.minSpeed);
	options.lzo = request.lzo;
	options.cpp = request.cpp;
	options.policy.compiler = request.compiler;
	options.match = request.match.value_or(MatchMode::Version);
	// Load in TXT changes at most every 10 s and only when it changes by a
	// quarter of the slots, so its age says nothing about its truth; live
	// samples with real ages arrive by gossip.
	options.policy.maxSampleAge = std::chrono::hours(24);

	// Every answer draws anew, so that clients asking at once spread.
	std::uint64_t seed = 0;
	if (fixedSeed) {
		seed = *fixedSeed;
	} else {
		std::random_device entropy;
		seed = (std::uint64_t(entropy()) << 32) | entropy();
	}
	HostsAnswer answer;
	answer.reserve = request.reserve.value_or(options.want.has_value());
	options.othersWanted = others.wanted;
	options.othersDemands = others.demands;
	options.own = others.own;
	std::set<std::pair<std::string, std::uint16_t>> failing = others.failing;
	for (const FailingHost &f : request.failing)
		failing.emplace(bareHost(f.host), f.port);
	options.failing = failingEntries(entries, failing);
	// This machine's own record, known by its host id, not by a name or
	// an address (a server advertises under any name, and its addresses
	// are not ours to compare).
	if (!local.id.empty())
		for (std::size_t i = 0; i < entries.size(); ++i)
			if (!entries[i].stock && entries[i].server.id == local.id) {
				options.self = i;
				break;
			}
	answer.view = makeView(entries, others.reserved, options, seed, source);
	answer.localSlots = options.localSlots;
	std::uint32_t planned = 0;
	for (const ServerView &s : answer.view.servers) {
		planned += s.expected;
		if (auto id = wire::parseNodeId(s.id); id && s.expected > 0 && !s.stock)
			answer.reservations.emplace_back(*id, s.expected);
	}
	// The demand is what was asked for, even beyond what the line offers,
	// up to the farm's slots; the view says when it was clamped.
	answer.want = options.want.value_or(planned);
	if (request.want) {
		answer.view.want = *options.want;
		if (*request.want != *options.want)
			answer.view.wantAsked = *request.want;
	}
	return answer;
}

} // namespace dmdns
