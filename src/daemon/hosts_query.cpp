// The one request both programs answer: which hosts should this client use.
#include "hosts_query.h"

#include <algorithm>
#include <random>

#include "distcc-mdns/gossip_wire.h"
#include "distcc-mdns/hosts_line.h"
#include "distcc-mdns/text.h"
#include "probe.h"
#include "request.h"
#include "view.h"

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

// Adds the request's "failing" list, ["HOST:PORT", ...], to @failing.
void readFailing(const nlohmann::json &request, std::set<std::pair<std::string, std::uint16_t>> &failing)
{
	if (!request.contains("failing"))
		return;
	const nlohmann::json &list = request["failing"];
	// A client backs off from a few hosts; a long list is not a client.
	if (!list.is_array() || list.size() > 1024)
		throw std::invalid_argument("'failing' must be an array of at most 1024 \"HOST:PORT\" strings");
	for (const nlohmann::json &item : list) {
		const std::string text = item.is_string() ? item.get<std::string>() : std::string();
		const std::size_t colon = text.rfind(':');
		const auto port = colon == std::string::npos ? std::nullopt
							      : text::parseUint(std::string_view(text).substr(colon + 1), 1, 65535);
		if (!port || colon == 0 || text.size() > 300)
			throw std::invalid_argument("'failing' entries must be \"HOST:PORT\", not " +
						    (item.is_string() ? text::quote(text) : item.dump().substr(0, 40)));
		failing.emplace(bareHost(text.substr(0, colon)), static_cast<std::uint16_t>(*port));
	}
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

HostsAnswer answerHosts(const nlohmann::json &request, const std::vector<DirectoryEntry> &entries,
			const FarmState &others, double localSpeed, std::string_view source,
			std::optional<std::uint64_t> fixedSeed)
{
	const std::string op = request::string(request, "op", "");
	if (op != "hosts")
		throw std::invalid_argument(op.empty() ? "missing 'op'" : "unknown op '" + op + "'");

	PlanOptions options;
	options.localSlots = static_cast<std::uint32_t>(
		request::integer(request, "local_slots", 1, kMaxHostLimit, host::onlineCpus()));
	std::optional<std::uint32_t> asked;
	if (request.contains("want")) {
		asked = static_cast<std::uint32_t>(request::integer(request, "want", 0, wire::kMaxWantedJobs, 0));
		// One client cannot use more than the farm has: a demand beyond
		// its slots would only cut the other clients' fair shares and be
		// gossiped as if it were many clients. Clamped, not refused:
		// `make -j1000` asks for all there is.
		options.want = std::min(*asked, farmSlots(entries, options.localSlots));
	}
	options.localSpeed = request::number(request, "speed", kMinSpeed, kMaxSpeed, localSpeed);
	options.minSpeed = request::number(request, "min_speed", 0.0, 1.0, options.minSpeed);
	options.lzo = request::boolean(request, "lzo", false);
	options.cpp = request::boolean(request, "cpp", false);
	if (request.contains("compiler")) {
		// "MACHINE VERSION", as `cc -dumpmachine` and `cc -dumpversion` say.
		const std::string text = request::string(request, "compiler", "");
		const std::size_t space = text.find(' ');
		Compiler c;
		if (space != std::string::npos) {
			c.machine = text.substr(0, space);
			c.version = text.substr(space + 1);
		}
		if (!c.valid())
			throw std::invalid_argument("'compiler' must be \"MACHINE VERSION\", not " + text::quote(text));
		options.policy.compiler = std::move(c);
	}
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
	answer.reserve = request::boolean(request, "reserve", options.want.has_value());
	options.othersWanted = others.wanted;
	options.othersDemands = others.demands;
	options.own = others.own;
	std::set<std::pair<std::string, std::uint16_t>> failing = others.failing;
	readFailing(request, failing);
	options.failing = failingEntries(entries, failing);
	answer.view = makeView(entries, others.reserved, options, seed, source);
	answer.localSlots = options.localSlots;
	std::uint32_t planned = 0;
	for (const nlohmann::json &s : answer.view["servers"]) {
		const std::uint32_t expected = s["expected"].get<std::uint32_t>();
		planned += expected;
		if (auto id = wire::parseNodeId(s["id"].get<std::string>()); id && expected > 0 && !s["stock"].get<bool>())
			answer.reservations.emplace_back(*id, expected);
	}
	// The demand is what was asked for, even beyond what the line offers,
	// up to the farm's slots; the view says when it was clamped.
	answer.want = options.want.value_or(planned);
	if (asked) {
		answer.view["want"] = *options.want;
		if (*asked != *options.want)
			answer.view["want_asked"] = *asked;
	}
	return answer;
}

} // namespace dmdns
