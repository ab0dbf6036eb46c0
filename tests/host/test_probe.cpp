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

#include <fmt/format.h>

#include "host/capture.h"
#include "host/files.h"
#include "host/probe.h"
#include "host/speed.h"
#include "support/scoped_env.h"
#include "support/temp_dir.h"

extern char **environ;

using namespace dmdns;
using namespace dmdns::host;
namespace fs = std::filesystem;

using dmdns::test::TempDir;

namespace {

using dmdns::test::ScopedEnv;

void writeFile(const fs::path &path, std::string_view content, bool executable = false)
{
	fs::create_directories(path.parent_path());
	std::ofstream(path, std::ios::binary) << content;
	if (executable)
		fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
}

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

// One LISTEN line of /proc/net/tcp with its owner and inode.
std::string listenLine(int slot, std::string_view local, std::uint32_t uid, std::uint64_t inode)
{
	return fmt::format("  {}: {} 00000000:0000 0A 00000000:00000000 00:00000000 00000000 {:>5} 0 {} 1 0 100 0 0 10 0\n",
			   slot, local, uid, inode);
}

// Processes in a fake /proc: command line, status with the uid, and the
// sockets among their fds (none: the fd directory is not readable).
class FakeProc final
{
public:
	explicit FakeProc(fs::path root)
		: root_(std::move(root)) { }

	// A process whose fds (with these socket inodes) are readable.
	void process(int pid, std::string_view cmdline, std::uint32_t uid, std::initializer_list<std::uint64_t> sockets)
	{
		hidden(pid, cmdline, uid);
		const fs::path dir = root_ / std::to_string(pid);
		fs::create_directories(dir / "fd");
		writeFile(dir / "fd/0", ""); // not a link: skipped
		int fd = 3;
		for (std::uint64_t inode : sockets)
			fs::create_symlink(fmt::format("socket:[{}]", inode), dir / "fd" / std::to_string(fd++));
		fs::create_symlink("pipe:[12]", dir / "fd" / std::to_string(fd));
	}

	// A process whose fds are not readable (another user's, to a non-root reader).
	void hidden(int pid, std::string_view cmdline, std::uint32_t uid)
	{
		const fs::path dir = root_ / std::to_string(pid);
		writeFile(dir / "cmdline", cmdline);
		writeFile(dir / "status", fmt::format("Name:\tx\nPid:\t{}\nUid:\t{}\t{}\t{}\t{}\n", pid, uid, uid, uid, uid));
	}

	void netns(int pid, const std::string &link)
	{
		const fs::path dir = root_ / std::to_string(pid) / "ns";
		fs::create_directories(dir);
		fs::create_symlink(link, dir / "net");
	}

private:
	fs::path root_;
};

// Collects what is written to stderr (the log) while it lives.
class StderrCapture final
{
public:
	StderrCapture()
	{
		std::string pattern = (fs::temp_directory_path() / "dmdns-stderr-XXXXXX").string();
		file_.reset(::mkstemp(pattern.data()));
		REQUIRE(file_.get() >= 0);
		::unlink(pattern.c_str());
		saved_.reset(::dup(STDERR_FILENO));
		REQUIRE(::dup2(file_.get(), STDERR_FILENO) >= 0);
	}
	~StderrCapture() { ::dup2(saved_.get(), STDERR_FILENO); }
	StderrCapture(const StderrCapture &) = delete;
	StderrCapture &operator=(const StderrCapture &) = delete;

	std::string text() const
	{
		std::string out;
		char buffer[4096];
		for (off_t at = 0;;) {
			const ssize_t n = ::pread(file_.get(), buffer, sizeof buffer, at);
			if (n <= 0)
				return out;
			out.append(buffer, static_cast<std::size_t>(n));
			at += n;
		}
	}

private:
	UniqueFd file_;
	UniqueFd saved_;
};

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
		CHECK_FALSE(r.distccd); // no process holds it
		CHECK(r.running == 3);	// two IPv4, one v4-mapped; not the client side, not TIME_WAIT
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
		FakeProc fake(proc.path());
		fake.process(100, "/usr/bin/distccd\0--daemon\0--jobs\0"
				  "7\0"sv,
			     102, { 1 });
		fake.process(101, "distccd\0--port=3700\0--allow\0"
				  "10.0.0.0/8\0"sv,
			     102, { 2 });
		fake.process(102, "distcc\0gcc\0-c\0x.c\0"sv, 102, {});
		fake.process(103, "distccd\0--inetd\0-j\0"
				  "2\0--port\0"
				  "3800\0"sv,
			     102, { 3 });
		fake.process(104, ""sv, 0, {}); // a kernel thread
		writeFile(proc.path() / "self/cmdline", "distccd\0-j\0"
							"99\0"sv);
		writeFile(proc.path() / "notapid/cmdline", "distccd\0-j\0"
							   "98\0"sv);
		// Listeners of uid 102 on 3632 (0E30), 3700 (0E74) and 3800 (0ED8).
		writeFile(proc.path() / "net/tcp", listenLine(0, "00000000:0E30", 102, 1) +
							   listenLine(1, "00000000:0E74", 102, 2) +
							   listenLine(2, "00000000:0ED8", 102, 3));
		const std::string root = proc.path().string();
		const std::vector<std::uint32_t> uids{ 0, 102 };

