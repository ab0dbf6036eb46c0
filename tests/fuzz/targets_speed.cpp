// The invariants the SPEED fuzz target checks: hostile speed reports stay bounded and cannot make an honest server too slow.
#include <chrono>
#include <cmath>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "distcc-mdns/gossip.h"
#include "distcc-mdns/gossip_wire.h"
#include "distcc-mdns/plan.h"
#include "fuzz/targets.h"

namespace dmdns::fuzz {

namespace {

constexpr std::uint64_t kHonest[] = { 0x20, 0x21, 0x22, 0x23 };
// The hostile sources: three hosts of their own and a forged copy of an
// honest server's address.
const Endpoint kSources[] = { { "10.0.0.66", 3632 }, { "10.0.0.67", 3632 }, { "10.0.0.68", 3632 }, { "10.0.0.2", 3632 } };
constexpr std::size_t kMaxReports = 8;

Endpoint honestAt(std::size_t i)
{
	return { "10.0.0." + std::to_string(i + 2), 3632 };
}

} // namespace

void checkSpeedMerge(const std::uint8_t *data, std::size_t size)
{
	using namespace std::chrono_literals;
	GossipConfig config = smallGossipConfig();
	config.maxSpeedReports = kMaxReports;
	config.rateLimit = 1e9;
	config.rateBurst = 1e9;
	Gossip g(config);
	SteadyTime now = SteadyTime{} + std::chrono::hours(1);

	// Four honest servers of speed 1, as they say and as this node's own
	// jobs (of 1 s each) show.
	std::uint64_t sequence = 0;
	for (std::size_t i = 0; i < std::size(kHonest); ++i) {
		g.addPeer(honestAt(i));
		wire::PacketWriter w({ 0, kHonest[i], 7, ++sequence });
		wire::Sample s;
		s.server = kHonest[i];
		s.incarnation = 7;
		s.sequence = sequence;
		s.slots = 4;
		s.cpus = 4;
		w.add(s);
		g.receive(honestAt(i), w.finish(), now);
	}
	auto ownJobs = [&](int n) {
		for (int j = 0; j < n; ++j)
			for (std::uint64_t server : kHonest)
				g.recordJob(server, 1000ms, now);
	};
	ownJobs(10);

	const double minSpeed = PlanOptions{}.minSpeed;
	forEachFrame(data, size, [&](std::span<const std::uint8_t> bytes, std::uint8_t how) {
		for (const Datagram &d : g.receive(kSources[how & 3], bytes, now))
			if (d.bytes.size() > wire::kMaxDatagram || !wire::decode(d.bytes).packet)
				violated("an answer is not a valid datagram");
		if (how & 4)
			ownJobs(1);
		now += std::chrono::milliseconds(1 + (how >> 3) * 100);
		for (const Datagram &d : g.tick(now))
			if (d.bytes.size() > wire::kMaxDatagram || !wire::decode(d.bytes).packet)
				violated("a datagram sent is not valid");

		if (g.speeds().others().size() > kMaxReports || g.speeds().own().size() > config.maxServers)
			violated("speed tables past their bounds");
		for (std::uint64_t server : kHonest) {
			const SpeedEstimate e = g.speedOf(server, 1.0, now);
			if (!std::isfinite(e.used) || e.used < kMinSpeed || e.used > kMaxSpeed)
				violated("a used speed out of range");
			// While this node's own jobs there (which say 1) count, or one
			// address alone lies about it, liars move it by at most 2x.
			std::set<std::string> liars;
			for (const auto &[key, report] : g.speeds().others())
				if (key.second == server)
					liars.insert(key.first);
			const auto &own = g.speeds().own();
			const bool ownCounts = own.contains(server) &&
					       g.speeds().ownWeight(own.at(server), now) >= config.speedPolicy.minJobs;
			if ((ownCounts || liars.size() <= 1) && (e.used < minSpeed * (1 - 1e-9) || e.used > 2.0 / minSpeed))
				violated("hostile reports made an honest server too slow or absurdly fast");
			// One vote per address, and this node's own.
			if (e.sources > std::size(kSources) + 1)
				violated("more sources than addresses");
		}
	});
}

} // namespace dmdns::fuzz
