// /metrics: the farm object rendered in the Prometheus text format (0.0.4), a pure function.
#include "http/metrics.h"

#include <cstdint>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace dmdns::http {

namespace {

using json = nlohmann::json;

constexpr std::string_view kPrefix = "distcc_mdns_";

// One metric family: the format wants each family's samples together,
// under one HELP and one TYPE line.
struct Family {
	std::string name;
	std::string_view type;
	std::string_view help;
	std::vector<std::string> samples;
};

class Writer
{
public:
	// The family @name (without the prefix), made on first use, in order.
	Family &family(std::string_view name, std::string_view type, std::string_view help)
	{
		const std::string full = fmt::format("{}{}", kPrefix, name);
		for (Family &f : families_)
			if (f.name == full)
				return f;
		families_.push_back(Family{ full, type, help, {} });
		return families_.back();
	}

	// Adds a sample when @value is a number or a boolean (true is 1);
	// @scale turns milliseconds into seconds.
	void sample(std::string_view name, std::string_view type, std::string_view help, const std::string &labels,
		    const json &value, double scale = 1)
	{
		std::string number;
		if (value.is_boolean())
			number = value.get<bool>() ? "1" : "0";
		else if (value.is_number_unsigned() && scale == 1)
			number = fmt::format("{}", value.get<std::uint64_t>());
		else if (value.is_number_integer() && scale == 1)
			number = fmt::format("{}", value.get<std::int64_t>());
		else if (value.is_number())
			number = fmt::format("{}", value.get<double>() * scale);
		else
			return;
		Family &f = family(name, type, help);
		f.samples.push_back(labels.empty() ? fmt::format("{} {}", f.name, number)
						   : fmt::format("{}{{{}}} {}", f.name, labels, number));
	}

	std::string text() const
	{
		std::string out;
		for (const Family &f : families_) {
			if (f.samples.empty())
				continue;
			out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name, f.type);
			for (const std::string &s : f.samples) {
				out += s;
				out += '\n';
			}
		}
		return out;
	}

private:
	std::vector<Family> families_;
};

const json &field(const json &object, const char *key)
{
	static const json null;
	if (!object.is_object())
		return null;
	const auto it = object.find(key);
	return it == object.end() ? null : *it;
}

std::string text(const json &value)
{
	return value.is_string() ? value.get<std::string>() : std::string();
}

std::string labels(std::initializer_list<std::pair<std::string_view, std::string>> pairs)
{
	std::string out;
	for (const auto &[name, value] : pairs) {
		if (!out.empty())
			out += ',';
		out += fmt::format("{}=\"{}\"", name, escapeLabel(value));
	}
	return out;
}

void totals(Writer &w, const json &t)
{
	static constexpr std::pair<const char *, std::string_view> kTotals[] = {
		{ "servers", "Servers this daemon lists." },
		{ "up", "Servers that take jobs now." },
		{ "slots", "Slots of the servers that take jobs." },
		{ "busy", "Jobs the servers report running." },
		{ "reserved", "Slots the clients hold reserved." },
		{ "wanted", "Remote slots the clients want." },
		{ "waiting", "Wanted slots beyond the free ones." },
		{ "utilisation", "Busy slots over slots (0 to 1)." },
		{ "clients", "Clients that want slots." },
	};
	for (const auto &[key, help] : kTotals)
		w.sample(fmt::format("farm_{}", key), "gauge", help, {}, field(t, key));
}

void server(Writer &w, const json &s)
{
	const std::string name = text(field(s, "name"));
	const std::string id = text(field(s, "id"));
	const std::string l = labels({ { "server", name }, { "id", id } });
	w.sample("server_slots", "gauge", "Jobs the server takes at once.", l, field(s, "slots"));
	w.sample("server_busy", "gauge", "Jobs the server reports running (its distccd's connections).", l,
		 field(s, "running"));
	w.sample("server_reserved", "gauge", "Slots reserved on the server by the clients.", l, field(s, "reserved"));
	w.sample("server_sample_age_seconds", "gauge", "Age of the server's last load sample.", l, field(s, "age_ms"),
		 0.001);
	w.sample("server_fresh", "gauge", "1 when the server's sample is younger than 3 s.", l, field(s, "fresh"));
	w.sample("server_load", "gauge", "The server's runnable load per cpu.", l, field(s, "load"));
	w.sample("server_cpus", "gauge", "The server's cpus.", l, field(s, "cpus"));
	w.sample("server_speed", "gauge", "The server's speed (1: the reference machine).", l, field(s, "speed"));
	if (const json &state = field(s, "state"); state.is_string())
		w.sample("server_state", "gauge", "The server's state, as a label; the value is always 1.",
			 labels({ { "server", name }, { "id", id }, { "state", state.get<std::string>() } }), json(1));
	if (const json &clients = field(s, "clients"); clients.is_array())
		for (const json &c : clients) {
			std::string address = text(field(c, "address"));
			w.sample("server_client_jobs", "gauge",
				 "Jobs a client runs on the server (client \"\": the others together).",
				 labels({ { "server", name }, { "id", id }, { "client", address } }), field(c, "running"));
		}
}

