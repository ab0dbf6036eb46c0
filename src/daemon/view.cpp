// The view of the servers and the chosen hosts line.
#include "daemon/view.h"

#include <fmt/format.h>

namespace dmdns {

namespace {

ServerView describe(const DirectoryEntry &entry, std::uint32_t reserved)
{
	const Server &s = entry.server;
	ServerView v;
	v.name = entry.name;
	v.id = s.id;
	v.host = entry.hostName;
	if (const auto preferred = s.preferredAddress())
		v.address = preferred->text;
	for (const Address &a : s.addresses)
		v.addresses.push_back(a.text);
	v.port = s.port;
	// A TXT without a usable cpus value leaves it unknown.
	if (s.cpus)
		v.cpus = s.cpus;
	v.slots = s.slots;
	v.speed = s.speed;
	if (const std::optional<SpeedEstimate> &e = s.speedEstimate) {
		v.benchmarkSpeed = e->benchmark;
		v.learnedSpeed = e->learned;
		v.speedJobs = e->jobs;
		v.speedLearned = e->learned.has_value();
	}
	v.state = s.state;
	if (s.sample) {
		v.running = s.sample->running;
		v.load = s.sample->runnable;
		v.ageMs = s.sample->age.count();
	}
	v.liveness = s.liveness;
	v.reserved = reserved;
	v.stock = entry.stock;
	v.local = entry.local;
	for (const Compiler &c : s.compilers)
		v.compilers.push_back(c.machine + ":" + c.version);
	for (const TxtProblem &p : entry.problems)
		v.problems.push_back(p.key + ": " + p.reason);
	return v;
}

// The sentences of the reasons that need no detail.
constexpr std::pair<Exclusion, std::string_view> kReasons[] = {
	{ Exclusion::Failing, "failing: this client's distcc backs off from it after a failed job" },
	{ Exclusion::Spare, "spare: faster slots hold every job this client wants" },
	{ Exclusion::Slower, "slower: a job there would finish later than on this machine" },
	{ Exclusion::Full, "full: other clients run or reserved all its slots" },
	{ Exclusion::Overloaded, "the farm is overloaded: no slot of this client's fair share here" },
	{ Exclusion::NoAddress, "no usable address" },
};
constexpr std::string_view kDuplicate = "same address and port as ";

} // namespace

std::string exclusionText(const ServerView &server)
{
	switch (server.excluded) {
	case Exclusion::None:
		return {};
	case Exclusion::Ineligible:
		return std::string(describe(server.ineligible));
	case Exclusion::Duplicate:
		return std::string(kDuplicate) + server.duplicateOf;
	case Exclusion::Other:
		return server.otherReason;
	default:
		for (const auto &[why, text] : kReasons)
			if (why == server.excluded)
				return std::string(text);
		return {};
	}
}

void parseExclusion(std::string_view text, ServerView &server)
{
	server.ineligible = Ineligible::None;
	server.duplicateOf.clear();
	server.otherReason.clear();
	for (const auto &[why, known] : kReasons)
		if (text == known) {
			server.excluded = why;
			return;
		}
	if (text.starts_with(kDuplicate)) {
		server.excluded = Exclusion::Duplicate;
		server.duplicateOf = text.substr(kDuplicate.size());
		return;
	}
	for (auto i = static_cast<std::uint8_t>(Ineligible::NotUp); i <= static_cast<std::uint8_t>(Ineligible::Left);
	     ++i)
		if (text == describe(static_cast<Ineligible>(i))) {
			server.excluded = Exclusion::Ineligible;
			server.ineligible = static_cast<Ineligible>(i);
			return;
		}
	server.excluded = Exclusion::Other;
	server.otherReason = text;
}

View makeView(const std::vector<DirectoryEntry> &entries, std::span<const std::uint32_t> reserved,
	      const PlanOptions &options, std::uint64_t seed, std::string_view source)
{
	auto reservedAt = [&](std::size_t i) { return reserved.empty() ? 0u : reserved[i]; };
	std::vector<Server> servers;
	servers.reserve(entries.size());
	for (const DirectoryEntry &e : entries)
		servers.push_back(e.server);
	Picker picker(seed);
	const Plan plan = planHostsLine(servers, reserved, options, picker);

	View view;
	view.source = source;
	view.line = writeHostsLine(plan.line);
	view.jobs = plan.jobs;
	view.localSlots = options.localSlots;
	view.localSpeed = options.localSpeed;
	view.localhost = plan.local;
	if (plan.share)
		view.share = plan.share;
	view.servers.reserve(entries.size());
	std::vector<bool> listed(entries.size(), false);
	for (const PlannedHost &host : plan.remote) {
		ServerView v = describe(entries[host.server], reservedAt(host.server));
		v.address = host.address.text;
		v.limit = host.limit;
		v.expected = host.expected;
		view.servers.push_back(std::move(v));
		listed[host.server] = true;
	}
	for (std::size_t i = 0; i < entries.size(); ++i) {
		if (listed[i])
			continue;
		ServerView v = describe(entries[i], reservedAt(i));
		const PlanEntry &entry = plan.servers[i];
		// Not listed, so left out for some reason: none planned means
		// the plan found no address or port it could list.
		v.excluded = entry.excluded == Exclusion::None ? Exclusion::NoAddress : entry.excluded;
		v.ineligible = entry.ineligible;
		if (entry.excluded == Exclusion::Duplicate)
			v.duplicateOf = entries[entry.duplicateOf].name;
		view.servers.push_back(std::move(v));
	}
	return view;
}

// Names come from the network: no control character may reach a terminal.
static std::string printable(std::string s)
{
	for (char &c : s)
		if (c < 0x20 || c > 0x7e)
			c = '?';
	return s;
}

std::string statusTable(const View &view)
{
	auto text = [](const auto &value) -> std::string {
		using T = std::decay_t<decltype(value)>;
		if constexpr (std::is_same_v<T, std::string>)
			return printable(value);
		else if constexpr (std::is_same_v<T, double>)
			return fmt::format("{:.2f}", value);
		else
			return fmt::format("{}", value);
	};
	auto optional = [&](const auto &value) -> std::string { return value ? text(*value) : "-"; };
	std::string out = fmt::format(
		"{:<28} {:<16} {:>5} {:>5} {:>7} {:>6} {:>6} {:<7} {:>6} {:>7} {:>5} {:<6} {:<7} {:>8} {:>5}  {}\n", "HOST",
		"ADDRESS", "CPUS", "SLOTS", "RUNNING", "LOAD", "SPEED", "FROM", "BENCH", "LEARNED", "JOBS", "STATE",
		"GOSSIP", "AGE", "LIMIT", "NOTE");
	for (const ServerView &s : view.servers) {
		const std::string age = s.ageMs ? fmt::format("{:.1f}s", static_cast<double>(*s.ageMs) / 1000.0) : "-";
		std::string note = s.stock ? "stock distccd" : "";
		if (s.excluded != Exclusion::None)
			note += (note.empty() ? "" : "; ") + ("left out: " + printable(exclusionText(s)));
		if (s.reserved > 0)
			note += (note.empty() ? "" : "; ") + fmt::format("{} reserved by others", s.reserved);
		const std::string liveness =
			s.liveness == Liveness::Unknown ? "-" : std::string(livenessName(s.liveness));
		// Which speed the planner takes: what the jobs taught, or the
		// advertised benchmark (the TXT's alone without gossip).
		const std::string from = s.speedLearned ? "learned" : "bench";
		out += fmt::format(
			"{:<28} {:<16} {:>5} {:>5} {:>7} {:>6} {:>6} {:<7} {:>6} {:>7} {:>5} {:<6} {:<7} {:>8} {:>5}  {}\n",
			text(s.name), optional(s.address), optional(s.cpus), text(s.slots), optional(s.running),
			optional(s.load), text(s.speed), from, optional(s.benchmarkSpeed), optional(s.learnedSpeed),
			s.benchmarkSpeed ? text(s.speedJobs) : "-", std::string(stateName(s.state)), liveness, age,
			text(s.limit), note);
	}
	out += fmt::format("line ({}): {}\njobs: {}\n", text(view.source), text(view.line), text(view.jobs));
	return out;
}

std::string authFailureText(const AuthFailure &failure)
{
	return fmt::format("{} datagram{} from {} failed authentication: different key? (last {:.1f}s ago)",
			   failure.count, failure.count == 1 ? "" : "s", printable(failure.address),
			   static_cast<double>(failure.agoMs) / 1000.0);
}

} // namespace dmdns
