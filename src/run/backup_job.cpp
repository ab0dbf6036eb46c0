// One compile under distcc-mdns-run: the job wrapper that may race a backup copy of it on a faster server.
#include "run/backup_job.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include "distcc-mdns/work_history.h"
#include "host/files.h"
#include "run/child.h"

extern char **environ;

namespace dmdns::run {

namespace {

// Options after which the compile writes or reads more than its -o file.
bool blocksCopy(std::string_view arg)
{
	static constexpr std::array<std::string_view, 16> kPrefixes = {
		"-M",
		"-Wp,-M",
		"-save-temps",
		"-gsplit-dwarf",
		"-fdump-",
		"-fstack-usage",
		"-fcallgraph-info",
		"-ftest-coverage",
		"--coverage",
		"-fprofile-",
		"-aux-info",
		"-E",
		"-S",
		"-fsyntax-only",
		"-specs",
		"-frecord-gcc-switches",
	};
	// A response file, or the source on standard input (which a copy
	// would read too).
	if (arg.starts_with("@") || arg == "-")
		return true;
	for (std::string_view p : kPrefixes)
		if (arg.starts_with(p))
			return true;
	return false;
}

std::string baseName(const std::string &path)
{
	const auto slash = path.rfind('/');
	return slash == std::string::npos ? path : path.substr(slash + 1);
}

} // namespace

std::optional<BackupCommand> backupCommand(std::span<const std::string> job, std::string_view tag)
{
	if (job.size() < 4 || baseName(job[0]) != "distcc" || tag.empty() ||
	    tag.find_first_of("/\0", 0, 2) != std::string_view::npos)
		return std::nullopt;
	unsigned compiles = 0;
	std::optional<std::size_t> outputAt;
	bool joined = false; // -oFILE in one word
	for (std::size_t i = 2; i < job.size(); ++i) {
		const std::string &a = job[i];
		if (a == "-c") {
			++compiles;
		} else if (a == "-o") {
			if (outputAt || i + 1 >= job.size())
				return std::nullopt;
			outputAt = ++i;
			joined = false;
		} else if (a.starts_with("-o")) {
			if (outputAt)
				return std::nullopt;
			outputAt = i;
			joined = true;
		} else if (blocksCopy(a)) {
			return std::nullopt;
		}
	}
	if (compiles != 1 || !outputAt)
		return std::nullopt;
	BackupCommand c;
	c.output = joined ? job[*outputAt].substr(2) : job[*outputAt];
	if (c.output.empty() || c.output == "-" || c.output.back() == '/')
		return std::nullopt;
	const auto slash = c.output.rfind('/');
	const std::string dir = slash == std::string::npos ? std::string() : c.output.substr(0, slash + 1);
	// Beside the output (one rename replaces it), hidden, and with the
	// output's suffix, which some compilers look at.
	const std::string base = baseName(c.output);
	const auto dot = base.rfind('.');
	const std::string suffix = dot == std::string::npos || dot == 0 ? std::string() : base.substr(dot);
	c.temp = fmt::format("{}.{}.{}{}", dir, base, tag, suffix);
	c.argv.assign(job.begin(), job.end());
	c.argv[*outputAt] = joined ? "-o" + c.temp : c.temp;
	return c;
}

std::optional<std::string> parseBackupLine(std::string_view line)
{
	constexpr std::string_view kWord = "backup ";
	if (!line.starts_with(kWord))
		return std::nullopt;
	const std::string_view entry = line.substr(kWord.size());
	if (entry.empty() || entry.size() > 255 || entry.front() == '-' || entry.front() == '+')
		return std::nullopt;
	for (char ch : entry) {
		const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
				std::string_view("._-:/,[]=").find(ch) != std::string_view::npos;
		if (!ok)
			return std::nullopt;
	}
	if (entry == "localhost" || entry.starts_with("localhost/"))
		return std::nullopt;
	return std::string(entry);
}

namespace {

[[noreturn]] void execDirect(const std::vector<std::string> &job)
{
	std::vector<char *> argv;
	for (const std::string &a : job)
		argv.push_back(const_cast<char *>(a.c_str()));
	argv.push_back(nullptr);
	::execvp(argv[0], argv.data());
	const int err = errno;
	fmt::print(stderr, "distcc-mdns-run: cannot run {}: {}\n", job[0], std::strerror(err));
	std::_Exit(err == ENOENT ? 127 : 126);
}

std::vector<std::string> currentEnvironment()
{
	std::vector<std::string> env;
	for (char **e = environ; *e; ++e)
		env.emplace_back(*e);
	return env;
}

// The copy's environment: only @entry, no local fallback (a copy that cannot
// go there simply fails), and locks of its own so that it never waits for
// the slot the build's own jobs hold there.
std::vector<std::string> copyEnvironment(const std::string &entry)
{
	std::vector<std::string> env;
	std::string dir;
	for (char **e = environ; *e; ++e) {
		const std::string_view v(*e);
		if (v.starts_with("DISTCC_DIR="))
			dir = std::string(v.substr(11));
		if (v.starts_with("DISTCC_HOSTS=") || v.starts_with("DISTCC_DIR=") || v.starts_with("DISTCC_FALLBACK=") ||
		    v.starts_with("DISTCC_SKIP_LOCAL_RETRY=") || v.starts_with("MAKEFLAGS="))
			continue;
		env.emplace_back(v);
	}
	env.push_back("DISTCC_HOSTS=" + entry);
	env.push_back("DISTCC_FALLBACK=0");
	env.push_back("DISTCC_SKIP_LOCAL_RETRY=1");
	if (!dir.empty()) {
		const std::string own = dir + "/backup";
		::mkdir(own.c_str(), 0700);
		env.push_back("DISTCC_DIR=" + own);
	}
	return env;
}

// The key of the output @path: its absolute path's WorkHistory::key().
std::uint64_t outputKey(const std::string &path)
{
	if (path.starts_with("/"))
		return WorkHistory::key(path);
	char cwd[4096];
	return WorkHistory::key(::getcwd(cwd, sizeof cwd) ? fmt::format("{}/{}", cwd, path) : path);
}

// Where the compile of @key goes when the runner remembers it as long
// (Placement::forWork()): the line of the entries where it ends soon; nullopt
// for the whole line (unknown, short, or no file the runner wrote).
std::optional<std::string> placedHosts(std::uint64_t key)
{
	const char *dir = std::getenv("DISTCC_DIR");
	if (!dir || !*dir)
		return std::nullopt;
	// Mapped and bisected: a compile reads a few of its lines, not all.
	// The runner replaces the file by rename, never in place.
	const auto works = host::MappedFile::open(fmt::format("{}/{}", dir, kWorksFile), WorkHistory::kMaxBytes);
	const std::optional<double> work = works ? WorkHistory::lookup(works->text(), key) : std::nullopt;
	if (!work)
		return std::nullopt;
	const auto text = host::readBounded(fmt::format("{}/{}", dir, kPlacementFile), 64 * 1024);
	const std::optional<Placement> placement = text && !text->truncated ? Placement::parse(text->text) : std::nullopt;
	const std::optional<HostsLine> line = placement ? placement->forWork(*work) : std::nullopt;
	if (!line)
		return std::nullopt;
	try {
		return writeHostsLine(*line);
	} catch (const std::invalid_argument &) {
		return std::nullopt;
	}
}

int connectRunner(const char *path)
{
	sockaddr_un sa{};
	sa.sun_family = AF_UNIX;
	if (std::strlen(path) >= sizeof sa.sun_path)
		return -1;
	std::strcpy(sa.sun_path, path);
	host::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (fd.get() < 0 || ::connect(fd.get(), reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0)
		return -1;
	// Only this user's runner names servers to send the source to: a stale
	// variable may name a path that another user has taken since.
	ucred peer{};
	socklen_t len = sizeof peer;
	if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 || peer.uid != ::geteuid())
		return -1;
	return fd.release();
}

bool sendLine(int fd, const std::string &line)
{
	return ::send(fd, line.data(), line.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(line.size());
}

// Ends @child (SIGTERM, SIGKILL after 5 s) and reaps it.
void endChild(Child &child)
{
	if (child.poll())
		return;
	child.signal(SIGTERM);
	if (!child.wait(std::chrono::seconds(5))) {
		child.signal(SIGKILL);
		child.wait(std::chrono::seconds(5));
	}
}

// Whether @path may be replaced by a copy's file: missing, or a regular
// file (not /dev/null, not a symlink to write through).
bool replaceable(const std::string &path)
{
	struct stat st;
	if (::lstat(path.c_str(), &st) != 0)
		return errno == ENOENT;
	return S_ISREG(st.st_mode);
}

// The copy's output, made here before distcc opens it: created new
// (O_EXCL, no symlink followed) and this user's, so that nobody else's file
// in a shared directory becomes the object.
bool makeTemp(const std::string &path)
{
	host::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
	return fd.get() >= 0;
}

bool ownRegularFile(const std::string &path)
{
	struct stat st;
	return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid();
}

// What the copy writes to stderr, kept apart and shown only if it wins: a
// copy that fails must not add its errors to the build's log. An unnamed
// file in the build's private DISTCC_DIR; -1 when there is none.
int copyErrors()
{
	const char *dir = std::getenv("DISTCC_DIR");
	return dir && *dir ? ::open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600) : -1;
}

void replay(int fd)
{
	if (fd < 0 || ::lseek(fd, 0, SEEK_SET) != 0)
		return;
	char buf[4096];
	ssize_t n;
	while ((n = ::read(fd, buf, sizeof buf)) > 0)
		if (::write(STDERR_FILENO, buf, static_cast<std::size_t>(n)) != n)
			return;
}

// Starts @argv with @env in @child, its stderr (and stdout) in @errors when
// that is open; @child stays empty when it cannot be started.
void startCopy(std::optional<Child> &child, const std::vector<std::string> &argv, const std::vector<std::string> &env,
	       int errors)
{
	host::UniqueFd savedOut, savedErr;
	if (errors >= 0) {
		savedOut.reset(::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3));
		savedErr.reset(::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3));
		if (savedOut.get() < 0 || savedErr.get() < 0)
			return;
		::dup2(errors, STDOUT_FILENO);
		::dup2(errors, STDERR_FILENO);
	}
	try {
		child.emplace(argv, env, std::vector<int>{});
	} catch (const std::exception &) {
		child.reset();
	}
	if (errors >= 0) {
		::dup2(savedOut.get(), STDOUT_FILENO);
		::dup2(savedErr.get(), STDERR_FILENO);
	}
}

} // namespace

