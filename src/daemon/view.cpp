// The JSON view of the servers and the chosen hosts line.
#include "view.h"

#include <fmt/format.h>

namespace dmdns {

namespace {

nlohmann::json describe(const DirectoryEntry &entry, std::uint32_t reserved)
{
	const Server &s = entry.server;
	nlohmann::json j;
	j["name"] = entry.name;
	j["id"] = s.id;
	j["host"] = entry.hostName;
	const auto preferred = s.preferredAddress();
	j["address"] = preferred ? nlohmann::json(preferred->text) : nlohmann::json(nullptr);
	j["addresses"] = nlohmann::json::array();
	for (const Address &a : s.addresses)
		j["addresses"].push_back(a.text);
	j["port"] = s.port;
	// A TXT without a usable cpus value leaves it unknown, shown as null.
	j["cpus"] = s.cpus ? nlohmann::json(s.cpus) : nlohmann::json(nullptr);
	j["slots"] = s.slots;
	j["speed"] = s.speed;
	j["state"] = stateName(s.state);
	if (s.sample) {
		j["running"] = s.sample->running;
		j["load"] = s.sample->runnable;
		j["age_ms"] = s.sample->age.count();
	} else {
		j["running"] = nullptr;
		j["load"] = nullptr;
		j["age_ms"] = nullptr;
	}
	j["liveness"] = s.liveness == Liveness::Unknown ? nlohmann::json(nullptr)
							 : nlohmann::json(livenessName(s.liveness));
	j["reserved"] = reserved;
	j["stock"] = entry.stock;
	j["local"] = entry.local;
	j["compilers"] = nlohmann::json::array();
	for (const Compiler &c : s.compilers)
		j["compilers"].push_back(c.machine + ":" + c.version);
	j["problems"] = nlohmann::json::array();
	for (const TxtProblem &p : entry.problems)
		j["problems"].push_back(p.key + ": " + p.reason);
	return j;
}

} // namespace

nlohmann::json makeView(const std::vector<DirectoryEntry> &entries, std::span<const std::uint32_t> reserved,
			const PlanOptions &options, std::uint64_t seed, std::string_view source)
{
	auto reservedAt = [&](std::size_t i) { return reserved.empty() ? 0u : reserved[i]; };
	std::vector<Server> servers;
	servers.reserve(entries.size());
	for (const DirectoryEntry &e : entries)
		servers.push_back(e.server);
	Picker picker(seed);
	const Plan plan = planHostsLine(servers, reserved, options, picker);

	nlohmann::json view;
	view["source"] = source;
	view["line"] = writeHostsLine(plan.line);
	view["jobs"] = plan.jobs;
	view["local_slots"] = options.localSlots;
	view["local_speed"] = options.localSpeed;
	view["localhost"] = plan.local == LocalPlace::First  ? "first"
			    : plan.local == LocalPlace::Last ? "last"
							     : "absent";
	// Overloaded farm: the slots this client's limits add up to.
	view["share"] = plan.share ? nlohmann::json(plan.share) : nlohmann::json(nullptr);
	nlohmann::json list = nlohmann::json::array();
	std::vector<bool> listed(entries.size(), false);
	for (const PlannedHost &host : plan.remote) {
		nlohmann::json j = describe(entries[host.server], reservedAt(host.server));
		j["address"] = host.address.text;
		j["limit"] = host.limit;
		j["expected"] = host.expected;
		j["excluded"] = nullptr;
		list.push_back(std::move(j));
		listed[host.server] = true;
	}
	for (std::size_t i = 0; i < entries.size(); ++i) {
		if (listed[i])
			continue;
		nlohmann::json j = describe(entries[i], reservedAt(i));
		j["limit"] = 0;
		j["expected"] = 0;
		const PlanEntry &entry = plan.servers[i];
		switch (entry.excluded) {
		case Exclusion::Ineligible: j["excluded"] = describe(entry.ineligible); break;
		case Exclusion::Duplicate:
			j["excluded"] = "same address and port as " + entries[entry.duplicateOf].name;
			break;
		case Exclusion::Failing:
			j["excluded"] = "failing: this client's distcc backs off from it after a failed job";
			break;
		case Exclusion::Spare: j["excluded"] = "spare: faster slots hold every job this client wants"; break;
		case Exclusion::Slower:
			j["excluded"] = "slower: a job there would finish later than on this machine";
			break;
		case Exclusion::Overloaded:
			j["excluded"] = "the farm is overloaded: no slot of this client's fair share here";
			break;
		case Exclusion::Full: j["excluded"] = "full: other clients run or reserved all its slots"; break;
		case Exclusion::None:
		case Exclusion::NoAddress: j["excluded"] = "no usable address"; break;
		}
		list.push_back(std::move(j));
	}
	view["servers"] = std::move(list);
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

std::string statusTable(const nlohmann::json &view)
{
	auto text = [](const nlohmann::json &v, const char *key) -> std::string {
		if (!v.contains(key) || v[key].is_null())
			return "-";
		const auto &x = v[key];
		if (x.is_string())
			return printable(x.get<std::string>());
		if (x.is_number_float())
			return fmt::format("{:.2f}", x.get<double>());
		return x.dump();
	};
	std::string out = fmt::format("{:<28} {:<16} {:>5} {:>5} {:>7} {:>6} {:>6} {:<6} {:<7} {:>8} {:>5}  {}\n",
				      "HOST", "ADDRESS", "CPUS", "SLOTS", "RUNNING", "LOAD", "SPEED",
				      "STATE", "GOSSIP", "AGE", "LIMIT", "NOTE");
	for (const auto &s : view.value("servers", nlohmann::json::array())) {
		std::string age = "-";
		if (s.contains("age_ms") && s["age_ms"].is_number())
			age = fmt::format("{:.1f}s", s["age_ms"].get<double>() / 1000.0);
		std::string note = s.value("stock", false) ? "stock distccd" : "";
		if (s.contains("excluded") && s["excluded"].is_string())
			note += (note.empty() ? "" : "; ") + ("left out: " + printable(s["excluded"].get<std::string>()));
		if (s.contains("reserved") && s["reserved"].is_number() && s["reserved"].get<double>() > 0)
			note += (note.empty() ? "" : "; ") + fmt::format("{} reserved by others", s["reserved"].dump());
		out += fmt::format("{:<28} {:<16} {:>5} {:>5} {:>7} {:>6} {:>6} {:<6} {:<7} {:>8} {:>5}  {}\n",
				   text(s, "name"), text(s, "address"), text(s, "cpus"), text(s, "slots"),
				   text(s, "running"), text(s, "load"), text(s, "speed"), text(s, "state"),
				   text(s, "liveness"), age, text(s, "limit"), note);
	}
	out += fmt::format("line ({}): {}\njobs: {}\n", text(view, "source"), text(view, "line"),
			   text(view, "jobs"));
	return out;
}

} // namespace dmdns
