// The one adapter between JSON and the typed requests, replies and view.
#include "daemon/json_codec.h"

#include <stdexcept>

#include <fmt/format.h>

#include "common/log.h"
#include "distcc-mdns/gossip_wire.h"
#include "distcc-mdns/hosts_line.h"
#include "distcc-mdns/text.h"

namespace dmdns::codec {

namespace {

using nlohmann::json;

// Request fields: wrong types are refused, not guessed.

std::int64_t integer(const json &request, const char *key, std::int64_t min, std::int64_t max, std::int64_t fallback)
{
	if (!request.contains(key))
		return fallback;
	const json &v = request[key];
	if (!v.is_number_integer())
		throw std::invalid_argument(fmt::format("'{}' must be an integer", key));
	const auto n = v.get<std::int64_t>();
	if (n < min || n > max)
		throw std::invalid_argument(fmt::format("'{}' must be in [{}, {}]", key, min, max));
	return n;
}

std::optional<std::uint32_t> count(const json &request, const char *key, std::uint32_t min, std::uint32_t max)
{
	if (!request.contains(key))
		return std::nullopt;
	return static_cast<std::uint32_t>(integer(request, key, min, max, 0));
}

std::optional<double> number(const json &request, const char *key, double min, double max)
{
	if (!request.contains(key))
		return std::nullopt;
	const json &v = request[key];
	if (!v.is_number())
		throw std::invalid_argument(fmt::format("'{}' must be a number", key));
	const auto x = v.get<double>();
	if (!(x >= min && x <= max))
		throw std::invalid_argument(fmt::format("'{}' must be in [{}, {}]", key, min, max));
	return x;
}

std::optional<bool> boolean(const json &request, const char *key)
{
	if (!request.contains(key))
		return std::nullopt;
	if (!request[key].is_boolean())
		throw std::invalid_argument(fmt::format("'{}' must be true or false", key));
	return request[key].get<bool>();
}

std::optional<std::string> string(const json &request, const char *key)
{
	if (!request.contains(key))
		return std::nullopt;
	if (!request[key].is_string())
		throw std::invalid_argument(fmt::format("'{}' must be a string", key));
	return request[key].get<std::string>();
}

// "MACHINE VERSION", as `cc -dumpmachine` and `cc -dumpversion` say.
Compiler compiler(const std::string &text)
{
	const std::size_t space = text.find(' ');
	Compiler c;
	if (space != std::string::npos) {
		c.machine = text.substr(0, space);
		c.version = text.substr(space + 1);
	}
	if (!c.valid())
		throw std::invalid_argument("'compiler' must be \"MACHINE VERSION\", not " + text::quote(text));
	return c;
}

// ["HOST:PORT", ...]: the hosts the client's distcc backs off from.
std::vector<FailingHost> failing(const json &request)
{
	std::vector<FailingHost> hosts;
	if (!request.contains("failing"))
		return hosts;
	const json &list = request["failing"];
	// A client backs off from a few hosts; a long list is not a client.
	if (!list.is_array() || list.size() > HostsRequest::kMaxFailing)
		throw std::invalid_argument(fmt::format("'failing' must be an array of at most {} \"HOST:PORT\" strings",
							HostsRequest::kMaxFailing));
	hosts.reserve(list.size());
	for (const json &item : list) {
		std::optional<FailingHost> host;
		if (item.is_string() && item.get_ref<const std::string &>().size() <= HostsRequest::kMaxFailingText)
			host = parseFailingHost(item.get_ref<const std::string &>());
		if (!host)
			throw std::invalid_argument(
				"'failing' entries must be \"HOST:PORT\" or \"[IPV6]:PORT\", not " +
				(item.is_string() ? text::quote(item.get<std::string>()) : item.dump().substr(0, 40)));
		hosts.push_back(std::move(*host));
	}
	return hosts;
}

HostsRequest hostsRequest(const json &r)
{
	// In this order, so that the first bad field is the one named.
	HostsRequest h;
	h.localSlots = count(r, "local_slots", 1, kMaxHostLimit);
	h.want = count(r, "want", 0, wire::kMaxWantedJobs);
	h.speed = number(r, "speed", kMinSpeed, kMaxSpeed);
	h.minSpeed = number(r, "min_speed", 0.0, 1.0);
	h.lzo = boolean(r, "lzo").value_or(false);
	h.cpp = boolean(r, "cpp").value_or(false);
	if (const auto text = string(r, "compiler"))
		h.compiler = compiler(*text);
	if (const auto id = string(r, "compiler_id")) {
		if (!h.compiler)
			throw std::invalid_argument("'compiler_id' needs 'compiler'");
		if (!validCompilerIdentity(*id))
			throw std::invalid_argument(fmt::format("'compiler_id' must be {} lower-case hex digits, not {}",
								kCompilerIdentityDigits, text::quote(*id)));
		h.compiler->identity = *id;
	}
	if (const auto mode = string(r, "match")) {
		h.match = parseMatchMode(*mode);
		if (!h.match)
			throw std::invalid_argument("'match' must be \"version\" or \"exact\", not " + text::quote(*mode));
	}
	h.reserve = boolean(r, "reserve");
	h.build = boolean(r, "build").value_or(false);
	if (h.build) {
		// A build's demand is its want for as long as it runs: without
		// one there is nothing to stand for it, and a build that holds no
		// line is a contradiction rather than a look.
		if (!h.want)
			throw std::invalid_argument("'build' needs 'want'");
		if (h.reserve == false)
			throw std::invalid_argument("'build' reserves: it cannot go with \"reserve\":false");
		h.reserve = true;
	}
	h.failing = failing(r);
	return h;
}

// View fields: what this program wrote; a field of another type is refused.

template <typename T>
T as(const json &v, const char *key)
{
	bool fits = false;
	if constexpr (std::is_same_v<T, bool>)
		fits = v.is_boolean();
	else if constexpr (std::is_same_v<T, std::string>)
		fits = v.is_string();
	else if constexpr (std::is_floating_point_v<T>)
		fits = v.is_number();
	else if constexpr (std::is_unsigned_v<T>)
		fits = v.is_number_unsigned() && v.get<std::uint64_t>() <= std::numeric_limits<T>::max();
	else
		fits = v.is_number_integer();
	if (!fits)
		throw std::invalid_argument(fmt::format("the view's '{}' has the wrong type", key));
	return v.get<T>();
}

template <typename T>
void read(const json &object, const char *key, T &out)
{
	if (object.contains(key))
		out = as<T>(object[key], key);
}

template <typename T>
void read(const json &object, const char *key, std::optional<T> &out)
{
	if (object.contains(key) && !object[key].is_null())
		out = as<T>(object[key], key);
}

void read(const json &object, const char *key, std::vector<std::string> &out)
{
	if (!object.contains(key))
		return;
	if (!object[key].is_array())
		throw std::invalid_argument(fmt::format("the view's '{}' must be an array", key));
	for (const json &item : object[key])
		out.push_back(as<std::string>(item, key));
}

template <typename T>
json orNull(const std::optional<T> &value)
{
	return value ? json(*value) : json(nullptr);
}

constexpr std::pair<LocalPlace, const char *> kPlaces[] = {
	{ LocalPlace::First, "first" },
	{ LocalPlace::Last, "last" },
	{ LocalPlace::Absent, "absent" },
};

json encode(const ServerView &s)
{
	json j;
	j["name"] = s.name;
	j["id"] = s.id;
	j["host"] = s.host;
	j["address"] = orNull(s.address);
	j["addresses"] = s.addresses;
	j["port"] = s.port;
	j["cpus"] = orNull(s.cpus);
	j["slots"] = s.slots;
	j["speed"] = s.speed;
	j["benchmark_speed"] = orNull(s.benchmarkSpeed);
	j["learned_speed"] = orNull(s.learnedSpeed);
	j["speed_jobs"] = s.speedJobs;
	j["speed_source"] = s.speedLearned ? "learned" : "benchmark";
	j["state"] = stateName(s.state);
	j["running"] = orNull(s.running);
	j["load"] = orNull(s.load);
	j["age_ms"] = orNull(s.ageMs);
	j["liveness"] = s.liveness == Liveness::Unknown ? json(nullptr) : json(livenessName(s.liveness));
	j["reserved"] = s.reserved;
	j["stock"] = s.stock;
	j["local"] = s.local;
	j["compilers"] = s.compilers;
	if (s.identity.match == IdentityMatch::Unchecked)
		j["identity"] = nullptr;
	else
		j["identity"] = { { "match", identityMatchName(s.identity.match) },
				  { "machine", s.identity.machine },
				  { "version", s.identity.version },
				  { "here", s.identity.here },
				  { "there", s.identity.there } };
	j["problems"] = s.problems;
	j["limit"] = s.limit;
	j["expected"] = s.expected;
	j["excluded"] = s.excluded == Exclusion::None ? json(nullptr) : json(exclusionText(s));
	return j;
}

ServerView decodeServer(const json &j)
{
	if (!j.is_object())
		throw std::invalid_argument("the view's servers must be objects");
	ServerView s;
	read(j, "name", s.name);
	read(j, "id", s.id);
	read(j, "host", s.host);
	read(j, "address", s.address);
	read(j, "addresses", s.addresses);
	read(j, "port", s.port);
	read(j, "cpus", s.cpus);
	read(j, "slots", s.slots);
	read(j, "speed", s.speed);
	read(j, "benchmark_speed", s.benchmarkSpeed);
	read(j, "learned_speed", s.learnedSpeed);
	read(j, "speed_jobs", s.speedJobs);
	std::optional<std::string> name;
	read(j, "speed_source", name);
	if (name && *name != "learned" && *name != "benchmark")
		throw std::invalid_argument("the view's 'speed_source' is unknown: " + text::quote(*name));
	s.speedLearned = name == "learned";
	name.reset();
	read(j, "state", name);
	if (name) {
		const auto state = parseServerState(*name);
		if (!state)
			throw std::invalid_argument("the view's 'state' is unknown: " + text::quote(*name));
		s.state = *state;
	}
	read(j, "running", s.running);
	read(j, "load", s.load);
	read(j, "age_ms", s.ageMs);
	name.reset();
	read(j, "liveness", name);
	if (name) {
		for (auto i = static_cast<std::uint8_t>(Liveness::Alive); i <= static_cast<std::uint8_t>(Liveness::Left); ++i)
			if (*name == livenessName(static_cast<Liveness>(i)))
				s.liveness = static_cast<Liveness>(i);
		if (s.liveness == Liveness::Unknown)
			throw std::invalid_argument("the view's 'liveness' is unknown: " + text::quote(*name));
	}
	read(j, "reserved", s.reserved);
	read(j, "stock", s.stock);
	read(j, "local", s.local);
	read(j, "compilers", s.compilers);
	if (j.contains("identity") && !j["identity"].is_null()) {
		const json &id = j["identity"];
		if (!id.is_object())
			throw std::invalid_argument("the view's 'identity' must be an object");
		std::string match;
		read(id, "match", match);
		const auto parsed = parseIdentityMatch(match);
		if (!parsed)
			throw std::invalid_argument("the view's identity 'match' is unknown: " + text::quote(match));
		s.identity.match = *parsed;
		read(id, "machine", s.identity.machine);
		read(id, "version", s.identity.version);
		read(id, "here", s.identity.here);
		read(id, "there", s.identity.there);
	}
	read(j, "problems", s.problems);
	read(j, "limit", s.limit);
	read(j, "expected", s.expected);
	name.reset();
	read(j, "excluded", name);
	if (name)
		parseExclusion(*name, s);
	return s;
}

} // namespace

Request decodeRequest(const json &request)
{
	const std::string op = string(request, "op").value_or("");
	if (op == "hosts")
		return hostsRequest(request);
	if (op == "stats")
		return StatsRequest{};
	if (op == "set-state")
		return SetStateRequest{ string(request, "state").value_or("") };
	if (op == "setup-user")
		return SetupUserRequest{};
	if (op == "farm")
		return FarmRequest{};
	if (op == "watch")
		return WatchRequest{};
	throw std::invalid_argument(op.empty() ? "missing 'op'" : "unknown op '" + op + "'");
}

std::string_view opName(const Request &request)
{
	static constexpr std::string_view kNames[] = { "hosts", "stats", "set-state", "setup-user", "farm", "watch" };
	static_assert(std::size(kNames) == std::variant_size_v<Request>);
	return kNames[request.index()];
}

json encode(const HostsRequest &request)
{
	json j = { { "op", "hosts" } };
	if (request.localSlots)
		j["local_slots"] = *request.localSlots;
	if (request.want)
		j["want"] = *request.want;
	if (request.speed)
		j["speed"] = *request.speed;
	if (request.minSpeed)
		j["min_speed"] = *request.minSpeed;
	j["lzo"] = request.lzo;
	j["cpp"] = request.cpp;
	if (request.compiler) {
		j["compiler"] = request.compiler->machine + " " + request.compiler->version;
		if (!request.compiler->identity.empty())
			j["compiler_id"] = request.compiler->identity;
	}
	if (request.match)
		j["match"] = matchModeName(*request.match);
	if (request.reserve)
		j["reserve"] = *request.reserve;
	if (request.build)
		j["build"] = true;
	if (!request.failing.empty()) {
		j["failing"] = json::array();
		for (const FailingHost &f : request.failing)
			j["failing"].push_back(formatFailingHost(f));
	}
	return j;
}

json encode(const SetStateRequest &request)
{
	return { { "op", "set-state" }, { "state", request.state } };
}

json encode(const SetStateReply &reply)
{
	return { { "state", stateName(reply.state) } };
}

json encode(const SetupUserRequest &)
{
	return { { "op", "setup-user" } };
}

json encode(const SetupUserReply &reply)
{
	return { { "path", reply.path } };
}

SetupUserReply decodeSetupUserReply(const json &reply)
{
	SetupUserReply r;
	const std::optional<std::string> path = string(reply, "path");
	if (!path || !path->starts_with('/'))
		throw std::invalid_argument("the reply's 'path' is missing or not absolute");
	r.path = *path;
	return r;
}

json encode(const View &view)
{
	json j;
	j["source"] = view.source;
	j["line"] = view.line;
	j["jobs"] = view.jobs;
	j["local_slots"] = view.localSlots;
	j["local_speed"] = view.localSpeed;
	for (const auto &[place, name] : kPlaces)
		if (place == view.localhost)
			j["localhost"] = name;
	j["share"] = orNull(view.share);
	j["match"] = matchModeName(view.match);
	j["servers"] = json::array();
	for (const ServerView &s : view.servers)
		j["servers"].push_back(encode(s));
	if (view.want)
		j["want"] = *view.want;
	if (view.wantAsked)
		j["want_asked"] = *view.wantAsked;
	return j;
}

View decodeView(const json &j)
{
	if (!j.is_object())
		throw std::invalid_argument("the view is not a JSON object");
	if (!j.contains("line") || !j.contains("jobs"))
		throw std::invalid_argument("the view has no 'line' or no 'jobs'");
	View v;
	read(j, "source", v.source);
	read(j, "line", v.line);
	read(j, "jobs", v.jobs);
	read(j, "local_slots", v.localSlots);
	read(j, "local_speed", v.localSpeed);
	std::optional<std::string> place;
	read(j, "localhost", place);
	if (place) {
		const auto *known = std::find_if(std::begin(kPlaces), std::end(kPlaces),
						 [&](const auto &p) { return *place == p.second; });
		if (known == std::end(kPlaces))
			throw std::invalid_argument("the view's 'localhost' is unknown: " + text::quote(*place));
		v.localhost = known->first;
	}
	read(j, "share", v.share);
	std::optional<std::string> match;
	read(j, "match", match);
	if (match) {
		const auto mode = parseMatchMode(*match);
		if (!mode)
			throw std::invalid_argument("the view's 'match' is unknown: " + text::quote(*match));
		v.match = *mode;
	}
	if (j.contains("servers")) {
		if (!j["servers"].is_array())
			throw std::invalid_argument("the view's 'servers' must be an array");
		for (const json &s : j["servers"])
			v.servers.push_back(decodeServer(s));
	}
	read(j, "want", v.want);
	read(j, "want_asked", v.wantAsked);
	return v;
}

std::vector<AuthFailure> decodeAuthFailures(const json &stats)
{
	std::vector<AuthFailure> out;
	if (!stats.is_object() || !stats.contains("gossip") || !stats["gossip"].is_object())
		return out;
	const json &gossip = stats["gossip"];
	if (!gossip.contains("auth_failures"))
		return out;
	if (!gossip["auth_failures"].is_array())
		throw std::invalid_argument("the stats' 'auth_failures' must be an array");
	for (const json &f : gossip["auth_failures"]) {
		if (!f.is_object())
			throw std::invalid_argument("an 'auth_failures' entry is not an object");
		// A daemon keeps 16 sources; more is not what one sent.
		if (out.size() >= 64)
			throw std::invalid_argument("the stats' 'auth_failures' has too many entries");
		AuthFailure a;
		read(f, "address", a.address);
		read(f, "count", a.count);
		read(f, "ago_ms", a.agoMs);
		out.push_back(std::move(a));
	}
	return out;
}

std::string errorLine(std::string_view message)
{
	const json reply = { { "ok", false }, { "error", message } };
	return reply.dump() + "\n";
}

std::string answerLine(std::string_view line, const Handler &handler, const Caller &caller, bool *failed)
{
	bool ignored = false;
	bool &error = failed ? *failed : ignored;
	error = true;
	if (!line.empty() && line.back() == '\r')
		line.remove_suffix(1);
	const json request = json::parse(line, nullptr, false);
	if (request.is_discarded())
		return errorLine("request is not valid JSON");
	if (!request.is_object())
		return errorLine("request is not a JSON object");
	try {
		json reply = handler(decodeRequest(request), caller);
		reply["ok"] = true;
		std::string text = reply.dump() + "\n";
		error = false;
		return text;
	} catch (const std::invalid_argument &e) {
		return errorLine(e.what());
	} catch (const std::exception &e) {
		log(LogLevel::Error, "query failed: {}", e.what());
		return errorLine("internal error");
	}
}

void addNotAdvertising(json &stats, const std::string &reason)
{
	if (!reason.empty())
		stats["not_advertising"] = reason;
}

void addSpeedStats(json &stats, const SpeedStats &speed)
{
	stats["speed"] = json{ { "speed", speed.speed },
			       { "measured", speed.measured },
			       { "best", speed.best },
			       { "worst", speed.worst },
			       { "runs", speed.runs },
			       { "reruns", speed.reruns },
			       { "learn", speed.learn },
			       { "jobs_timed", speed.jobsTimed },
			       { "jobs_unmatched", speed.jobsUnmatched },
			       { "jobs_untimed", speed.jobsUntimed } };
}

std::string decodeNotAdvertising(const json &stats)
{
	if (!stats.is_object() || !stats.contains("not_advertising"))
		return {};
	const json &reason = stats["not_advertising"];
	if (!reason.is_string() || reason.get_ref<const std::string &>().size() > 1024)
		throw std::invalid_argument("the stats' 'not_advertising' must be a string of at most 1024 bytes");
	return reason.get<std::string>();
}

json encode(const std::optional<GossipNodeStats> &stats)
{
	if (!stats)
		return { { "gossip", nullptr } };
	const GossipStats &c = stats->counters;
	json j;
	j["node"] = stats->node;
	j["incarnation"] = stats->incarnation;
	j["port"] = stats->port;
	j["authenticated"] = stats->keys > 0;
	j["keys"] = stats->keys;
	j["peers"] = stats->peers;
	j["received"] = c.received;
	j["accepted"] = c.accepted;
	j["invalid"] = c.invalid;
	j["unauthenticated"] = c.unauthenticated;
	j["rate_limited"] = c.rateLimited;
	j["other_version"] = c.otherVersion;
	j["replayed"] = c.replayed;
	j["untrusted"] = c.untrusted;
	j["contradicted"] = c.contradicted;
	j["probes"] = c.probes;
	j["cookie_answers"] = c.cookieAnswers;
	j["looped"] = c.looped;
	j["unknown_records"] = c.unknownRecords;
	j["sent"] = c.sent;
	j["bytes_sent"] = c.bytesSent;
	j["bytes_received"] = c.bytesReceived;
	j["evicted"] = c.evicted;
	j["unsendable"] = stats->unsendable;
	j["servers"] = stats->servers;
	j["reservations"] = stats->reservations;
	j["demands"] = stats->demands;
	j["leaves"] = stats->leaves;
	j["last_error"] = c.lastError;
	json failures = json::array();
	for (const AuthFailure &f : stats->authFailures)
		failures.push_back({ { "address", f.address }, { "count", f.count }, { "ago_ms", f.agoMs } });
	j["auth_failures"] = std::move(failures);
	json out;
	out["gossip"] = std::move(j);
	out["demand"] = { { "wanted", stats->demand.wanted },
			  { "clients", stats->demand.clients },
			  { "local_slots", stats->demand.localSlots },
			  { "others_wanted", stats->othersWanted } };
	return out;
}

json encode(const FarmStats &stats)
{
	json j = encode(stats.gossip);
	addNotAdvertising(j, stats.notAdvertising);
	addSpeedStats(j, stats.speed);
	if (stats.stockProbe) {
		const StockProbeStats &c = stats.stockProbe->counts;
		j["stock_probe"] = json{ { "tracked", stats.stockProbe->tracked },
					 { "in_flight", stats.stockProbe->inFlight },
					 { "started", c.started },
					 { "connected", c.connected },
					 { "failed", c.failed },
					 { "timed_out", c.timedOut },
					 { "not_started", c.notStarted },
					 { "untracked", c.untracked } };
	} else {
		j["stock_probe"] = nullptr;
	}
	return j;
}

namespace {

json history(const char *first, const std::vector<std::uint32_t> &a, const char *second,
	     const std::vector<std::uint32_t> &b)
{
	return { { first, a }, { second, b } };
}

json encode(const FarmServer &s)
{
	json j = encode(s.server);
	j["fresh"] = s.fresh;
	j["clients"] = json::array();
	for (const FarmServerClient &c : s.clients)
		j["clients"].push_back({ { "address", c.address },
					 { "client", orNull(c.client) },
					 { "name", orNull(c.name) },
					 { "running", c.running } });
	j["history"] = history("busy", s.busyHistory, "reserved", s.reservedHistory);
	return j;
}

json encode(const FarmClient &c)
{
	return { { "id", c.id },
		 { "name", orNull(c.name) },
		 { "address", orNull(c.address) },
		 { "self", c.self },
		 { "want", c.want },
		 { "local_slots", c.localSlots },
		 { "share", orNull(c.share) },
		 { "holding", c.holding },
		 { "running", orNull(c.running) },
		 { "local_jobs", orNull(c.localJobs) },
		 { "age_ms", c.ageMs },
		 { "history", history("want", c.wantHistory, "share", c.shareHistory) } };
}

} // namespace

json encode(const FarmView &farm)
{
	json j;
	j["version"] = FarmView::kVersion;
	j["seq"] = farm.seq;
	j["node"] = farm.node;
	j["host"] = farm.host;
	j["time_ms"] = farm.timeMs;
	j["line"] = farm.line;
	j["jobs"] = farm.jobs;
	const FarmTotals &t = farm.totals;
	j["totals"] = { { "servers", t.servers }, { "up", t.up }, { "slots", t.slots }, { "busy", t.busy }, { "reserved", t.reserved }, { "wanted", t.wanted }, { "waiting", t.waiting }, { "utilisation", t.utilisation }, { "clients", t.clients } };
	j["servers"] = json::array();
	for (const FarmServer &s : farm.servers)
		j["servers"].push_back(encode(s));
	j["clients"] = json::array();
	for (const FarmClient &c : farm.clients)
		j["clients"].push_back(encode(c));
	j["stats"] = encode(farm.stats);
	const QueryCounts &q = farm.queries;
	j["queries"] = { { "hosts", q.hosts }, { "stats", q.stats }, { "farm", q.farm }, { "watch", q.watch }, { "set_state", q.setState }, { "setup_user", q.setupUser }, { "errors", q.errors }, { "refused", q.refused } };
	return j;
}

std::string farmLine(const FarmView &farm)
{
	// Names come from the network: never let a bad byte cost a watcher its
	// object (replaced, not thrown).
	return encode(farm).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

} // namespace dmdns::codec
