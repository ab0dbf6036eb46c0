// Tests of the host probes against fake /proc trees, real sockets and fake compilers; no root needed.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <spawn.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "capture.h"
#include "files.h"
#include "probe.h"
#include "speed.h"

extern char **environ;

using namespace dmdns;
using namespace dmdns::host;
namespace fs = std::filesystem;

namespace {

// A temporary directory removed with everything in it.
class TempDir final
{
public:
	TempDir()
	{
		std::string pattern = (fs::temp_directory_path() / "dmdns-probe-XXXXXX").string();
		REQUIRE(::mkdtemp(pattern.data()));
		path_ = pattern;
	}
	~TempDir()
	{
		std::error_code ec;
		fs::remove_all(path_, ec);
	}
	TempDir(const TempDir &) = delete;
	TempDir &operator=(const TempDir &) = delete;

	const fs::path &path() const noexcept { return path_; }

private:
	fs::path path_;
};

void writeFile(const fs::path &path, std::string_view content, bool executable = false)
{
	fs::create_directories(path.parent_path());
	std::ofstream(path, std::ios::binary) << content;
	if (executable)
		fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
}

// Sets an environment variable for one scope.
class ScopedEnv final
{
public:
	ScopedEnv(const char *name, const std::string &value) : name_(name)
	{
		if (const char *old = std::getenv(name))
			old_ = old;
		::setenv(name, value.c_str(), 1);
	}
	~ScopedEnv()
	{
		if (old_)
			::setenv(name_, old_->c_str(), 1);
		else
			::unsetenv(name_);
	}
	ScopedEnv(const ScopedEnv &) = delete;
	ScopedEnv &operator=(const ScopedEnv &) = delete;

private:
	const char *name_;
	std::optional<std::string> old_;
};

// A shell script that prints @machine for -dumpmachine and @version for -dumpversion.
std::string fakeCompiler(std::string_view machine, std::string_view version)
{
	return "#!/bin/sh\ncase \"$1\" in\n-dumpmachine) echo " + std::string(machine) +
	       ";;\n-dumpversion) echo " + std::string(version) + ";;\n*) exit 1;;\nesac\n";
}

// A TCP listener on 127.0.0.1 with an ephemeral port.
class Listener final
{
public:
	Listener()
	{
		fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
		REQUIRE(fd_.get() >= 0);
		sockaddr_in addr{};
		addr.sin_family = AF_INET;
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		REQUIRE(::bind(fd_.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0);
		REQUIRE(::listen(fd_.get(), 16) == 0);
		socklen_t len = sizeof addr;
		REQUIRE(::getsockname(fd_.get(), reinterpret_cast<sockaddr *>(&addr), &len) == 0);
		port_ = ntohs(addr.sin_port);
	}

	std::uint16_t port() const noexcept { return port_; }

	// A client connection, left in the backlog: a queued distcc job.
	UniqueFd connect() const
	{
		UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
		sockaddr_in addr{};
		addr.sin_family = AF_INET;
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		addr.sin_port = htons(port_);
		REQUIRE(::connect(c.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0);
		return c;
	}

private:
	UniqueFd fd_;
	std::uint16_t port_ = 0;
};

constexpr std::string_view kTcp =
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 00000000:0E30 00000000:0000 0A 00000000:00000000 00:00000000 00000000   102        0 37393 1 0 100 0 0 10 0\n"
	"   1: 0A000002:0E30 0A000001:A001 01 00000000:00000000 00:00000000 00000000   102        0 37400 1 0 20 0 0 10 -1\n"
	"   2: 0A000002:0E30 0A000001:A002 01 00000000:00000000 00:00000000 00000000   102        0 0 1 0 20 0 0 10 -1\n"
	"   3: 0A000002:A003 0A000001:0E30 01 00000000:00000000 00:00000000 00000000  1000        0 37401 1 0 20 0 0 10 -1\n"
	"   4: 0A000002:0E30 0A000001:A004 06 00000000:00000000 03:00000F0F 00000000     0        0 0 3 0\n";
constexpr std::string_view kTcp6 =
	"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 0000000000000000FFFF00000200000A:0E30 0000000000000000FFFF00000100000A:B001 01 00000000:00000000 00:00000000 00000000   102        0 0 1 0 20 0 0 10 -1\n";

// Starts @path with @args in a process group of its own, so that what it
// forks dies with it (kill(-pid)); returns its pid.
pid_t spawnGroup(const std::string &path, std::vector<std::string> args)
{
	std::vector<char *> argv;
	for (auto &a : args)
		argv.push_back(a.data());
	argv.push_back(nullptr);
	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);
	pid_t pid = -1;
	const int spawned = ::posix_spawn(&pid, path.c_str(), nullptr, &attr, argv.data(), environ);
	posix_spawnattr_destroy(&attr);
	REQUIRE(spawned == 0);
	return pid;
}

} // namespace

TEST_SUITE("host_probe")
{
	TEST_CASE("LoadProbe reads a fake /proc: jobs of both families, runnable without the reader")
	{
		TempDir proc;
		writeFile(proc.path() / "net/tcp", kTcp);
		writeFile(proc.path() / "net/tcp6", kTcp6);
		writeFile(proc.path() / "loadavg", "3.52 2.10 1.05 7/412 9876\n");

		const LoadReading r = LoadProbe(3632, proc.path().string()).read();
		CHECK(r.listening);
		CHECK(r.running == 3); // two IPv4, one v4-mapped; not the client side, not TIME_WAIT
		CHECK(r.runnable == doctest::Approx(6.0));
		CHECK(r.load1 == doctest::Approx(3.52));

		const LoadReading other = LoadProbe(3700, proc.path().string()).read();
		CHECK_FALSE(other.listening);
		CHECK(other.running == 0);
	}

	TEST_CASE("LoadProbe with missing or garbage files reads as idle, not as an error")
	{
		TempDir proc;
		LoadReading r = LoadProbe(3632, proc.path().string()).read();
		CHECK_FALSE(r.listening);
		CHECK(r.running == 0);
		CHECK(r.runnable == 0.0);
		writeFile(proc.path() / "net/tcp", std::string(100000, '\xff'));
		writeFile(proc.path() / "loadavg", "not a loadavg");
		r = LoadProbe(3632, proc.path().string()).read();
		CHECK_FALSE(r.listening);
		CHECK(r.running == 0);
		CHECK(r.load1 == 0.0);
	}

	TEST_CASE("LoadProbe on the real /proc counts queued connections to a real listener")
	{
		Listener listener;
		LoadProbe probe(listener.port());
		LoadReading r = probe.read();
		CHECK(r.listening);
		CHECK(r.running == 0);
		{
			UniqueFd a = listener.connect();
			UniqueFd b = listener.connect();
			r = probe.read();
			CHECK(r.listening);
			CHECK(r.running == 2);
		}
		CHECK(LoadProbe(0).read().running == 0);
	}

	TEST_CASE("readBounded stops at the bound and wholeLines drops the cut line")
	{
		TempDir dir;
		writeFile(dir.path() / "f", "line one\nline two\nline three\n");
		auto f = readBounded((dir.path() / "f").string(), 12);
		REQUIRE(f);
		CHECK(f->truncated);
		CHECK(f->text == "line one\nlin");
		CHECK(wholeLines(*f) == "line one\n");
		f = readBounded((dir.path() / "f").string(), 1000);
		REQUIRE(f);
		CHECK_FALSE(f->truncated);
		CHECK(wholeLines(*f) == "line one\nline two\nline three\n");
		// Exactly at the bound is not truncated.
		f = readBounded((dir.path() / "f").string(), 29);
		REQUIRE(f);
		CHECK_FALSE(f->truncated);
		CHECK_FALSE(readBounded((dir.path() / "missing").string(), 10));
		// A FIFO does not block.
		REQUIRE(::mkfifo((dir.path() / "fifo").c_str(), 0600) == 0);
		CHECK(readBounded((dir.path() / "fifo").string(), 10));
		// /proc files report size 0 but have content.
		f = readBounded("/proc/self/status", 1 << 16);
		REQUIRE(f);
		CHECK(f->text.find("Pid:") != std::string::npos);
	}

	TEST_CASE("distccdSlots in a fake /proc: port, default jobs, network namespace")
	{
		TempDir proc;
		using namespace std::string_view_literals;
		writeFile(proc.path() / "100/cmdline", "/usr/bin/distccd\0--daemon\0--jobs\0" "7\0"sv);
		writeFile(proc.path() / "101/cmdline", "distccd\0--port=3700\0--allow\0" "10.0.0.0/8\0"sv);
		writeFile(proc.path() / "102/cmdline", "distcc\0gcc\0-c\0x.c\0"sv);
		writeFile(proc.path() / "103/cmdline", "distccd\0--inetd\0-j\0" "2\0--port\0" "3800\0"sv);
		writeFile(proc.path() / "104/cmdline", ""sv); // a kernel thread
		writeFile(proc.path() / "self/cmdline", "distccd\0-j\0" "99\0"sv);
		writeFile(proc.path() / "notapid/cmdline", "distccd\0-j\0" "98\0"sv);
		// Listeners on 3632 (0E30), 3700 (0E74) and 3800 (0ED8).
		writeFile(proc.path() / "net/tcp",
			  "   0: 00000000:0E30 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n"
			  "   1: 00000000:0E74 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 2 1\n"
			  "   2: 00000000:0ED8 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 3 1\n");
		const std::string root = proc.path().string();

		CHECK(distccdSlots(3632, root) == 7u);
		CHECK(distccdSlots(3700, root) == onlineCpus() + 2);
		CHECK_FALSE(distccdSlots(3800, root)); // inetd: listens on nothing
		CHECK_FALSE(distccdSlots(3633, root));
		CHECK_FALSE(distccdSlots(3632, (proc.path() / "missing").string()));

		// Namespaces known: another namespace's distccd does not count,
		// even with the lower pid.
		fs::create_directories(proc.path() / "self/ns");
		fs::create_directories(proc.path() / "100/ns");
		fs::create_symlink("net:[4026531833]", proc.path() / "self/ns/net");
		fs::create_symlink("net:[4026532177]", proc.path() / "100/ns/net");
		CHECK_FALSE(distccdSlots(3632, root));
		writeFile(proc.path() / "200/cmdline", "distccd\0-j5\0"sv);
		CHECK(distccdSlots(3632, root) == 5u); // namespace unknown: taken
		writeFile(proc.path() / "300/cmdline", "distccd\0-j9\0"sv);
		fs::create_directories(proc.path() / "300/ns");
		fs::create_symlink("net:[4026531833]", proc.path() / "300/ns/net");
		CHECK(distccdSlots(3632, root) == 9u); // namespace known equal: preferred

		// Without a listener here, only a distccd known to be ours counts.
		fs::remove(proc.path() / "net/tcp");
		CHECK(distccdSlots(3632, root) == 9u);
		CHECK_FALSE(distccdSlots(3700, root));
	}

	TEST_CASE("distccdSlots finds a process in the real /proc by its command line")
	{
		// A shell whose argv[0] is "distccd"; the trailing ":" keeps it from
		// exec'ing sleep and so losing its command line. The listener makes
		// it count even where its namespace cannot be read.
		Listener listener;
		const std::string port = std::to_string(listener.port());
		const pid_t pid = spawnGroup("/bin/sh", { "distccd", "-c", "sleep 30; :", "--jobs", "5", "--port", port });
		std::optional<std::uint32_t> slots;
		for (int i = 0; i < 100 && !slots; ++i) {
			slots = distccdSlots(listener.port());
			if (!slots)
				::usleep(10000);
		}
		::kill(-pid, SIGKILL);
		::waitpid(pid, nullptr, 0);
		CHECK(slots == 5u);
		// The shell's child may have been caught between fork and exec, still
		// with the shell's command line; it goes once the kill lands.
		for (int i = 0; i < 100 && slots; ++i) {
			slots = distccdSlots(listener.port());
			if (slots)
				::usleep(10000);
		}
		CHECK_FALSE(slots);
	}

	TEST_CASE("distccClients counts the distcc processes here, not the ones they fork")
	{
		// A shell copied under the name distcc stands for the client; the
		// trailing ":" keeps each shell from exec'ing its last command.
		char dir[] = "/tmp/dmdns-clients-XXXXXX";
		REQUIRE(::mkdtemp(dir));
		const std::string distcc = std::string(dir) + "/distcc";
		std::filesystem::copy_file("/bin/sh", distcc);
		std::filesystem::permissions(distcc, std::filesystem::perms::owner_all);
		auto start = [&](const std::string &script) { return spawnGroup(distcc, { "distcc", "-c", script }); };
		auto settle = [](std::uint32_t want) {
			std::uint32_t n = host::distccClients();
			for (int i = 0; i < 200 && n != want; ++i) {
				::usleep(10000);
				n = host::distccClients();
			}
			return n;
		};
		const std::uint32_t before = host::distccClients();
		// One client that forks a distcc child (counted once), one alone.
		const pid_t a = start(distcc + " -c 'sleep 30; :'; :");
		const pid_t b = start("sleep 30; :");
		CHECK(settle(before + 2) == before + 2);
		for (pid_t pid : { a, b }) {
			::kill(-pid, SIGKILL);
			::waitpid(pid, nullptr, 0);
		}
		CHECK(settle(before) == before);
		CHECK(host::distccClients("/nonexistent") == 0);
		std::filesystem::remove_all(dir);
	}

	TEST_CASE("runCapture: stdout only, exit status, timeout and output bounds")
	{
		auto out = runCapture("/bin/sh", { "sh", "-c", "echo err >&2; echo out" });
		REQUIRE(out);
		CHECK(*out == "out\n");
		CHECK_FALSE(runCapture("/bin/sh", { "sh", "-c", "echo out; exit 3" }));
		CHECK_FALSE(runCapture("/nonexistent/binary", { "x" }));
		CHECK_FALSE(runCapture("/bin/sh", {}));
		// Stdin is /dev/null, not ours.
		out = runCapture("/bin/sh", { "sh", "-c", "cat; echo done" });
		REQUIRE(out);
		CHECK(*out == "done\n");

		const auto start = std::chrono::steady_clock::now();
		CaptureLimits quick;
		quick.timeout = std::chrono::milliseconds(300);
		// The grandchild holding stdout open is killed with its group.
		CHECK_FALSE(runCapture("/bin/sh", { "sh", "-c", "sleep 20 & sleep 20; :" }, quick));
		CHECK_FALSE(runCapture("/bin/sh", { "sh", "-c", "exec yes" }, quick));
		// Exits at once but leaves a process holding stdout open.
		CHECK_FALSE(runCapture("/bin/sh", { "sh", "-c", "echo hi; sleep 20 &" }, quick));
		CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));