int runJob(const std::vector<std::string> &job)
{
	if (job.empty()) {
		fmt::print(stderr, "distcc-mdns-run: --job needs a command\n");
		return 2;
	}
	const char *socketPath = std::getenv(kJobSocketEnv);
	const std::optional<BackupCommand> copy =
		socketPath && *socketPath ? backupCommand(job, fmt::format("dmrun{}", ::getpid())) : std::nullopt;
	if (!copy || !replaceable(copy->output))
		execDirect(job);

	sigset_t signals;
	sigemptyset(&signals);
	for (int sig : { SIGCHLD, SIGTERM, SIGHUP, SIGINT, SIGQUIT })
		sigaddset(&signals, sig);
	sigprocmask(SIG_BLOCK, &signals, nullptr);
	host::UniqueFd sigfd(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
	if (sigfd.get() < 0 || !becomeSubreaper()) {
		sigprocmask(SIG_UNBLOCK, &signals, nullptr);
		execDirect(job);
	}

	std::vector<std::string> env = currentEnvironment();
	// A compile the runner remembers as long goes only where it ends soon.
	const std::uint64_t key = outputKey(copy->output);
	if (const std::optional<std::string> hosts = placedHosts(key)) {
		std::erase_if(env, [](const std::string &v) { return v.starts_with("DISTCC_HOSTS="); });
		env.push_back("DISTCC_HOSTS=" + *hosts);
	}
	std::optional<Child> original;
	try {
		original.emplace(job, env, std::vector<int>{});
	} catch (const std::system_error &e) {
		fmt::print(stderr, "distcc-mdns-run: cannot run {}: {}\n", job[0], e.code().message());
		return e.code().value() == ENOENT ? 127 : 126;
	}
	host::UniqueFd runner(connectRunner(socketPath));
	if (runner.get() >= 0 && !sendLine(runner.get(), fmt::format("job {} {:016x}\n", original->pid(), key)))
		runner.reset();

	std::optional<Child> backup;
	host::UniqueFd errors;
	bool copied = false;	  // a copy was started: leftovers to end
	bool terminating = false; // a signal came: no new copy
	std::string input;
	const auto dropCopy = [&]() {
		::unlink(copy->temp.c_str());
		backup.reset();
		errors.reset();
	};
	for (;;) {
		if (const std::optional<int> status = original->poll()) {
			if (backup)
				endChild(*backup);
			if (copied)
				endOrphans(sigfd.get(), SIGTERM);
			::unlink(copy->temp.c_str());
			exitAs(*status);
		}
		if (backup) {
			if (const std::optional<int> status = backup->poll()) {
				const bool won = WIFEXITED(*status) && WEXITSTATUS(*status) == 0 &&
						 ownRegularFile(copy->temp) && replaceable(copy->output);
				if (won) {
					// The copy won: the original and all it started go
					// first, so that nothing it would still write
					// follows the rename.
					endChild(*original);
					endOrphans(sigfd.get(), SIGTERM);
					if (::rename(copy->temp.c_str(), copy->output.c_str()) != 0) {
						fmt::print(stderr, "distcc-mdns-run: cannot rename {} to {}: {}\n",
							   copy->temp, copy->output, std::strerror(errno));
						::unlink(copy->temp.c_str());
						return 1;
					}
					replay(errors.get());
					if (runner.get() >= 0)
						sendLine(runner.get(), "won\n");
					return 0;
				}
				// A copy that fails changes nothing: the original goes on.
				dropCopy();
				if (runner.get() >= 0)
					sendLine(runner.get(), "failed\n");
			}
		}
		std::array<pollfd, 2> fds = { pollfd{ sigfd.get(), POLLIN, 0 }, pollfd{ runner.get(), POLLIN, 0 } };
		if (::poll(fds.data(), runner.get() >= 0 ? 2 : 1, 1000) < 0 && errno != EINTR)
			break;
		if (fds[0].revents & POLLIN) {
			signalfd_siginfo info{};
			while (::read(sigfd.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
				const int sig = static_cast<int>(info.ssi_signo);
				if (sig == SIGCHLD)
					continue;
				terminating = true;
				// Ctrl-C and Ctrl-\ reach the whole process group from the
				// terminal; a SIGTERM or SIGHUP for this process alone is
				// passed on.
				if (sig == SIGTERM || sig == SIGHUP)
					original->signal(sig);
				if (backup)
					backup->signal(sig);
			}
		}
		if (runner.get() >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			char buf[kMaxJobLine];
			const ssize_t n = ::recv(runner.get(), buf, sizeof buf, MSG_DONTWAIT);
			if (n <= 0) {
				if (n == 0 || (errno != EAGAIN && errno != EINTR))
					runner.reset();
				continue;
			}
			input.append(buf, static_cast<std::size_t>(n));
			std::size_t eol;
			while ((eol = input.find('\n')) != std::string::npos) {
				const std::string line = input.substr(0, eol);
				input.erase(0, eol + 1);
				const std::optional<std::string> entry = parseBackupLine(line);
				if (!entry || backup || terminating || !makeTemp(copy->temp))
					continue;
				errors.reset(copyErrors());
				startCopy(backup, copy->argv, copyEnvironment(*entry), errors.get());
				if (backup)
					copied = true;
				else
					dropCopy();
			}
			if (input.size() > kMaxJobLine)
				runner.reset();
		}
	}
	// poll failed: leave the copy, wait for the original.
	if (backup)
		endChild(*backup);
	::unlink(copy->temp.c_str());
	for (;;)
		if (const std::optional<int> status = original->wait(std::chrono::seconds(1)))
			exitAs(*status);
}

} // namespace dmdns::run
