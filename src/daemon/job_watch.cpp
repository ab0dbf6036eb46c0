// Times this machine's remote distcc jobs and hands each, by server id, to gossip's learned speeds.
#include "daemon/job_watch.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "common/log.h"
#include "distcc-mdns/live.h"

namespace dmdns {

JobWatch::JobWatch(uv::Clock &clock, host::JobTimer::Source source, Moved moved, Entries entries, Record record)
	: clock_(clock), timer_(std::move(source)), moved_(std::move(moved)), entries_(std::move(entries)),
	  record_(std::move(record)), alarm_(clock_.alarm([this] { tick(); }))
{
	alarm_->start(std::chrono::milliseconds(0));
}

std::unique_ptr<JobWatch> JobWatch::forKernel(uv::Clock &clock, Entries entries, Record record)
{
	auto diag = std::make_unique<host::SockDiag>();
	auto counts = std::make_unique<host::SocketCounts>();
	host::SocketCounts *countsPtr = counts.get();
	// A connection that opens moves the sockets in use: unchanged counts
	// mean none opened (unreadable counts mean "look").
	auto last = std::make_shared<std::optional<std::array<std::uint64_t, 4>>>();
	Moved moved = [countsPtr, last] {
		const auto now = countsPtr->read();
		const bool same = now && *last && **last == *now;
		*last = now;
		return !same;
	};
	auto watch = std::make_unique<JobWatch>(clock, host::JobTimer::kernel(*diag), std::move(moved),
						std::move(entries), std::move(record));
	watch->diag_ = std::move(diag);
	watch->counts_ = std::move(counts);
	return watch;
}

void JobWatch::tick()
{
	// Armed first: nothing below stops the polling.
	alarm_->start(host::JobTimer::kBusyInterval);
	const SteadyTime now = clock_.now();
	const bool moved = moved_();
	if (!moved && (timer_.open() == 0 || now - polledAt_ < host::JobTimer::kIdleInterval)) {
		timer_.unchanged(now);
		return;
	}
	polledAt_ = now;
	const std::vector<DirectoryEntry> entries = entries_();
	// Where each listed server takes jobs: its addresses and port.
	std::map<std::pair<std::string, std::uint16_t>, std::uint64_t> ids;
	std::set<std::uint16_t> ports;
	for (const DirectoryEntry &e : entries) {
		const auto id = gossipId(e);
		if (!id || e.server.port == 0)
			continue;
		ports.insert(e.server.port);
		for (const Address &a : e.server.addresses)
			ids.emplace(std::pair(a.text, e.server.port), *id);
	}
	for (const host::FinishedJob &job : timer_.poll(ports, now)) {
		const auto it = ids.find({ job.address, job.port });
		if (it == ids.end()) {
			++unmatched_;
			continue;
		}
		++recorded_;
		log(LogLevel::Debug, "job on {}:{} ({:016x}) took {} ms", job.address, job.port, it->second,
		    job.wall.count());
		record_(it->second, job.wall, job.end);
	}
}

} // namespace dmdns