		CaptureLimits small;
		small.maxOutput = 4;
		CHECK(runCapture("/bin/sh", { "sh", "-c", "printf 1234" }, small) == std::optional<std::string>("1234"));
		CHECK_FALSE(runCapture("/bin/sh", { "sh", "-c", "printf 12345" }, small));
	}

	TEST_CASE("probeCompiler runs the compiler found on PATH, skipping the masquerade dir")
	{
		TempDir dir;
		const fs::path masq = dir.path() / "masq";
		const fs::path bin = dir.path() / "bin";
		// The masquerade entry itself would answer wrongly; it must not be run.
		writeFile(masq / "mycc", fakeCompiler("wrong-machine", "0"), true);
		writeFile(bin / "mycc", fakeCompiler("m68k-linux-gnu", "9.1"), true);
		writeFile(bin / "noisy", "#!/bin/sh\necho 'x86_64 linux'\n", true);
		writeFile(bin / "broken", "#!/bin/sh\nexit 1\n", true);
		writeFile(bin / "notexec", fakeCompiler("a", "1"));
		ScopedEnv path("PATH", masq.string() + ":relative/dir::" + bin.string());

		auto c = probeCompiler("mycc", masq.string());
		REQUIRE(c);
		CHECK(*c == Compiler{ "m68k-linux-gnu", "9.1" });
		CHECK(probeCompiler("mycc", "") == Compiler{ "wrong-machine", "0" });
		CHECK(probeCompiler((bin / "mycc").string(), masq.string()) == Compiler{ "m68k-linux-gnu", "9.1" });
		CHECK_FALSE(probeCompiler("noisy", masq.string()));
		CHECK_FALSE(probeCompiler("broken", masq.string()));
		CHECK_FALSE(probeCompiler("notexec", masq.string()));
		CHECK_FALSE(probeCompiler("missing", masq.string()));
		CHECK_FALSE(probeCompiler("-v", masq.string()));
	}

	TEST_CASE("masqueradeCompilers: cc first, distinct pairs, unknown names skipped")
	{
		TempDir dir;
		const fs::path masq = dir.path() / "masq";
		const fs::path bin = dir.path() / "bin";
		fs::create_directories(masq);
		for (const char *name : { "aa-cc", "cc", "c++", "zz", "missing", "bad name", ".hidden" })
			fs::create_symlink("/usr/bin/distcc", masq / name);
		writeFile(bin / "aa-cc", fakeCompiler("aarch64-linux-gnu", "12"), true);
		writeFile(bin / "cc", fakeCompiler("x86_64-linux-gnu", "12"), true);
		writeFile(bin / "c++", fakeCompiler("x86_64-linux-gnu", "12"), true);
		writeFile(bin / "zz", fakeCompiler("x86_64-linux-gnu", "14.0.6"), true);
		writeFile(bin / "bad name", fakeCompiler("evil", "1"), true);
		ScopedEnv path("PATH", masq.string() + ":" + bin.string());

		const std::vector<Compiler> expected = { { "x86_64-linux-gnu", "12" },
							 { "aarch64-linux-gnu", "12" },
							 { "x86_64-linux-gnu", "14.0.6" } };
		CHECK(masqueradeCompilers(masq.string()) == expected);
		CHECK(masqueradeCompilers((dir.path() / "none").string()).empty());
	}

	TEST_CASE("masqueradeCompilers with the real gcc behind a gcc symlink")
	{
		if (::access("/usr/bin/gcc", X_OK) != 0)
			return;
		TempDir dir;
		fs::create_symlink("/usr/bin/distcc", dir.path() / "gcc");
		const auto compilers = masqueradeCompilers(dir.path().string());
		REQUIRE(compilers.size() == 1);
		CHECK(compilers.front() == probeCompiler("gcc"));
		CHECK(!compilers.front().machine.empty());
	}

	TEST_CASE("host facts: cpus, short host name, a stable 16-hex-digit id")
	{
		CHECK(onlineCpus() >= 1);
		CHECK(onlineCpus() == static_cast<std::uint32_t>(::sysconf(_SC_NPROCESSORS_ONLN)));
		CHECK(hostName().find('.') == std::string::npos);
		const std::string id = hostId();
		CHECK(id.size() == 16);
		CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
		CHECK(hostId() == id);
	}

	TEST_CASE("the speed workload is deterministic and the measured speed is bounded and repeatable")
	{
		CHECK(host::speedWorkload(100000) == host::speedWorkload(100000));
		CHECK(host::speedWorkload(100000) != host::speedWorkload(100001));
		const double a = host::measureSpeed(std::chrono::milliseconds(5), 3);
		const double b = host::measureSpeed(std::chrono::milliseconds(5), 3);
		CHECK(a >= kMinSpeed);
		CHECK(a <= kMaxSpeed);
		MESSAGE("measured speed " << a << " and " << b);
		// Best of several runs: two measurements agree within a factor of
		// two even on a busy machine (they differ by a few % when idle).
		CHECK(a / b < 2.0);
		CHECK(b / a < 2.0);
	}

	TEST_CASE("distcc jobs in flight are the slot lock files some process holds")
	{
		char dir[] = "/tmp/dmdns-locks-XXXXXX";
		REQUIRE(::mkdtemp(dir));
		const std::string lockDir = dir;
		auto create = [&](const std::string &name) {
			const int fd = ::open((lockDir + "/" + name).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
			REQUIRE(fd >= 0);
			return fd;
		};
		auto lock = [](int fd) {
			struct flock l {};
			l.l_type = F_WRLCK;
			l.l_whence = SEEK_SET;
			REQUIRE(::fcntl(fd, F_SETLK, &l) == 0);
		};
		const int a0 = create("cpu_tcp_10.0.0.2_3632_0"), a1 = create("cpu_tcp_10.0.0.2_3632_1");
		const int b0 = create("cpu_tcp_10.0.0.3_4000_0"), idle = create("cpu_tcp_10.0.0.4_3632_0");
		const int other = create("backoff_tcp_10.0.0.2_3632_0");
		lock(a0);
		lock(a1);
		lock(b0);
		lock(other);
		const auto jobs = host::distccJobsInFlight(lockDir);
		CHECK(jobs.size() == 2);
		CHECK(jobs.at({ "10.0.0.2", 3632 }) == 2);
		CHECK(jobs.at({ "10.0.0.3", 4000 }) == 1);
		CHECK(host::distccJobsInFlight(lockDir + "/missing").empty());
		for (int fd : { a0, a1, b0, idle, other })
			::close(fd);
		CHECK(host::distccJobsInFlight(lockDir).empty()); // closing drops the locks
		std::filesystem::remove_all(lockDir);
	}

	TEST_CASE("recently failing hosts are distcc's backoff files younger than its period")
	{
		char dir[] = "/tmp/dmdns-backoff-XXXXXX";
		REQUIRE(::mkdtemp(dir));
		const std::string lockDir = dir;
		auto touch = [&](const std::string &name, std::time_t age) {
			const std::string path = lockDir + "/" + name;
			const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
			REQUIRE(fd >= 0);
			::close(fd);
			const std::time_t when = std::time(nullptr) - age;
			const struct timespec times[2] = { { when, 0 }, { when, 0 } };
			REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
		};
		touch("backoff_tcp_10.0.0.2_3632_0", 5);
		touch("backoff_tcp_10.0.0.3_4000_0", 0);
		touch("backoff_tcp_10.0.0.4_3632_0", 61); // the period is over
		touch("cpu_tcp_10.0.0.5_3632_0", 0);	    // a slot lock, not a failure
		touch("backoff_localhost_0", 0);
		const auto failing = host::distccBackoffs(lockDir, 60);
		CHECK(failing == std::set<std::pair<std::string, std::uint16_t>>{ { "10.0.0.2", 3632 },
										  { "10.0.0.3", 4000 } });
		CHECK(host::distccBackoffs(lockDir, 3).size() == 1);
		CHECK(host::distccBackoffs(lockDir, 0).empty()); // DISTCC_BACKOFF_PERIOD=0: off
		CHECK(host::distccBackoffs(lockDir + "/missing", 60).empty());

		::setenv("DISTCC_BACKOFF_PERIOD", "7", 1);
		CHECK(host::distccBackoffPeriod() == 7);
		::unsetenv("DISTCC_BACKOFF_PERIOD");
		CHECK(host::distccBackoffPeriod() == 60);
		std::filesystem::remove_all(lockDir);
	}
}
