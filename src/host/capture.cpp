// Runs a short-lived helper program and captures its output, without a shell.
#include "host/capture.h"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host/files.h"

extern char **environ;

namespace dmdns::host {

namespace {

using Clock = std::chrono::steady_clock;

// posix_spawn attributes and file actions, destroyed on every way out.
class SpawnSetup final
{
public:
	SpawnSetup(int stdoutFd)
	{
		ok_ = posix_spawn_file_actions_init(&actions_) == 0;
		if (!ok_)
			return;
		actionsInit_ = true;
		ok_ = posix_spawnattr_init(&attr_) == 0;
		if (!ok_)
			return;
		attrInit_ = true;

		// The daemon may block or ignore signals (libuv does); an ignored
		// SIGCHLD would even break the compiler driver's own waits.
		sigset_t none;
		sigemptyset(&none);
		sigset_t defaults;
		sigemptyset(&defaults);
		for (int sig = 1; sig < 32; ++sig)
			if (sig != SIGKILL && sig != SIGSTOP)
				sigaddset(&defaults, sig);
		// Its own process group, so that a timeout kills what it started too.
		ok_ = posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
							       POSIX_SPAWN_SETSIGDEF) == 0 &&
		      posix_spawnattr_setpgroup(&attr_, 0) == 0 &&
		      posix_spawnattr_setsigmask(&attr_, &none) == 0 &&
		      posix_spawnattr_setsigdefault(&attr_, &defaults) == 0 &&
		      posix_spawn_file_actions_adddup2(&actions_, stdoutFd, 1) == 0 &&
		      posix_spawn_file_actions_addopen(&actions_, 0, "/dev/null", O_RDONLY, 0) == 0 &&
		      posix_spawn_file_actions_addopen(&actions_, 2, "/dev/null", O_WRONLY, 0) == 0;
	}
	~SpawnSetup()
	{
		if (attrInit_)
			posix_spawnattr_destroy(&attr_);
		if (actionsInit_)
			posix_spawn_file_actions_destroy(&actions_);
	}
	SpawnSetup(const SpawnSetup &) = delete;
	SpawnSetup &operator=(const SpawnSetup &) = delete;

	bool ok() const noexcept { return ok_; }
	const posix_spawn_file_actions_t *actions() const noexcept { return &actions_; }
	const posix_spawnattr_t *attr() const noexcept { return &attr_; }

private:
	posix_spawn_file_actions_t actions_{};
	posix_spawnattr_t attr_{};
	bool actionsInit_ = false;
	bool attrInit_ = false;
	bool ok_ = false;
};

int millisUntil(Clock::time_point deadline) noexcept
{
	const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
	return left.count() <= 0 ? 0 : static_cast<int>(std::min<long long>(left.count(), 60000));
}

void napMillis(long millis) noexcept
{
	timespec ts{ 0, millis * 1000000L };
	nanosleep(&ts, nullptr);
}

// Reads stdout until EOF, the deadline or more than @max bytes.
bool readAll(int fd, Clock::time_point deadline, std::size_t max, std::string &out)
{
	for (;;) {
		const int wait = millisUntil(deadline);
		if (wait == 0)
			return false;
		pollfd p{ fd, POLLIN, 0 };
		const int rc = ::poll(&p, 1, wait);
		if (rc < 0 && errno != EINTR)
			return false;
		if (rc <= 0)
			continue;
		char buffer[512];
		const ssize_t n = ::read(fd, buffer, sizeof buffer);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return false;
		}
		if (n == 0)
			return true;
		out.append(buffer, static_cast<std::size_t>(n));
		if (out.size() > max)
			return false;
	}
}

// Waits, without reaping, until @pid exits or the deadline passes. Not
// reaping keeps the pid, and so the process group id, from being reused
// while we may still signal the group.
bool waitExit(pid_t pid, Clock::time_point deadline)
{
	for (;;) {
		siginfo_t info{};
		const int rc = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
		if (rc == 0 && info.si_pid == pid)
			return true;
		if (rc < 0 && errno != EINTR)
			return false;
		if (millisUntil(deadline) == 0)
			return false;
		napMillis(2);
	}
}

} // namespace

std::optional<std::string> runCapture(const std::string &path, const std::vector<std::string> &argv,
				      const CaptureLimits &limits)
{
	if (argv.empty())
		return std::nullopt;
	int fds[2];
	if (::pipe2(fds, O_CLOEXEC) < 0)
		return std::nullopt;
	UniqueFd readEnd(fds[0]);
	UniqueFd writeEnd(fds[1]);
	// With stdin or stdout closed the pipe could land on 0-2 and be
	// clobbered by the child's own redirections.
	if (writeEnd.get() <= 2) {
		writeEnd.reset(::fcntl(writeEnd.get(), F_DUPFD_CLOEXEC, 3));
		if (writeEnd.get() < 0)
			return std::nullopt;
	}

	std::vector<char *> args;
	for (const std::string &a : argv)
		args.push_back(const_cast<char *>(a.c_str()));
	args.push_back(nullptr);

	SpawnSetup setup(writeEnd.get());
	if (!setup.ok())
		return std::nullopt;
	pid_t pid = -1;
	if (::posix_spawn(&pid, path.c_str(), setup.actions(), setup.attr(), args.data(), environ) != 0)
		return std::nullopt;
	writeEnd.reset();

	const Clock::time_point deadline = Clock::now() + limits.timeout;
	std::string out;
	bool ok = readAll(readEnd.get(), deadline, limits.maxOutput, out);
	readEnd.reset();
	ok = waitExit(pid, deadline) && ok;

	// Whatever the outcome, nothing it started outlives it.
	::kill(-pid, SIGKILL);
	::kill(pid, SIGKILL);
	int status = 0;
	while (::waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return std::nullopt;
	}
	if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return std::nullopt;
	return out;
}

} // namespace dmdns::host
