// The build command as a child process: started with the jobserver fds, waited for, signalled.
#include "run/child.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/log.h"
#include "distcc-mdns/text.h"
#include "host/files.h"
#include "host/procfs.h"

namespace dmdns::run {

namespace {

// PATH from the child's environment, as the shell would search it; an empty
// entry means the current directory.
std::string searchPath(const std::string &name, const std::vector<std::string> &env)
{
	if (name.find('/') != std::string::npos)
		return name;
	std::string_view path = "/usr/local/bin:/usr/bin:/bin";
	for (const std::string &e : env)
		if (std::string_view(e).substr(0, 5) == "PATH=")
			path = std::string_view(e).substr(5);
	std::size_t start = 0;
	while (start <= path.size()) {
		std::size_t end = path.find(':', start);
		if (end == std::string_view::npos)
			end = path.size();
		std::string dir(path.substr(start, end - start));
		std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
		struct stat st;
		if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
			return candidate;
		start = end + 1;
	}
	errno = ENOENT;
	return {};
}

std::vector<char *> cArgs(const std::vector<std::string> &v)
{
	std::vector<char *> out;
	out.reserve(v.size() + 1);
	for (const std::string &s : v)
		out.push_back(const_cast<char *>(s.c_str()));
	out.push_back(nullptr);
	return out;
}

// Between fork and exec only async-signal-safe calls: the exec's errno goes
// back through a CLOEXEC pipe that closes silently on success.
[[noreturn]] void execChild(const char *file, char *const argv[], char *const envp[], const std::vector<int> &inheritFds, int report)
{
	for (int fd : inheritFds) {
		int flags = ::fcntl(fd, F_GETFD);
		if (flags < 0 || ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) < 0) {
			int e = errno;
			(void)!::write(report, &e, sizeof e);
			::_exit(127);
		}
	}
	// The runner ignores SIGINT/SIGQUIT and may catch others; the build
	// gets the defaults and an empty mask, as from a shell.
	struct sigaction dfl { };
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; ++sig)
		::sigaction(sig, &dfl, nullptr);
	sigset_t none;
	::sigemptyset(&none);
	::sigprocmask(SIG_SETMASK, &none, nullptr);
	::execve(file, argv, envp);
	int e = errno;
	(void)!::write(report, &e, sizeof e);
	::_exit(127);
}

} // namespace

Child::Child(const std::vector<std::string> &argv, const std::vector<std::string> &env, const std::vector<int> &inheritFds)
{
	if (argv.empty())
		throw std::invalid_argument("no command to run");
	// Everything the child needs is built before fork: it must not allocate.
	std::string file = searchPath(argv[0], env);
	if (file.empty())
		throw std::system_error(ENOENT, std::generic_category(), fmt::format("{}: command not found", argv[0]));
	std::vector<char *> args = cArgs(argv);
	std::vector<char *> envp = cArgs(env);

	int report[2];
	if (::pipe2(report, O_CLOEXEC) < 0)
		throw std::system_error(errno, std::generic_category(), "pipe2");
	pid_t pid = ::fork();
	if (pid < 0) {
		int e = errno;
		::close(report[0]);
		::close(report[1]);
		throw std::system_error(e, std::generic_category(), "fork");
	}
	if (pid == 0) {
		::close(report[0]);
		execChild(file.c_str(), args.data(), envp.data(), inheritFds, report[1]);
	}
	::close(report[1]);
	pid_ = pid;
	int e = 0;
	ssize_t n;
	do
		n = ::read(report[0], &e, sizeof e);
	while (n < 0 && errno == EINTR);
	::close(report[0]);
	if (n == static_cast<ssize_t>(sizeof e)) {
		int status;
		while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
		}
		pid_ = -1;
		throw std::system_error(e, std::generic_category(), fmt::format("cannot run {}", argv[0]));
	}
}

pid_t Child::pid() const
{
	return pid_;
}

std::optional<int> Child::poll()
{
	if (status_ || pid_ < 0)
		return status_;
	int status;
	pid_t r;
	do
		r = ::waitpid(pid_, &status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == pid_)
		status_ = status;
	return status_;
}

