// What kind of build command the runner starts, whether it speaks the jobserver, and its fixed -j fallback.
#include "run/command.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <string_view>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"

extern char **environ;

namespace dmdns::run {

namespace {

// A version probe prints a line or two; more is not a build tool.
constexpr std::size_t kMaxProbeOutput = 4096;
// A build tool answers --version at once; one that hangs is not waited for.
constexpr auto kProbeTimeout = std::chrono::seconds(5);

std::string_view baseName(std::string_view path)
{
	auto slash = path.rfind('/');
	return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::optional<unsigned> number(std::string_view s)
{
	unsigned v = 0;
	auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
	if (ec != std::errc() || end != s.data() + s.size() || s.empty())
		return std::nullopt;
	return v;
}

bool startsWith(std::string_view s, std::string_view prefix)
{
	return s.substr(0, prefix.size()) == prefix;
}

// Runs @argv (PATH searched) with stdin and stderr on /dev/null and the
// environment minus MAKEFLAGS/MFLAGS (an outer build's pool is not the
// probe's business); returns its stdout, or nothing if it could not run or
// did not finish in time.
std::optional<std::string> probeOutput(const std::vector<std::string> &argv)
{
	int out[2];
	if (::pipe2(out, O_CLOEXEC) < 0)
		return std::nullopt;
	posix_spawn_file_actions_t actions;
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&actions, out[1], 1);
	posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

	std::vector<char *> args;
	for (const std::string &a : argv)
		args.push_back(const_cast<char *>(a.c_str()));
	args.push_back(nullptr);
	std::vector<char *> env;
	for (char **e = environ; *e; ++e)
		if (!startsWith(*e, "MAKEFLAGS=") && !startsWith(*e, "MFLAGS="))
			env.push_back(*e);
	env.push_back(nullptr);

	pid_t pid;
	int rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), env.data());
	posix_spawn_file_actions_destroy(&actions);
	posix_spawnattr_destroy(&attr);
	::close(out[1]);
	if (rc != 0) {
		::close(out[0]);
		return std::nullopt;
	}

	std::string text;
	bool done = false;
	auto deadline = std::chrono::steady_clock::now() + kProbeTimeout;
	while (!done) {
		auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
		if (left.count() <= 0)
			break;
		struct pollfd p = { out[0], POLLIN, 0 };
		int r = ::poll(&p, 1, static_cast<int>(left.count()));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		std::array<char, 1024> buf;
		ssize_t n = ::read(out[0], buf.data(), buf.size());
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			done = true;
			break;
		}
		if (text.size() < kMaxProbeOutput)
			text.append(buf.data(), std::min<std::size_t>(static_cast<std::size_t>(n), kMaxProbeOutput - text.size()));
	}
	::close(out[0]);
	if (!done)
		::kill(pid, SIGKILL);
	int status;
	while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
	}
	if (!done)
		return std::nullopt;
	return text;
}

// "1.11.1" or "4.3" at the start of @s: major and minor.
std::optional<std::pair<unsigned, unsigned>> majorMinor(std::string_view s)
{
	auto dot = s.find('.');
	if (dot == std::string_view::npos)
		return std::nullopt;
	auto major = number(s.substr(0, dot));
	std::string_view rest = s.substr(dot + 1);
	auto end = std::find_if(rest.begin(), rest.end(), [](char c) { return c < '0' || c > '9'; });
	auto minor = number(rest.substr(0, static_cast<std::size_t>(end - rest.begin())));
	if (!major || !minor)
		return std::nullopt;
	return std::pair(*major, *minor);
}

bool atLeast(std::pair<unsigned, unsigned> v, unsigned major, unsigned minor)
{
	return v.first > major || (v.first == major && v.second >= minor);
}

struct MakeFacts {
	bool gnu = false;
	bool fifo = false;
};

// GNU make >= 4.4 serves and reads the fifo form; .FEATURES says so with
// jobserver-fifo, which also covers a patched or renamed make.
MakeFacts probeMake(const std::string &make)
{
	MakeFacts facts;
	auto version = probeOutput({ make, "--version" });
	if (!version)
		return facts;
	auto at = version->find("GNU Make ");
	if (at == std::string::npos)
		return facts;
	facts.gnu = true;
	if (auto v = majorMinor(std::string_view(*version).substr(at + 9)))
		facts.fifo = atLeast(*v, 4, 4);
	if (!facts.fifo) {
		auto features = probeOutput({ make, "-s", "-f", "/dev/null", "--no-print-directory", "--eval=$(info $(.FEATURES))" });
		facts.fifo = features && features->find("jobserver-fifo") != std::string::npos;
	}
	return facts;
}

// ninja 1.13 is the first release that reads the jobserver, fifo form only.
bool ninjaSpeaks(const std::string &ninja)
{
	auto version = probeOutput({ ninja, "--version" });
	if (!version)
		return false;
	auto v = majorMinor(*version);
	return v && atLeast(*v, 1, 13);
}

