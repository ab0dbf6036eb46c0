// The files the daemon keeps for users: per-uid hosts files, their list across restarts, a missing ~/.distcc, --setup-user's link, jobs per uid.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include "daemon/hosts_file.h"
#include "daemon/user_hosts.h"
#include "host/safe_dir.h"
#include "host/user_jobs.h"
#include "hosts/setup_user.h"
#include "support/fake_clock.h"
#include "support/temp_dir.h"
#include "uv/handle.h"

using namespace dmdns;
using namespace std::chrono_literals;

namespace {

std::string slurp(const std::string &path)
{
	std::ifstream in(path);
	return { std::istreambuf_iterator<char>(in), {} };
}

void put(const std::string &path, const std::string &text)
{
	std::filesystem::create_directories(std::filesystem::path(path).parent_path());
	std::ofstream(path) << text;
}

unsigned modeOf(const std::string &path)
{
	struct stat st { };
	REQUIRE(::lstat(path.c_str(), &st) == 0);
	return st.st_mode & 07777;
}

// A daemon that answers setup-user with @path, or with an error.
AskDaemon daemonAnswering(std::string path, int *asked = nullptr)
{
	return [path, asked]() -> std::optional<UserFileAnswer> {
		if (asked)
			++*asked;
		if (path.empty())
			return UserFileAnswer{ {}, "setup-user: full" };
		return UserFileAnswer{ path, {} };
	};
}

} // namespace