void client(Writer &w, const json &c)
{
	std::string name = text(field(c, "name"));
	const std::string id = text(field(c, "id"));
	const std::string l = labels({ { "client", name.empty() ? id : name }, { "id", id } });
	w.sample("client_want", "gauge", "Remote slots the client wants.", l, field(c, "want"));
	w.sample("client_share", "gauge", "The client's fair share of remote slots (absent: all it wants).", l,
		 field(c, "share"));
	w.sample("client_holding", "gauge", "Slots the client holds reserved on servers.", l, field(c, "holding"));
	w.sample("client_running", "gauge", "The client's jobs the servers report.", l, field(c, "running"));
	w.sample("client_local_jobs", "gauge", "Jobs the client runs on its own machine.", l, field(c, "local_jobs"));
	w.sample("client_local_slots", "gauge", "The client's own slots.", l, field(c, "local_slots"));
	w.sample("client_age_seconds", "gauge", "Age of the client's last demand.", l, field(c, "age_ms"), 0.001);
}

void gossip(Writer &w, const json &g)
{
	w.sample("gossip_datagrams_received_total", "counter", "Gossip datagrams received.", {}, field(g, "received"));
	w.sample("gossip_datagrams_accepted_total", "counter", "Gossip datagrams decoded, authenticated and merged.",
		 {}, field(g, "accepted"));
	w.sample("gossip_datagrams_sent_total", "counter", "Gossip datagrams sent.", {}, field(g, "sent"));
	w.sample("gossip_bytes_received_total", "counter", "Gossip bytes received.", {}, field(g, "bytes_received"));
	w.sample("gossip_bytes_sent_total", "counter", "Gossip bytes sent.", {}, field(g, "bytes_sent"));
	// other_version is a part of invalid, so it has a family of its own.
	static constexpr const char *kDropped[] = { "invalid", "unauthenticated", "rate_limited", "replayed",
						    "looped" };
	for (const char *reason : kDropped)
		w.sample("gossip_datagrams_dropped_total", "counter", "Gossip datagrams dropped, by reason.",
			 labels({ { "reason", reason } }), field(g, reason));
	w.sample("gossip_datagrams_other_version_total", "counter",
		 "Of the invalid datagrams, those of another wire version.", {}, field(g, "other_version"));
	static constexpr std::pair<const char *, const char *> kIgnored[] = {
		{ "untrusted", "untrusted" }, { "contradicted", "contradicted" }, { "unknown_records", "unknown" }
	};
	for (const auto &[key, reason] : kIgnored)
		w.sample("gossip_records_ignored_total", "counter", "Gossip records not applied, by reason.",
			 labels({ { "reason", reason } }), field(g, key));
}

void queries(Writer &w, const json &q)
{
	if (!q.is_object())
		return;
	for (const auto &[op, count] : q.items()) {
		if (op == "errors")
			w.sample("query_errors_total", "counter", "Query socket requests answered with an error.", {},
				 count);
		else if (op == "refused")
			w.sample("query_refused_total", "counter", "Query socket connections refused.", {}, count);
		else
			w.sample("queries_total", "counter", "Query socket requests, by operation.",
				 labels({ { "op", op } }), count);
	}
}

} // namespace

std::string escapeLabel(std::string_view value)
{
	std::string out;
	out.reserve(value.size());
	for (char c : value) {
		if (c == '\\')
			out += "\\\\";
		else if (c == '"')
			out += "\\\"";
		else if (c == '\n')
			out += "\\n";
		else
			out += c;
	}
	return out;
}

std::string renderMetrics(std::string_view farmJson)
{
	Writer w;
	const json farm = json::parse(farmJson, nullptr, false);
	if (!farm.is_object()) {
		w.sample("farm_available", "gauge", "1 when the daemon has produced a farm object.", {}, json(0));
		return w.text();
	}
	w.sample("farm_available", "gauge", "1 when the daemon has produced a farm object.", {}, json(1));
	w.sample("farm_seq", "gauge", "The farm object's sequence number.", {}, field(farm, "seq"));
	w.sample("farm_jobs", "gauge", "Jobs in the hosts line this machine's user would get now.", {},
		 field(farm, "jobs"));
	totals(w, field(farm, "totals"));
	if (const json &servers = field(farm, "servers"); servers.is_array())
		for (const json &s : servers)
			server(w, s);
	if (const json &clients = field(farm, "clients"); clients.is_array())
		for (const json &c : clients)
			client(w, c);
	gossip(w, field(field(farm, "stats"), "gossip"));
	queries(w, field(farm, "queries"));
	return w.text();
}

} // namespace dmdns::http