// The value of an option given as "-jN", "-j N", "--jobs=N" or "--jobs N"
// at args[i]; @shortOpt "-j", @longOpt "--jobs". A bare -j or --jobs with
// no count gives 0 (unlimited for make). @optionalCount: the count may be
// missing (make, cmake); otherwise the next word is taken as the count.
struct JobsWord {
	bool matched = false;
	unsigned jobs = 0;
	std::size_t used = 1;
};

JobsWord jobsAt(const std::vector<std::string> &args, std::size_t i, std::string_view shortOpt, std::string_view longOpt)
{
	JobsWord w;
	std::string_view a = args[i];
	std::optional<unsigned> next = i + 1 < args.size() ? number(args[i + 1]) : std::nullopt;
	if (a == shortOpt || (!longOpt.empty() && a == longOpt)) {
		w.matched = true;
		if (next) {
			w.jobs = *next;
			w.used = 2;
		}
		return w;
	}
	if (startsWith(a, shortOpt)) {
		if (auto n = number(a.substr(shortOpt.size()))) {
			w.matched = true;
			w.jobs = *n;
		}
		return w;
	}
	if (!longOpt.empty() && startsWith(a, longOpt) && a.size() > longOpt.size() && a[longOpt.size()] == '=') {
		if (auto n = number(a.substr(longOpt.size() + 1))) {
			w.matched = true;
			w.jobs = *n;
		}
	}
	return w;
}

// make's short options that take an argument: in a cluster ("-kj4") a -j
// after one of them is that option's argument, not a -j.
constexpr std::string_view kMakeArgOpts = "CfIoWlOEe";

std::optional<unsigned> makeJobs(const std::vector<std::string> &argv)
{
	std::optional<unsigned> jobs;
	for (std::size_t i = 1; i < argv.size(); ++i) {
		std::string_view a = argv[i];
		if (a.size() > 1 && a[0] == '-' && a[1] != '-') {
			// The last -j wins, as in make.
			std::string_view letters = a.substr(1);
			auto j = letters.find('j');
			if (j != std::string_view::npos && letters.substr(0, j).find_first_of(kMakeArgOpts) == std::string_view::npos) {
				std::string_view count = letters.substr(j + 1);
				if (count.empty()) {
					auto next = i + 1 < argv.size() ? number(argv[i + 1]) : std::nullopt;
					jobs = next.value_or(0);
					if (next)
						++i;
				} else if (auto n = number(count)) {
					jobs = *n;
				}
				continue;
			}
			// An option with its argument in the next word.
			if (a.size() == 2 && kMakeArgOpts.find(a[1]) != std::string_view::npos && a[1] != 'l' && a[1] != 'O')
				++i;
			continue;
		}
		JobsWord w = jobsAt(argv, i, "-j", "--jobs");
		if (w.matched) {
			jobs = w.jobs;
			i += w.used - 1;
		}
	}
	return jobs;
}

std::optional<unsigned> ninjaJobs(const std::vector<std::string> &argv)
{
	std::optional<unsigned> jobs;
	for (std::size_t i = 1; i < argv.size(); ++i) {
		std::string_view a = argv[i];
		if (a == "-C" || a == "-f" || a == "-d" || a == "-t" || a == "-w" || a == "-l" || a == "-k") {
			++i;
			continue;
		}
		JobsWord w = jobsAt(argv, i, "-j", "");
		if (w.matched) {
			jobs = w.jobs;
			i += w.used - 1;
		}
	}
	return jobs;
}

// cmake --build: -j [N], -jN, --parallel [N], --parallel=N before "--";
// after "--" the native tool's own -j; CMAKE_BUILD_PARALLEL_LEVEL in the
// environment counts as the user's choice too (cmake passes it as -j).
std::optional<unsigned> cmakeJobs(const std::vector<std::string> &argv, std::size_t nativeFrom)
{
	std::optional<unsigned> jobs;
	for (std::size_t i = 2; i < nativeFrom; ++i) {
		JobsWord w = jobsAt(argv, i, "-j", "--parallel");
		if (w.matched) {
			jobs = w.jobs;
			i += w.used - 1;
		}
	}
	if (nativeFrom < argv.size()) {
		std::vector<std::string> native = { "make" };
		native.insert(native.end(), argv.begin() + static_cast<std::ptrdiff_t>(nativeFrom) + 1, argv.end());
		if (auto n = makeJobs(native))
			jobs = n;
	}
	if (!jobs)
		if (const char *level = std::getenv("CMAKE_BUILD_PARALLEL_LEVEL"); level && *level)
			jobs = number(level).value_or(0);
	return jobs;
}

