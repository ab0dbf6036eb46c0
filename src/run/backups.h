// The runner's side of backup jobs: the build's compiles report to it, and it tells a straggler's wrapper where to start a copy.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "daemon/view.h"
#include "distcc-mdns/work_history.h"
#include "host/files.h"

namespace dmdns::run {

// What a job there gets of @server's speed now: all of it while the
// server's jobs (@extra more counted) fit its CPUs, a share once they do
// not (its gossiped load). Unknown load or CPUs: the speed it advertises.
double effectiveSpeed(const ServerView &server, std::uint32_t extra);

// Every compile of the build runs under the job wrapper (run/backup_job.h),
// which connects to this socket in the build's private directory (0700) and
// says "job PID KEY" (its distcc process, WorkHistory::key() of its output).
// Where each one runs comes from
// distcc's own state files in that directory; BackupPolicy decides the
// copies, and the wrapper of each gets "backup ENTRY". Bounded: at most
// kMaxJobs connections, one short line at a time each; a connection that
// says anything else is closed (its compile runs on, without a copy).
class Backups final
{
public:
	using Clock = std::chrono::steady_clock;
	// Well under the usual limit of 1024 open files.
	static constexpr std::size_t kMaxJobs = 512;

	// Listens at @dir/jobs.
	explicit Backups(const std::string &dir);
	Backups(const Backups &) = delete;
	Backups &operator=(const Backups &) = delete;

	const std::string &path() const noexcept { return path_; }

	// One look, at every refresh: takes new compiles and what they say,
	// reads where each runs (distcc's state files in @stateDir), and with
	// @view starts the copies BackupPolicy picks. @waiting: make has jobs
	// waiting for tokens (no copy then).
	void tick(Clock::time_point now, const View *view, bool waiting, const std::string &stateDir);

	// Takes what the compiles said before they ended (at the build's end:
	// the last ones' "won" is still in the sockets).
	void drain();

	// The work of each compile that ended on a server (or whose copy won
	// there), or on this machine: its seconds compiling there times the
	// speed a job got there.
	const WorkHistory &measured() const noexcept { return measured_; }

	unsigned started() const noexcept { return started_; } // copies started
	unsigned won() const noexcept { return won_; }	       // copies that gave the output
	std::size_t compiles() const noexcept { return jobs_.size(); }

private:
	struct Job {
		host::UniqueFd fd;
		pid_t pid = 0; // the wrapper's distcc; 0 until it says
		std::string input;
		std::string host; // where distcc sent it; empty while unknown or local
		Clock::time_point remoteSince{};
		std::optional<std::string> copyHost; // where its copy runs
		bool copied = false;
		// For its work: its output's key, the speed a job got where it
		// ran (last seen), when it was last seen there, and its copy's.
		std::optional<std::uint64_t> key;
		double speed = 0.0;
		Clock::time_point remoteSeen{};
		Clock::time_point localSince{}; // first seen compiling here
		Clock::time_point copySince{};
		double copySpeed = 0.0;
		bool won = false;
		bool ended = false; // the wrapper closed its connection
	};

	void accept();
	// Reads what @job said; false when its connection is over.
	bool read(Job &job);
	void locate(Clock::time_point now, const std::string &stateDir);
	// Notes the speed a job gets where each compile runs.
	void rate(const View &view);
	void measure(const Job &job, Clock::time_point now);
	// Starts the copies BackupPolicy picks; only while make waits for no
	// token (tick() says).
	void copy(Clock::time_point now, const View &view);

	std::string path_;
	host::UniqueFd listen_;
	std::vector<Job> jobs_;
	unsigned started_ = 0, won_ = 0;
	WorkHistory measured_;
	double localSpeed_ = 0.0; // this machine's, from the daemon's view
};

} // namespace dmdns::run
