// The one request both programs answer: which hosts should this client use.
#include "hosts_query.h"

#include <random>

#include "distcc-mdns/hosts_line.h"
#include "probe.h"
#include "request.h"
#include "view.h"

namespace dmdns {

nlohmann::json answerHosts(const nlohmann::json &request, const std::vector<DirectoryEntry> &entries,
			   std::string_view source)
{
	const std::string op = request::string(request, "op", "");
	if (op != "hosts")
		throw std::invalid_argument(op.empty() ? "missing 'op'" : "unknown op '" + op + "'");

	PlanOptions options;
	options.localSlots = static_cast<std::uint32_t>(
		request::integer(request, "local_slots", 1, kMaxHostLimit, host::onlineCpus()));
	options.lzo = request::boolean(request, "lzo", false);
	options.cpp = request::boolean(request, "cpp", false);
	// Load in TXT changes at most every 10 s and only when it changes by a
	// quarter of the slots, so its age says nothing about its truth; live
	// samples with real ages arrive by gossip.
	options.policy.maxSampleAge = std::chrono::hours(24);

	// Every answer draws anew, so that clients asking at once spread.
	std::random_device entropy;
	const std::uint64_t seed = (std::uint64_t(entropy()) << 32) | entropy();
	return makeView(entries, options, seed, source);
}

} // namespace dmdns