std::optional<int> Child::wait(std::chrono::milliseconds timeout)
{
	if (auto s = poll())
		return s;
	auto deadline = std::chrono::steady_clock::now() + timeout;
	// A pidfd turns readable when the child exits: no polling loop. Before
	// Linux 5.3 there is none, and short naps stand in.
	int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
	auto step = std::chrono::milliseconds(1);
	for (;;) {
		auto now = std::chrono::steady_clock::now();
		auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
		if (left.count() > 0) {
			if (pidfd >= 0) {
				struct pollfd p = { pidfd, POLLIN, 0 };
				// A caught signal ends the wait early, so the caller's
				// handler flag (SIGTERM to forward) is seen at once.
				if (::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), INT32_MAX))) < 0 && errno == EINTR) {
					::close(pidfd);
					return poll();
				}
			} else {
				std::this_thread::sleep_for(std::min(step, left));
				step = std::min(step * 2, std::chrono::milliseconds(20));
			}
		}
		auto s = poll();
		if (s || std::chrono::steady_clock::now() >= deadline) {
			if (pidfd >= 0)
				::close(pidfd);
			return s;
		}
	}
}

void Child::signal(int sig)
{
	// Once reaped the pid may belong to someone else.
	if (pid_ > 0 && !status_)
		::kill(pid_, sig);
}

bool becomeSubreaper()
{
	return ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
}

void reapOrphans(pid_t keep)
{
	for (;;) {
		// Look first (WNOWAIT): the build's own end is Child::poll's.
		siginfo_t info{};
		if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 || info.si_pid == 0 ||
		    info.si_pid == keep)
			return;
		int status;
		::waitpid(info.si_pid, &status, WNOHANG);
	}
}

std::vector<pid_t> children()
{
	std::vector<pid_t> out;
	const auto self = static_cast<std::uint64_t>(::getpid());
	std::error_code ec;
	for (const auto &entry : std::filesystem::directory_iterator("/proc", ec)) {
		const auto pid = text::parseUint(entry.path().filename().string(), 1, INT32_MAX);
		if (!pid)
			continue;
		const auto stat = host::readBounded(entry.path() / "stat", 4096);
		if (!stat)
			continue; // gone meanwhile
		const auto head = procfs::parseStatHead(stat->text);
		if (head && head->parent == self && head->state != 'Z')
			out.push_back(static_cast<pid_t>(*pid));
	}
	return out;
}

int exitCodeOf(int waitStatus)
{
	if (WIFEXITED(waitStatus))
		return WEXITSTATUS(waitStatus);
	if (WIFSIGNALED(waitStatus))
		return 128 + WTERMSIG(waitStatus);
	return 1;
}

void endOrphans(int sigfd, int sig)
{
	constexpr auto kOrphanGrace = std::chrono::seconds(2);
	const std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::now() + kOrphanGrace;
	std::vector<pid_t> signalled;
	unsigned ended = 0;
	for (;;) {
		reapOrphans(-1);
		const std::vector<pid_t> left = children();
		const std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now();
		if (left.empty())
			break;
		if (now >= deadline + std::chrono::seconds(1)) {
			log(LogLevel::Warning, "{} process{} of the build outlived SIGKILL", left.size(),
			    left.size() == 1 ? "" : "es");
			break;
		}
		for (pid_t pid : left) {
			if (now >= deadline) {
				::kill(pid, SIGKILL);
			} else if (std::find(signalled.begin(), signalled.end(), pid) == signalled.end()) {
				::kill(pid, sig);
				signalled.push_back(pid);
				++ended;
			}
		}
		// Woken by SIGCHLD (the signalfd), else every 100 ms to look again.
		pollfd p = { sigfd, POLLIN, 0 };
		if (::poll(&p, 1, 100) > 0) {
			signalfd_siginfo info{};
			while (::read(sigfd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
			}
		}
	}
	if (ended)
		log(LogLevel::Info, "ended {} process{} the build left behind", ended, ended == 1 ? "" : "es");
}

void exitAs(int waitStatus)
{
	if (WIFSIGNALED(waitStatus)) {
		const int sig = WTERMSIG(waitStatus);
		std::signal(sig, SIG_DFL);
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, nullptr);
		::raise(sig);
	}
	std::exit(exitCodeOf(waitStatus));
}

} // namespace dmdns::run
