// Reading the farm object into the typed model --top draws (hosts/farm.h).
#include "hosts/farm.h"

#include <limits>
#include <stdexcept>
#include <type_traits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace dmdns::top {

namespace {

using nlohmann::json;

[[noreturn]] void fail(std::string_view where, std::string_view key, std::string_view what)
{
	throw std::invalid_argument(fmt::format("the farm object's {}'{}' {}", where, key, what));
}

// An object's key, or nullptr when missing or null (optional keys).
const json *find(const json &j, const char *key)
{
	const auto it = j.find(key);
	return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::optional<std::string> text(const json &j, const char *key, std::string_view where)
{
	const json *v = find(j, key);
	if (!v)
		return std::nullopt;
	if (!v->is_string())
		fail(where, key, "must be a string");
	std::string s = v->get<std::string>();
	if (s.size() > kMaxText)
		s.resize(kMaxText);
	return s;
}

template <typename T>
std::optional<T> integer(const json &j, const char *key, std::string_view where)
{
	const json *v = find(j, key);
	if (!v)
		return std::nullopt;
	if (!v->is_number_integer())
		fail(where, key, "must be an integer");
	// Counts are unsigned and at most a few thousand; ages and times are
	// signed 64-bit milliseconds: refuse what the type cannot hold.
	if constexpr (std::is_unsigned_v<T>) {
		if (v->is_number_unsigned() && v->get<std::uint64_t>() <= std::numeric_limits<T>::max())
			return static_cast<T>(v->get<std::uint64_t>());
	} else if (v->is_number_unsigned()) {
		if (v->get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
			return static_cast<T>(v->get<std::uint64_t>());
	} else {
		return static_cast<T>(v->get<std::int64_t>());
	}
	fail(where, key, "is out of range");
}

std::optional<double> number(const json &j, const char *key, std::string_view where)
{
	const json *v = find(j, key);
	if (!v)
		return std::nullopt;
	if (!v->is_number())
		fail(where, key, "must be a number");
	return v->get<double>();
}

bool boolean(const json &j, const char *key, std::string_view where)
{
	const json *v = find(j, key);
	if (!v)
		return false;
	if (!v->is_boolean())
		fail(where, key, "must be true or false");
	return v->get<bool>();
}

// An optional array; the caller bounds what it keeps of it.
const json *array(const json &j, const char *key, std::string_view where)
{
	const json *v = find(j, key);
	if (v && !v->is_array())
		fail(where, key, "must be an array");
	return v;
}

// history.KEY: counts, oldest first; the newest kMaxHistory kept.
std::vector<std::uint32_t> history(const json &object, const char *key, std::string_view where)
{
	std::vector<std::uint32_t> out;
	const json *h = find(object, "history");
	if (!h)
		return out;
	if (!h->is_object())
		fail(where, "history", "must be an object");
	const json *list = array(*h, key, where);
	if (!list)
		return out;
	const std::size_t skip = list->size() > kMaxHistory ? list->size() - kMaxHistory : 0;
	for (std::size_t i = skip; i < list->size(); ++i) {
		const json &v = (*list)[i];
		// A second without a value (null) draws as nothing.
		if (v.is_null())
			out.push_back(0);
		else if (v.is_number_unsigned() && v.get<std::uint64_t>() <= 1u << 20)
			out.push_back(static_cast<std::uint32_t>(v.get<std::uint64_t>()));
		else
			fail(where, key, "history must hold counts");
	}
	return out;
}

FarmServer server(const json &j)
{
	constexpr std::string_view where = "server's ";
	if (!j.is_object())
		throw std::invalid_argument("the farm object's servers must be objects");
	FarmServer s;
	s.name = text(j, "name", where).value_or("");
	s.host = text(j, "host", where).value_or("");
	s.address = text(j, "address", where);
	s.state = text(j, "state", where).value_or("up");
	s.excluded = text(j, "excluded", where);
	s.cpus = integer<std::uint32_t>(j, "cpus", where);
	s.slots = integer<std::uint32_t>(j, "slots", where).value_or(0);
	s.running = integer<std::uint32_t>(j, "running", where);
	s.reserved = integer<std::uint32_t>(j, "reserved", where).value_or(0);
	s.load = number(j, "load", where);
	s.speed = number(j, "speed", where).value_or(1.0);
	s.ageMs = integer<std::int64_t>(j, "age_ms", where);
	s.liveness = text(j, "liveness", where);
	s.local = boolean(j, "local", where);
	s.fresh = boolean(j, "fresh", where);
	s.limit = integer<std::uint32_t>(j, "limit", where).value_or(0);
	if (const json *list = array(j, "compilers", where))
		for (const json &c : *list) {
			if (!c.is_string())
				fail(where, "compilers", "must hold strings");
			if (s.compilers.size() < kMaxCompilers)
				s.compilers.push_back(c.get<std::string>().substr(0, kMaxText));
		}
	if (const json *list = array(j, "clients", where))
		for (const json &c : *list) {
			if (!c.is_object())
				fail(where, "clients", "must hold objects");
			if (s.clients.size() >= kMaxServerClients)
				continue;
			constexpr std::string_view cw = "server client's ";
			s.clients.push_back({ text(c, "address", cw).value_or(""), text(c, "name", cw),
					      integer<std::uint32_t>(c, "running", cw).value_or(0),
					      text(c, "client", cw) });
		}
	s.busyHistory = history(j, "busy", where);
	return s;
}

FarmClient client(const json &j)
{
	constexpr std::string_view where = "client's ";
	if (!j.is_object())
		throw std::invalid_argument("the farm object's clients must be objects");
	FarmClient c;
	c.id = text(j, "id", where).value_or("");
	c.name = text(j, "name", where);
	c.address = text(j, "address", where);
	c.self = boolean(j, "self", where);
	c.want = integer<std::uint32_t>(j, "want", where).value_or(0);
	c.localSlots = integer<std::uint32_t>(j, "local_slots", where).value_or(0);
	c.share = integer<std::uint32_t>(j, "share", where);
	c.holding = integer<std::uint32_t>(j, "holding", where).value_or(0);
	c.running = integer<std::uint32_t>(j, "running", where);
	c.localJobs = integer<std::uint32_t>(j, "local_jobs", where);
	c.ageMs = integer<std::int64_t>(j, "age_ms", where);
	c.shareHistory = history(j, "share", where);
	return c;
}

} // namespace

Farm decodeFarm(std::string_view line)
{
	const json j = json::parse(line, nullptr, false);
	if (j.is_discarded() || !j.is_object())
		throw std::invalid_argument("the farm object is not a JSON object");
	if (j.contains("ok") && j["ok"] == false) {
		const std::string error = text(j, "error", "").value_or("unknown error");
		throw std::invalid_argument("the daemon refused: " + error);
	}
	constexpr std::string_view where = "";
	const auto version = integer<std::uint32_t>(j, "version", where);
	if (!version)
		fail(where, "version", "is missing: not a farm object (an older daemon?)");
	if (*version != 1)
		fail(where, "version", fmt::format("is {}: this distcc-mdns-hosts reads version 1", *version));
	Farm farm;
	farm.seq = integer<std::uint64_t>(j, "seq", where).value_or(0);
	farm.node = text(j, "node", where).value_or("");
	farm.host = text(j, "host", where).value_or("");
	farm.timeMs = integer<std::int64_t>(j, "time_ms", where).value_or(0);
	farm.line = text(j, "line", where).value_or("");
	farm.jobs = integer<std::uint32_t>(j, "jobs", where).value_or(0);
	if (const json *t = find(j, "totals")) {
		if (!t->is_object())
			fail(where, "totals", "must be an object");
		constexpr std::string_view tw = "totals' ";
		FarmTotals &o = farm.totals;
		o.servers = integer<std::uint32_t>(*t, "servers", tw).value_or(0);
		o.up = integer<std::uint32_t>(*t, "up", tw).value_or(0);
		o.slots = integer<std::uint32_t>(*t, "slots", tw).value_or(0);
		o.busy = integer<std::uint32_t>(*t, "busy", tw).value_or(0);
		o.reserved = integer<std::uint32_t>(*t, "reserved", tw).value_or(0);
		o.wanted = integer<std::uint32_t>(*t, "wanted", tw).value_or(0);
		o.waiting = integer<std::uint32_t>(*t, "waiting", tw).value_or(0);
		o.clients = integer<std::uint32_t>(*t, "clients", tw).value_or(0);
		o.utilisation = number(*t, "utilisation", tw).value_or(0.0);
	}
	if (const json *list = array(j, "servers", where))
		for (const json &s : *list) {
			if (farm.servers.size() < kMaxServers)
				farm.servers.push_back(server(s));
			else
				++farm.serversCut;
		}
	if (const json *list = array(j, "clients", where))
		for (const json &c : *list) {
			if (farm.clients.size() < kMaxClients)
				farm.clients.push_back(client(c));
			else
				++farm.clientsCut;
		}
	return farm;
}

} // namespace dmdns::top
