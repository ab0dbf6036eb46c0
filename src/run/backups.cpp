// The runner's side of backup jobs: the build's compiles report to it, and it tells a straggler's wrapper where to start a copy.
#include "run/backups.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <unordered_map>

#include "client/distcc_state.h"
#include "common/log.h"
#include "distcc-mdns/backup_policy.h"
#include "distcc-mdns/hosts_line.h"
#include "distcc-mdns/text.h"
#include "run/backup_job.h"

namespace dmdns::run {

namespace {

// Whether distcc's state names @host for @spec: distcc writes the host name
// of the entry, with or without what follows it in the hosts file.
bool sameHost(std::string_view state, std::string_view host)
{
	if (host.empty() || state.substr(0, host.size()) != host)
		return false;
	return state.size() == host.size() || std::string_view(":/,").find(state[host.size()]) != std::string_view::npos;
}

bool sameHost(std::string_view state, const HostSpec &spec)
{
	return sameHost(state, std::string_view(spec.host));
}

} // namespace

double effectiveSpeed(const ServerView &server, std::uint32_t extra)
{
	if (!server.cpus || !server.running || *server.cpus == 0)
		return server.speed;
	const double jobs = static_cast<double>(*server.running) + extra;
	return jobs <= *server.cpus ? server.speed : server.speed * *server.cpus / jobs;
}

Backups::Backups(const std::string &dir)
	: path_(dir + "/jobs")
{
	sockaddr_un sa{};
	sa.sun_family = AF_UNIX;
	if (path_.size() >= sizeof sa.sun_path)
		throw std::system_error(ENAMETOOLONG, std::generic_category(), path_);
	std::memcpy(sa.sun_path, path_.c_str(), path_.size() + 1);
	listen_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (listen_.get() < 0 || ::bind(listen_.get(), reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0 ||
	    ::listen(listen_.get(), 128) != 0)
		throw std::system_error(errno, std::generic_category(), fmt::format("cannot listen at {}", path_));
}

void Backups::accept()
{
	for (;;) {
		host::UniqueFd fd(::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
		if (fd.get() < 0)
			return;
		// Past the bound a compile simply runs without a copy; only this
		// user's compiles are heard (the directory is 0700 already).
		ucred peer{};
		socklen_t len = sizeof peer;
		if (jobs_.size() >= kMaxJobs || ::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 ||
		    peer.uid != ::geteuid())
			continue;
		Job job;
		job.fd = std::move(fd);
		jobs_.push_back(std::move(job));
	}
}

bool Backups::read(Job &job)
{
	char buf[kMaxJobLine];
	for (;;) {
		const ssize_t n = ::recv(job.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
		if (n == 0) {
			job.ended = true;
			return false;
		}
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		job.input.append(buf, static_cast<std::size_t>(n));
		std::size_t eol;
		while ((eol = job.input.find('\n')) != std::string::npos) {
			const std::string line = job.input.substr(0, eol);
			job.input.erase(0, eol + 1);
			if (line.rfind("job ", 0) == 0 && job.pid == 0) {
				// "job PID KEY"; a wrapper of an older runner says no KEY.
				const std::string_view rest = std::string_view(line).substr(4);
				const auto space = rest.find(' ');
				const auto pid = text::parseUint(rest.substr(0, space), 1, 1u << 22);
				if (!pid)
					return false;
				if (space != std::string_view::npos) {
					job.key = text::parseHex64(rest.substr(space + 1));
					if (!job.key)
						return false;
				}
				job.pid = static_cast<pid_t>(*pid);
			} else if (line == "won") {
				++won_;
				job.won = true;
				log(LogLevel::Debug, "the copy of job {} on {} gave its output", job.pid, job.copyHost.value_or("?"));
			} else if (line == "failed") {
				log(LogLevel::Debug, "the copy of job {} on {} failed", job.pid, job.copyHost.value_or("?"));
				job.copyHost.reset();
			} else {
				return false;
			}
		}
		if (job.input.size() > kMaxJobLine)
			return false;
	}
}

void Backups::locate(Clock::time_point now, const std::string &stateDir)
{
	std::unordered_map<pid_t, const client::DistccJob *> byPid;
	const std::vector<client::DistccJob> states = client::readDistccJobs(stateDir, std::chrono::system_clock::now());
	for (const client::DistccJob &s : states)
		byPid.emplace(s.pid, &s);
	for (Job &job : jobs_) {
		if (job.pid == 0)
			continue;
		const auto it = byPid.find(job.pid);
		if (it == byPid.end())
			continue;
		// Read again at every look: a compile may fall back to this
		// machine, or be sent elsewhere after a failure.
		const client::DistccJob &s = *it->second;
		const bool remote = s.phase == client::DistccPhase::Send || s.phase == client::DistccPhase::Compile ||
				    s.phase == client::DistccPhase::Receive;
		if (!remote || s.host == "localhost") {
			job.host.clear();
			if (s.phase == client::DistccPhase::Compile && s.host == "localhost" &&
			    job.localSince == Clock::time_point{})
				job.localSince = now;
		} else {
			if (s.host != job.host) {
				job.host = s.host;
				job.remoteSince = now;
			}
			job.remoteSeen = now;
		}
	}
}

void Backups::rate(const View &view)
{
	localSpeed_ = view.localSpeed;
	for (Job &job : jobs_) {
		if (job.host.empty())
			continue;
		const auto server = std::find_if(view.servers.begin(), view.servers.end(), [&](const ServerView &s) {
			return !s.local && s.address && sameHost(job.host, *s.address);
		});
		if (server != view.servers.end())
			job.speed = effectiveSpeed(*server, 0);
	}
}

void Backups::measure(const Job &job, Clock::time_point now)
{
	if (!job.key)
		return;
	const auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
	if (job.won && job.copySpeed > 0.0) {
		measured_.record(*job.key, seconds(now - job.copySince) * job.copySpeed);
	} else if (job.remoteSeen != Clock::time_point{} && job.speed > 0.0) {
		// Still there at the end, or last seen there before it ended.
		const Clock::time_point end = job.host.empty() ? job.remoteSeen : now;
		measured_.record(*job.key, seconds(end - job.remoteSince) * job.speed);
	} else if (job.localSince != Clock::time_point{} && localSpeed_ > 0.0) {
		measured_.record(*job.key, seconds(now - job.localSince) * localSpeed_);
	}
}

void Backups::copy(Clock::time_point now, const View &view)
{
	const HostsLineParse parsed = parseHostsLine(view.line);
	if (!parsed.line)
		return;
	std::vector<HostSpec> specs;
	std::vector<FreeSlots> entries;
	std::vector<const ServerView *> servers;
	for (const HostSpec &spec : parsed.line->hosts) {
		if (spec.kind != HostSpec::Kind::Tcp)
			continue;
		const auto server = std::find_if(view.servers.begin(), view.servers.end(), [&](const ServerView &s) {
			return !s.local && s.port == spec.port && s.address && *s.address == spec.host;
		});
		if (server == view.servers.end())
			continue;
		unsigned used = 0;
		for (const Job &job : jobs_)
			used += (sameHost(job.host, spec) ? 1u : 0u) + (job.copyHost && sameHost(*job.copyHost, spec) ? 1u : 0u);
		const unsigned limit = spec.effectiveLimit();
		specs.push_back(spec);
		// A copy there adds a job: the speed it would get.
		entries.push_back({ effectiveSpeed(*server, 1), limit > used ? limit - used : 0 });
		servers.push_back(&*server);
	}
	std::vector<RunningCompile> running;
	for (std::size_t i = 0; i < jobs_.size(); ++i) {
		const Job &job = jobs_[i];
		if (job.host.empty())
			continue;
		const auto at = std::find_if(specs.begin(), specs.end(), [&](const HostSpec &s) { return sameHost(job.host, s); });
		// A server no longer listed (left out as slow, or busy) still
		// runs the compile, at the speed its load leaves each job.
		std::size_t entry = specs.size();
		const ServerView *server = nullptr;
		if (at != specs.end()) {
			entry = static_cast<std::size_t>(at - specs.begin());
			server = servers[entry];
		} else {
			const auto found = std::find_if(view.servers.begin(), view.servers.end(), [&](const ServerView &s) {
				return !s.local && s.address && sameHost(job.host, *s.address);
			});
			if (found == view.servers.end())
				continue;
			server = &*found;
		}
		const double speed = effectiveSpeed(*server, 0);
		running.push_back({ i, entry, speed, std::chrono::duration<double>(now - job.remoteSince).count(), job.copied });
	}
	for (const BackupPick &p : BackupPolicy::pick(running, entries, false)) {
		Job &job = jobs_[p.id];
		HostSpec spec = specs[p.entry];
		HostsLine one;
		one.hosts.push_back(spec);
		const std::string entry = writeHostsLine(one);
		const std::string line = fmt::format("backup {}\n", entry);
		job.copied = true;
		if (::send(job.fd.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT) != static_cast<ssize_t>(line.size()))
			continue;
		job.copyHost = spec.host;
		job.copySince = now;
		job.copySpeed = entries[p.entry].speed;
		++started_;
		log(LogLevel::Info, "a copy of a compile running {:.1f} s on {} starts on {}",
		    std::chrono::duration<double>(now - job.remoteSince).count(), job.host, entry);
	}
}

void Backups::drain()
{
	accept();
	const Clock::time_point now = Clock::now();
	jobs_.erase(std::remove_if(jobs_.begin(), jobs_.end(),
				   [&](Job &job) {
					   if (read(job))
						   return false;
					   if (job.ended)
						   measure(job, now);
					   return true;
				   }),
		    jobs_.end());
}

void Backups::tick(Clock::time_point now, const View *view, bool waiting, const std::string &stateDir)
{
	drain();
	if (jobs_.empty())
		return;
	locate(now, stateDir);
	if (view)
		rate(*view);
	// While make waits for tokens no copy starts (BackupPolicy): the line
	// is not even read then.
	if (view && !waiting)
		copy(now, *view);
}

} // namespace dmdns::run