		CHECK(distccdSlots(3632, root, uids) == 7u);
		CHECK(distccdSlots(3700, root, uids) == onlineCpus() + 2);
		CHECK_FALSE(distccdSlots(3800, root, uids)); // inetd: listens on nothing
		CHECK_FALSE(distccdSlots(3633, root, uids));
		CHECK_FALSE(distccdSlots(3632, (proc.path() / "missing").string(), uids));
		// Not distccd's user: no slots either.
		CHECK_FALSE(distccdSlots(3632, root, std::vector<std::uint32_t>{ 0 }));
		// Without a listener here, no distccd serves the port here.
		fs::remove(proc.path() / "net/tcp");
		CHECK_FALSE(distccdSlots(3632, root, uids));
	}

	TEST_CASE("checkDistccd: the owner uid of the listener and a distccd of that uid holding it")
	{
		TempDir proc;
		using namespace std::string_view_literals;
		FakeProc fake(proc.path());
		const std::string root = proc.path().string();
		const std::vector<std::uint32_t> uids{ 0, 102 };
		fake.process(100, "/usr/sbin/distccd\0--daemon\0--jobs\0"
				  "7\0"sv,
			     102, { 500 });
		fake.process(101, "/usr/sbin/distccd\0--daemon\0--jobs\0"
				  "7\0"sv,
			     102, { 500 }); // a worker

		// distccd's own listener: verified, with its options.
		writeFile(proc.path() / "net/tcp", listenLine(0, "0200000A:0E30", 102, 500));
		DistccdListener c = checkDistccd(3632, root, uids);
		CHECK(c.listening);
		CHECK(c.verified);
		REQUIRE(c.args);
		CHECK(c.args->jobs == 7u);
		CHECK(c.refusal.empty());

		// A system without a distccd user: root only.
		c = checkDistccd(3632, root, std::vector<std::uint32_t>{ 0 });
		CHECK(c.listening);
		CHECK_FALSE(c.verified);
		CHECK_FALSE(c.args);
		CHECK(c.refusal.find("10.0.0.2:3632 belongs to uid 102") != std::string::npos);
		CHECK(c.refusal.find("command '/usr/sbin/distccd --daemon --jobs 7'") != std::string::npos);

		// Another user on the port, even calling itself distccd.
		fake.process(200, "distccd\0--jobs\0"
				  "200\0"sv,
			     65534, { 600 });
		writeFile(proc.path() / "net/tcp", listenLine(0, "00000000:0E30", 65534, 600));
		c = checkDistccd(3632, root, uids);
		CHECK(c.listening);
		CHECK_FALSE(c.verified);
		CHECK(c.refusal.find("uid 65534") != std::string::npos);
		CHECK(c.refusal.find("command 'distccd --jobs 200'") != std::string::npos);
		CHECK_FALSE(distccdSlots(3632, root, uids));

		// An allowed owner whose socket a process that is not distccd holds.
		fake.process(300, "/usr/bin/python3\0-c\0listen\x01\x1b[31m\0"sv, 0, { 700 });
		writeFile(proc.path() / "net/tcp", listenLine(0, "00000000:0E30", 0, 700));
		c = checkDistccd(3632, root, uids);
		CHECK_FALSE(c.verified);
		CHECK(c.refusal.find("no distccd of that uid holds it") != std::string::npos);
		// The command is shown, its control characters not.
		CHECK(c.refusal.find("'/usr/bin/python3 -c listen??[31m'") != std::string::npos);

		// A root listener with distccd running as 102: the uids must agree.
		writeFile(proc.path() / "net/tcp", listenLine(0, "00000000:0E30", 0, 999));
		c = checkDistccd(3632, root, uids);
		CHECK_FALSE(c.verified);
		CHECK(c.refusal.find("no distccd of that uid") != std::string::npos);
		CHECK(c.refusal.find("command unknown") != std::string::npos);

		// distccd's listener plus another user's on another address: a client
		// may connect to either, so neither is advertised.
		writeFile(proc.path() / "net/tcp",
			  listenLine(0, "0200000A:0E30", 102, 500) + listenLine(1, "0100007F:0E30", 65534, 600));
		c = checkDistccd(3632, root, uids);
		CHECK_FALSE(c.verified);
		CHECK(c.refusal.find("127.0.0.1:3632 belongs to uid 65534") != std::string::npos);

		// An IPv6 listener of distccd's is fine, one without an owner is not.
		writeFile(proc.path() / "net/tcp", ""sv);
		writeFile(proc.path() / "net/tcp6",
			  "   0: 00000000000000000000000000000000:0E30 00000000000000000000000000000000:0000 0A "
			  "00000000:00000000 00:00000000 00000000   102        0 500 1 0 100 0 0 10 0\n");
		CHECK(checkDistccd(3632, root, uids).verified);
		writeFile(proc.path() / "net/tcp6", "   0: 00000000000000000000000000000000:0E30 "
						    "00000000000000000000000000000000:0000 0A\n");
		c = checkDistccd(3632, root, uids);
		CHECK(c.listening);
		CHECK_FALSE(c.verified);
		CHECK(c.refusal.find("[::]:3632 has no owner") != std::string::npos);
		fs::remove(proc.path() / "net/tcp6");

		// Too many listeners to look at.
		std::string many;
		for (std::size_t i = 0; i <= kMaxListeners; ++i)
			many += listenLine(static_cast<int>(i), "0200000A:0E30", 102, 500);
		writeFile(proc.path() / "net/tcp", many);
		CHECK_FALSE(checkDistccd(3632, root, uids).verified);

		// Nothing listens: nothing to refuse.
		writeFile(proc.path() / "net/tcp", ""sv);
		c = checkDistccd(3632, root, uids);
		CHECK_FALSE(c.listening);
		CHECK_FALSE(c.verified);
		CHECK(c.refusal.empty());
	}

	TEST_CASE("checkDistccd without access to distccd's fds: uid, command line and namespace")
	{
		TempDir proc;
		using namespace std::string_view_literals;
		FakeProc fake(proc.path());
		const std::string root = proc.path().string();
		const std::vector<std::uint32_t> uids{ 0, 102 };
		// No fd directory: a daemon that is not root cannot read distccd's.
		fake.hidden(100, "distccd\0-j5\0"sv, 102);
		writeFile(proc.path() / "net/tcp", listenLine(0, "00000000:0E30", 102, 500));
		CHECK(checkDistccd(3632, root, uids).verified); // namespace unknown
		CHECK(distccdSlots(3632, root, uids) == 5u);

		// Another network namespace's distccd does not make ours.
		fs::create_directories(proc.path() / "self/ns");
		fs::create_symlink("net:[4026531833]", proc.path() / "self/ns/net");
		fake.netns(100, "net:[4026532177]");
		DistccdListener c = checkDistccd(3632, root, uids);
		CHECK_FALSE(c.verified);
		CHECK(c.refusal.find("in this network namespace") != std::string::npos);
		// ... but one known to be ours does.
		fake.hidden(101, "distccd\0-j9\0"sv, 102);
		fake.netns(101, "net:[4026531833]");
		CHECK(distccdSlots(3632, root, uids) == 9u);
		// A process of another uid serving the port stands for nothing.
		fs::remove_all(proc.path() / "101");
		fake.hidden(102, "distccd\0-j9\0"sv, 1000);
		CHECK_FALSE(checkDistccd(3632, root, uids).verified);
		// Readable fds that do not hold the socket: not the holder.
		fake.process(103, "distccd\0-j9\0"sv, 102, { 501 });
		fake.netns(103, "net:[4026531833]");
		CHECK_FALSE(checkDistccd(3632, root, uids).verified);
	}

	TEST_CASE("LoadProbe advertises a verified distccd only and logs a refusal once")
	{
		TempDir proc;
		using namespace std::string_view_literals;
		FakeProc fake(proc.path());
		const std::vector<std::uint32_t> uids{ 0, 102 };
		fake.process(200, "/usr/bin/python3\0-m\0http.server\0"
				  "3632\0"sv,
			     65534, { 600 });
		writeFile(proc.path() / "net/tcp", listenLine(0, "00000000:0E30", 65534, 600));
		LoadProbe probe(3632, proc.path().string(), uids);
		StderrCapture err;
		LoadReading r = probe.read();
		CHECK(r.listening);
		CHECK_FALSE(r.distccd);
		for (int i = 0; i < 5; ++i)
			CHECK_FALSE(probe.read().distccd);
		const std::string log = err.text();
		const auto first = log.find("not advertising port 3632");
		REQUIRE(first != std::string::npos);
		CHECK(log.find("not advertising port 3632", first + 1) == std::string::npos);
		CHECK(log.find("uid 65534") != std::string::npos);
		CHECK(log.find("command '/usr/bin/python3 -m http.server 3632'") != std::string::npos);

		// The impostor goes, distccd comes: checked again, advertised.
		fake.process(100, "distccd\0--daemon\0"sv, 102, { 500 });
		writeFile(proc.path() / "net/tcp", listenLine(0, "00000000:0E30", 102, 500));
		r = probe.read();
		CHECK(r.listening);
		CHECK(r.distccd);
		// distccd goes: nothing listens, nothing is advertised.
		writeFile(proc.path() / "net/tcp", ""sv);
		r = probe.read();
		CHECK_FALSE(r.listening);
		CHECK_FALSE(r.distccd);
	}

	TEST_CASE("checkDistccd in the real /proc: a listening process called distccd, by its owner")
	{
		// Python called distccd listens on the --port its command line
		// gives and then creates its --log-file. Its owner is this test's
		// uid: verified when that uid is allowed, refused when it is not.
		TempDir dir;
		const fs::path ready = dir.path() / "ready";
		const std::uint16_t port = Listener().port(); // free a moment ago
		const std::string code = "import socket,sys,time\n"
					 "a=sys.argv\n"
					 "s=socket.socket(); s.bind(('127.0.0.1',int(a[a.index('--port')+1]))); s.listen(4)\n"
					 "open(a[a.index('--log-file')+1],'w').close()\n"
					 "time.sleep(60)\n";
		const pid_t pid = spawnGroup("/usr/bin/python3", { "distccd", "-c", code, "--port", std::to_string(port),
								   "--jobs", "5", "--log-file", ready.string() });
		const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
		for (int i = 0; i < 2000 && !fs::exists(ready) && std::chrono::steady_clock::now() < deadline; ++i)
			::usleep(10000);
		const bool started = fs::exists(ready);
		const std::vector<std::uint32_t> me{ ::getuid() };
		const std::vector<std::uint32_t> others{ ::getuid() + 1 };
		const DistccdListener mine = checkDistccd(port, "/proc", me);
		const DistccdListener theirs = checkDistccd(port, "/proc", others);
		const std::optional<std::uint32_t> slots = distccdSlots(port, "/proc", me);
		const LoadReading allowed = LoadProbe(port, "/proc", me).read();
		const LoadReading refused = LoadProbe(port, "/proc", others).read();
		::kill(-pid, SIGKILL);
		::waitpid(pid, nullptr, 0);
		REQUIRE(started);
		CHECK(mine.listening);
		CHECK(mine.verified);
		CHECK(slots == 5u);
		CHECK(allowed.distccd);
		CHECK(theirs.listening);
		CHECK_FALSE(theirs.verified);
		CHECK(theirs.refusal.find(fmt::format("uid {}", ::getuid())) != std::string::npos);
		CHECK(theirs.refusal.find("distccd -c") != std::string::npos);
		CHECK(refused.listening);
		CHECK_FALSE(refused.distccd);
		// Gone: nothing listens.
		CHECK_FALSE(checkDistccd(port, "/proc", me).listening);
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
		CHECK(c->sameVersion(Compiler{ "m68k-linux-gnu", "9.1" }));
		// Its identity is its own file's: the script found, not the entry.
		CHECK(validCompilerIdentity(c->identity));
		const auto entry = probeCompiler("mycc", "");
		REQUIRE(entry);
		CHECK(entry->sameVersion(Compiler{ "wrong-machine", "0" }));
		CHECK(entry->identity != c->identity);
		CHECK(probeCompiler((bin / "mycc").string(), masq.string()) == *c);
		// Not asked to identify: the files are not read.
		const auto quick = probeCompiler("mycc", masq.string(), false);
		REQUIRE(quick);
		CHECK(quick->sameVersion(*c));
		CHECK(quick->identity.empty());
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
		writeFile(bin / "c++", fakeCompiler("x86_64-linux-gnu", "12") + "# another build\n", true);
		writeFile(bin / "zz", fakeCompiler("x86_64-linux-gnu", "14.0.6"), true);
		writeFile(bin / "bad name", fakeCompiler("evil", "1"), true);
		ScopedEnv path("PATH", masq.string() + ":" + bin.string());

		// Each with the identity of the first name that answered for it:
		// cc's, not c++'s (another file), which is not advertised.
		const auto identity = [&](const char *name) { return probeCompiler((bin / name).string())->identity; };
		CHECK(identity("cc") != identity("c++"));
		const std::vector<Compiler> expected = { { "x86_64-linux-gnu", "12", identity("cc") },
							 { "aarch64-linux-gnu", "12", identity("aa-cc") },
							 { "x86_64-linux-gnu", "14.0.6", identity("zz") } };
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
			struct flock l { };
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
		touch("cpu_tcp_10.0.0.5_3632_0", 0);	  // a slot lock, not a failure
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
