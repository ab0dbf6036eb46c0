// The invariants the query-socket fuzz target checks on one request line.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "daemon/farm_view.h"
#include "daemon/hosts_query.h"
#include "daemon/json_codec.h"
#include "distcc-mdns/hosts_line.h"
#include "fuzz/targets.h"

namespace dmdns::fuzz {

namespace {

std::vector<DirectoryEntry> farm()
{
	std::vector<DirectoryEntry> entries(3);
	const char *addresses[] = { "10.0.0.2", "10.0.0.3", "fe80::4" };
	for (std::size_t i = 0; i < entries.size(); ++i) {
		DirectoryEntry &e = entries[i];
		e.name = "distcc@h" + std::to_string(i);
		e.server.id = e.name;
		e.server.addresses = { *Address::parse(addresses[i], 2) };
		e.server.cpus = e.server.slots = 4 * static_cast<std::uint32_t>(i + 1);
		e.server.compilers = { { "x86_64-linux-gnu", "12" } };
	}
	return entries;
}

} // namespace

void checkQueryLine(const std::uint8_t *data, std::size_t size)
{
	const std::vector<DirectoryEntry> entries = farm();
	const std::string_view line(reinterpret_cast<const char *>(data), size);
	bool farm = false;
	const std::string reply = codec::answerLine(line, [&entries, &farm](const Request &request, const Caller &) {
		// A look at the farm, as the daemon answers "farm" and each "watch"
		// object: whatever else the request holds, it reserves nothing.
		if (std::holds_alternative<FarmRequest>(request) || std::holds_alternative<WatchRequest>(request)) {
			farm = true;
			HostsRequest look;
			look.reserve = false;
			const HostsAnswer answer = answerHosts(look, entries, {}, { 2, 1.0 }, "fuzz");
			if (answer.reserve || !answer.reservations.empty())
				violated("a farm look reserved");
			OwnClient self;
			self.node = 1;
			return codec::encode(makeFarmView(answer.view, nullptr, self, std::chrono::steady_clock::now()));
		}
		const auto *hosts = std::get_if<HostsRequest>(&request);
		if (!hosts)
			throw std::invalid_argument("not a hosts request");
		// A build stands for its want until its connection closes: one
		// without a want, or that does not reserve, must have been refused.
		if (hosts->build && (!hosts->want || hosts->reserve != true))
			violated("a build request without a want or a reservation was accepted");
		return codec::encode(answerHosts(*hosts, entries, {}, { 2, 1.0 }, "fuzz").view);
	});
	if (reply.empty() || reply.back() != '\n' || reply.find('\n') != reply.size() - 1)
		violated("reply is not exactly one line");
	const nlohmann::json j = nlohmann::json::parse(reply, nullptr, false);
	if (j.is_discarded() || !j.is_object() || !j.contains("ok") || !j["ok"].is_boolean())
		violated("reply is not a JSON object with ok");
	if (!j["ok"].get<bool>()) {
		if (!j.contains("error") || !j["error"].is_string() || j["error"].get<std::string>().empty())
			violated("error reply without a reason");
		return;
	}
	if (!parseHostsLine(j["line"].get<std::string>()).line)
		violated("reply line does not parse");
	if (farm && (j["version"] != 1 || !j["servers"].is_array() || j["servers"].size() != entries.size() ||
		     !j["clients"].is_array() || j["clients"].empty() || j["clients"][0]["self"] != true))
		violated("a farm object without its servers or this machine");
}

} // namespace dmdns::fuzz