std::optional<unsigned> mesonJobs(const std::vector<std::string> &argv)
{
	std::optional<unsigned> jobs;
	for (std::size_t i = 2; i < argv.size(); ++i) {
		JobsWord w = jobsAt(argv, i, "-j", "--jobs");
		if (w.matched) {
			jobs = w.jobs;
			i += w.used - 1;
		}
	}
	return jobs;
}

std::size_t doubleDash(const std::vector<std::string> &argv)
{
	auto it = std::find(argv.begin(), argv.end(), "--");
	return static_cast<std::size_t>(it - argv.begin());
}

// What a configured CMake build directory's cache says: its generator and
// the build tool it runs (CMAKE_MAKE_PROGRAM, e.g. /usr/bin/gmake).
struct CMakeCache {
	std::string generator;
	std::string makeProgram;
};

CMakeCache readCMakeCache(const std::vector<std::string> &argv)
{
	CMakeCache cache;
	// cmake --build <dir>: the directory follows --build.
	if (argv.size() < 3 || startsWith(argv[2], "-"))
		return cache;
	std::ifstream in(argv[2] + "/CMakeCache.txt");
	std::string line;
	constexpr std::string_view generator = "CMAKE_GENERATOR:INTERNAL=";
	constexpr std::string_view program = "CMAKE_MAKE_PROGRAM:FILEPATH=";
	// A cache has a few hundred lines; the bound keeps a hostile one short.
	for (int n = 0; n < 100000 && std::getline(in, line); ++n) {
		if (startsWith(line, generator))
			cache.generator = line.substr(generator.size());
		else if (startsWith(line, program))
			cache.makeProgram = line.substr(program.size());
	}
	return cache;
}

} // namespace

CommandInfo inspectCommand(const std::vector<std::string> &argv)
{
	CommandInfo info;
	if (argv.empty())
		return info;
	std::string_view name = baseName(argv[0]);
	if (name == "make" || name == "gmake") {
		info.kind = CommandKind::Make;
		info.userJobs = makeJobs(argv);
		MakeFacts facts = probeMake(argv[0]);
		info.speaksJobserver = facts.gnu;
		info.style = facts.fifo ? Jobserver::Style::Fifo : Jobserver::Style::Both;
	} else if (name == "ninja" || name == "ninja-build") {
		info.kind = CommandKind::Ninja;
		info.userJobs = ninjaJobs(argv);
		info.speaksJobserver = ninjaSpeaks(argv[0]);
		info.style = Jobserver::Style::Fifo;
	} else if (name == "cmake" && argv.size() > 1 && argv[1] == "--build") {
		info.kind = CommandKind::CMakeBuild;
		info.userJobs = cmakeJobs(argv, doubleDash(argv));
		// cmake --build runs the generator's tool with the environment it
		// got, MAKEFLAGS included, and adds -j only when asked: a Makefile
		// build joins the pool, a Ninja build does when ninja does.
		CMakeCache cache = readCMakeCache(argv);
		if (cache.generator.find("Makefiles") != std::string::npos) {
			MakeFacts facts = probeMake(cache.makeProgram.empty() ? "make" : cache.makeProgram);
			info.speaksJobserver = facts.gnu;
			info.style = facts.fifo ? Jobserver::Style::Fifo : Jobserver::Style::Both;
		} else if (startsWith(cache.generator, "Ninja")) {
			info.speaksJobserver = ninjaSpeaks(cache.makeProgram.empty() ? "ninja" : cache.makeProgram);
			info.style = Jobserver::Style::Fifo;
		}
	} else if (name == "meson" && argv.size() > 1 && argv[1] == "compile") {
		info.kind = CommandKind::MesonCompile;
		info.userJobs = mesonJobs(argv);
		// meson compile runs ninja with the environment it got and no -j
		// unless asked.
		info.speaksJobserver = ninjaSpeaks("ninja");
		info.style = Jobserver::Style::Fifo;
	}
	return info;
}

std::vector<std::string> withFixedJobs(const std::vector<std::string> &argv, const CommandInfo &info, unsigned jobs)
{
	if (info.userJobs || info.speaksJobserver || argv.empty())
		return argv;
	std::vector<std::string> out = argv;
	std::string n = std::to_string(std::max(jobs, 1u));
	switch (info.kind) {
	case CommandKind::Make:
	case CommandKind::Ninja:
		out.insert(out.begin() + 1, { "-j", n });
		break;
	case CommandKind::CMakeBuild: {
		// Options of cmake --build go anywhere after the directory and
		// before the native tool's "--".
		auto at = out.begin() + static_cast<std::ptrdiff_t>(doubleDash(out));
		out.insert(at, { "--parallel", n });
		break;
	}
	case CommandKind::MesonCompile:
		out.insert(out.begin() + 2, { "-j", n });
		break;
	case CommandKind::Other:
		break;
	}
	return out;
}

} // namespace dmdns::run