TEST_SUITE("user_files")
{
	TEST_CASE("the list of users reads decimal uids, one a line, and skips the rest")
	{
		std::vector<std::size_t> bad;
		CHECK(parseUserList("1000\n0\n\n65534\n1000\n", 10, &bad) == std::set<std::uint32_t>{ 0, 1000, 65534 });
		CHECK(bad.empty());
		CHECK(parseUserList("12a\n-1\n 5\n4294967295\n4294967296\n7", 10, &bad) == std::set<std::uint32_t>{ 7 });
		CHECK(bad == std::vector<std::size_t>{ 1, 2, 3, 4, 5 });
		CHECK(parseUserList("1\n2\n3\n", 2).size() == 2);
	}

	TEST_CASE("a user's file is kept under users/UID, rewritten when its line changes, and remembered")
	{
		test::TempDir tmp;
		const std::string runtime = tmp / "run";
		const std::string state = tmp / "state";
		std::filesystem::create_directory(runtime);
		std::filesystem::create_directory(state);
		std::map<std::uint32_t, std::string> lines = { { 1000, "10.0.0.2/4 localhost/2" } };
		std::set<std::uint32_t> asked;
		test::FakeClock clock;
		{
			UserHostsFiles files(clock, runtime, state + "/users", 1s, [&](const std::set<std::uint32_t> &uids) {
				asked = uids;
				std::map<std::uint32_t, std::string> out;
				for (std::uint32_t uid : uids)
					out[uid] = lines.count(uid) ? lines[uid] : "localhost/2";
				return out;
			});
			CHECK(files.empty());
			const std::string path = files.add(1000);
			CHECK(path == runtime + "/users/1000/hosts");
			CHECK(slurp(path) == "10.0.0.2/4 localhost/2\n");
			CHECK(modeOf(path) == 0644);
			CHECK(modeOf(runtime + "/users") == 0755);
			CHECK(modeOf(runtime + "/users/1000") == 0755);
			CHECK(slurp(state + "/users") == "1000\n");
			CHECK(files.add(1000) == path); // again: the same file
			CHECK(files.add(65534) == runtime + "/users/65534/hosts");
			CHECK(slurp(state + "/users") == "1000\n65534\n");

			lines[1000] = "10.0.0.3/2 localhost/2";
			clock.advance(1s);
			CHECK(asked == std::set<std::uint32_t>{ 1000, 65534 }); // one call for all
			CHECK(slurp(path) == "10.0.0.3/2 localhost/2\n");
			// Deleted behind its back: written again.
			std::filesystem::remove(path);
			clock.advance(1s);
			CHECK(slurp(path) == "10.0.0.3/2 localhost/2\n");
		}
		// A restart: the users kept are served at once.
		std::filesystem::remove_all(runtime + "/users");
		lines[1000] = "10.0.0.4/1 localhost/2";
		test::FakeClock later;
		UserHostsFiles again(later, runtime, state + "/users", 1s, [&](const std::set<std::uint32_t> &uids) {
			std::map<std::uint32_t, std::string> out;
			for (std::uint32_t uid : uids)
				out[uid] = lines.count(uid) ? lines[uid] : "localhost/2";
			return out;
		});
		CHECK(again.uids() == std::set<std::uint32_t>{ 1000, 65534 });
		CHECK(slurp(runtime + "/users/1000/hosts") == "10.0.0.4/1 localhost/2\n");
		CHECK(slurp(runtime + "/users/65534/hosts") == "localhost/2\n");
	}

	TEST_CASE("at most kMaxUsers users; one more is refused with a reason and changes nothing")
	{
		test::TempDir tmp;
		test::FakeClock clock;
		UserHostsFiles files(clock, tmp.path().string(), tmp / "users.list", 1h,
				     [](const std::set<std::uint32_t> &uids) {
					     std::map<std::uint32_t, std::string> out;
					     for (std::uint32_t uid : uids)
						     out[uid] = "localhost/1";
					     return out;
				     });
		for (std::uint32_t uid = 0; uid < UserHostsFiles::kMaxUsers; ++uid)
			files.add(10000 + uid);
		CHECK_THROWS_WITH_AS(files.add(99999), doctest::Contains("256 users"), std::runtime_error);
		CHECK(files.uids().size() == UserHostsFiles::kMaxUsers);
		CHECK_FALSE(std::filesystem::exists(tmp / "users/99999"));
		CHECK(parseUserList(slurp(tmp / "users.list"), 1000).size() == UserHostsFiles::kMaxUsers);
		CHECK(files.add(10000) == tmp / "users/10000/hosts"); // one already kept still answers
	}

	TEST_CASE("a hosts file whose directory is missing gets it made; one that cannot be made stops the start")
	{
		test::TempDir tmp;
		uv::Loop loop;
		const std::string path = tmp / ".distcc/hosts";
		{
			HostsFileKeeper keeper(loop.get(), path, 1s, [] { return std::string("localhost/2"); });
			CHECK(keeper.current());
		}
		CHECK(slurp(path) == "localhost/2\n");
		CHECK(modeOf(tmp / ".distcc") == 0755);
		// Made for the user as its parent's owner would: by its owner, not
		// more open than 0755, whatever the daemon's umask.
		const mode_t old = ::umask(0);
		std::filesystem::remove_all(tmp / ".distcc");
		{
			HostsFileKeeper keeper(loop.get(), path, 1s, [] { return std::string("localhost/3"); });
			CHECK(keeper.current());
		}
		::umask(old);
		CHECK(modeOf(tmp / ".distcc") == 0755);
		CHECK(slurp(path) == "localhost/3\n");
		// No parent either: a clear error at start, not a retry forever.
		CHECK_THROWS_WITH_AS(HostsFileKeeper(loop.get(), tmp / "no/such/.distcc/hosts", 1s, [] { return std::string("x"); }),
				     doctest::Contains("create the directory or choose another --hosts-file"), host::PathError);
	}

	TEST_CASE("--setup-user links ~/.distcc/hosts to the daemon's file, made if missing, and says how to undo")
	{
		test::TempDir tmp;
		const std::string dir = tmp / ".distcc";
		const std::string target = "/run/distcc-mdns/users/1000/hosts";
		test::TempDir outDir;
		const std::string outPath = outDir / "out";
		std::FILE *out = std::fopen(outPath.c_str(), "w+");
		REQUIRE(out);
		CHECK(setupUser(daemonAnswering(target), dir, false, out) == 0);
		std::fflush(out);
		CHECK(std::filesystem::read_symlink(dir + "/hosts") == target);
		CHECK(modeOf(dir) == 0755);
		CHECK(slurp(outPath).find("To undo: rm " + dir + "/hosts") != std::string::npos);
		// Again: nothing to do.
		CHECK(setupUser(daemonAnswering(target), dir, false, out) == 0);
		// The daemon moved its file (another runtime dir): the link follows.
		CHECK(setupUser(daemonAnswering("/run/other/users/1000/hosts"), dir, false, out) == 1);
		CHECK(setupUser(daemonAnswering("/run/other/users/1000/hosts"), dir, true, out) == 0);
		CHECK(std::filesystem::read_symlink(dir + "/hosts") == "/run/other/users/1000/hosts");
		CHECK(std::filesystem::is_symlink(dir + "/hosts.orig"));
		std::fclose(out);
	}

	TEST_CASE("--setup-user leaves a hosts file of the user's own alone unless forced, and never loses one")
	{
		test::TempDir tmp;
		const std::string dir = tmp / ".distcc";
		const std::string target = "/run/distcc-mdns/users/1000/hosts";
		put(dir + "/hosts", "mine/4\n");
		std::FILE *out = std::fopen("/dev/null", "w");
		REQUIRE(out);
		CHECK(setupUser(daemonAnswering(target), dir, false, out) == 1);
		CHECK(slurp(dir + "/hosts") == "mine/4\n");
		CHECK_FALSE(std::filesystem::is_symlink(dir + "/hosts"));
		// Forced, but hosts.orig is taken: nothing changes.
		put(dir + "/hosts.orig", "older\n");
		CHECK(setupUser(daemonAnswering(target), dir, true, out) == 1);
		CHECK(slurp(dir + "/hosts") == "mine/4\n");
		CHECK(slurp(dir + "/hosts.orig") == "older\n");
		std::filesystem::remove(dir + "/hosts.orig");
		CHECK(setupUser(daemonAnswering(target), dir, true, out) == 0);
		CHECK(slurp(dir + "/hosts.orig") == "mine/4\n");
		CHECK(std::filesystem::read_symlink(dir + "/hosts") == target);
		// No daemon, or one that refuses: exit 1 and nothing touched.
		const std::string other = tmp / "other";
		CHECK(setupUser([] { return std::optional<UserFileAnswer>(); }, other, false, out) == kSetupUserFailed);
		CHECK(setupUser(daemonAnswering(""), other, false, out) == kSetupUserFailed);
		CHECK(setupUser(daemonAnswering("relative"), other, false, out) == kSetupUserFailed);
		CHECK_FALSE(std::filesystem::exists(other));
		std::fclose(out);
	}

	TEST_CASE("jobs in flight per uid come from the socket table: ESTABLISHED, to a server port, by owner")
	{
		test::TempDir proc;
		const std::string header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
					   "timeout inode\n";
		// 10.0.0.2:3632 twice for uid 1000 (one of them closing), 10.0.0.3:3632
		// for 1001, a connection to another port, and a listener.
		put(proc / "net/tcp",
		    header + "   0: 0100000A:A000 0200000A:0E30 01 00000000:00000000 00:00000000 00000000  1000        0 11 1\n" +
			    "   1: 0100000A:A001 0200000A:0E30 01 00000000:00000000 00:00000000 00000000  1000        0 12 1\n" +
			    "   2: 0100000A:A002 0200000A:0E30 08 00000000:00000000 00:00000000 00000000  1000        0 13 1\n" +
			    "   3: 0100000A:A003 0300000A:0E30 01 00000000:00000000 00:00000000 00000000  1001        0 14 1\n" +
			    "   4: 0100000A:A004 0300000A:0016 01 00000000:00000000 00:00000000 00000000  1000        0 15 1\n" +
			    "   5: 00000000:0E30 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 16 1\n");
		// An IPv6 socket connected to 10.0.0.2 (v4-mapped), uid 1000.
		put(proc / "net/tcp6", header + "   0: 0000000000000000FFFF00000100000A:A005 "
						"0000000000000000FFFF00000200000A:0E30 01 00000000:00000000 "
						"00:00000000 00000000  1000        0 17 1\n");
		const auto jobs = host::tcpJobsByUid({ 1000, 1001, 1002 }, { 3632 }, proc.path().string());
		REQUIRE(jobs.count(1000));
		CHECK(jobs.at(1000) == host::JobsByServer{ { { "10.0.0.2", 3632 }, 3 } });
		CHECK(jobs.at(1001) == host::JobsByServer{ { { "10.0.0.3", 3632 }, 1 } });
		CHECK_FALSE(jobs.count(1002));
		CHECK(host::tcpJobsByUid({ 1000 }, { 4000 }, proc.path().string()).empty());
	}

	TEST_CASE("distcc clients are counted per uid, not the helpers a client forks")
	{
		test::TempDir proc;
		const auto process = [&](int pid, const char *name, int parent, int uid) {
			put(proc / (std::to_string(pid) + "/stat"),
			    std::to_string(pid) + " (" + name + ") S " + std::to_string(parent) + " 1 1 0\n");
			put(proc / (std::to_string(pid) + "/status"), "Name:\t" + std::string(name) + "\nUid:\t" +
									      std::to_string(uid) + "\t" + std::to_string(uid) +
									      "\t" + std::to_string(uid) + "\t" +
									      std::to_string(uid) + "\n");
		};
		process(100, "make", 1, 1000);
		process(101, "distcc", 100, 1000);
		process(102, "distcc", 101, 1000); // forked to preprocess
		process(103, "distcc", 100, 1000);
		process(200, "distcc", 1, 1001);
		process(300, "cc1", 1, 1002);
		CHECK(host::distccClientsByUid(proc.path().string()) ==
		      std::map<std::uint32_t, std::uint32_t>{ { 1000, 2 }, { 1001, 1 } });
	}
}
