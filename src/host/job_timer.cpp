// Remote distcc jobs' wall times, from this machine's TCP connections to the servers' ports.
#include "host/job_timer.h"

#include <string_view>
#include <utility>

#include "host/files.h"
#include "host/sock_diag.h"

namespace dmdns::host {

namespace {

constexpr std::size_t kMaxTcpBytes = 16u << 20;

} // namespace

JobTimer::JobTimer(Source source)
	: source_(std::move(source))
{
}

std::vector<FinishedJob> JobTimer::poll(const std::set<std::uint16_t> &ports, Clock::time_point now)
{
	std::vector<FinishedJob> done;
	std::set<Key> seen;
	// All or nothing: a port whose table could not be read would make its
	// running jobs look ended.
	std::vector<procfs::TcpEntry> sockets;
	for (const std::uint16_t port : ports) {
		auto answer = source_(port);
		if (!answer)
			return done;
		for (procfs::TcpEntry &e : *answer)
			if (e.state == procfs::kTcpEstablished && e.remote.port == port)
				sockets.push_back(std::move(e));
	}
	// Unknown before the first good poll: a job seen then started at an
	// unknown time, and is not timed.
	const Clock::time_point before = lastGood_.value_or(Clock::time_point{});
	for (const procfs::TcpEntry &e : sockets) {
		const Key key{ e.local.address, e.local.port, e.remote.address, e.remote.port, e.remote.ipv6, e.inode };
		seen.insert(key);
		if (auto it = open_.find(key); it != open_.end()) {
			it->second.last = now;
			continue;
		}
		if (open_.size() >= kMaxOpen) {
			++untracked_;
			continue;
		}
		open_.emplace(key, Open{ before, now, now, e.remote.lineAddress(), e.remote.port });
	}
	for (auto it = open_.begin(); it != open_.end();) {
		const Open &job = it->second;
		if (seen.contains(it->first)) {
			++it;
			continue;
		}
		if (ports.contains(job.port)) {
			// Gone: it ended after its last sighting and by now.
			if (job.first - job.before > kMaxBracket || now - job.last > kMaxBracket) {
				++untimed_;
			} else {
				const auto start = job.before + (job.first - job.before) / 2;
				const auto end = job.last + (now - job.last) / 2;
				done.push_back({ job.address, job.port,
						 std::chrono::duration_cast<std::chrono::milliseconds>(end - start), end });
			}
		}
		it = open_.erase(it);
	}
	lastGood_ = now;
	return done;
}

JobTimer::Source JobTimer::kernel(SockDiag &diag)
{
	return [&diag](std::uint16_t port) -> std::optional<std::vector<procfs::TcpEntry>> {
		if (diag.available())
			if (auto sockets = diag.outgoingSockets(port))
				return sockets;
		// Without netlink: the /proc files, both read whole or not at all.
		std::vector<procfs::TcpEntry> sockets;
		for (const char *name : { "/proc/net/tcp", "/proc/net/tcp6" }) {
			auto file = readBounded(name, kMaxTcpBytes);
			// A kernel without IPv6 has no tcp6, and no IPv6 sockets.
			if (!file && std::string_view(name).ends_with('6'))
				continue;
			if (!file || file->truncated)
				return std::nullopt;
			for (procfs::TcpEntry &e : procfs::parseTcp(wholeLines(*file)))
				if (e.state == procfs::kTcpEstablished && e.remote.port == port)
					sockets.push_back(std::move(e));
		}
		return sockets;
	};
}

} // namespace dmdns::host
