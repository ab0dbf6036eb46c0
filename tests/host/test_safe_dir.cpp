// Tests of host::SafeDir and of the keepers that write users' files through it: links, FIFOs, foreign owners, faults.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/hosts_file.h"
#include "daemon/zeroconf_compat.h"
#include "host/safe_dir.h"
#include "support/temp_dir.h"
#include "uv/handle.h"

using namespace dmdns;
using namespace dmdns::host;
namespace fs = std::filesystem;

using dmdns::test::TempDir;

namespace {

// Users the root-only cases give directories to: the one the files are
// for, and another one.
constexpr uid_t kUser = 65534;
constexpr uid_t kOther = 65533;

std::string readFile(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void writeFile(const std::string &path, const std::string &content)
{
	std::ofstream(path, std::ios::binary) << content;
}

struct stat lstatOf(const std::string &path)
{
	struct stat st { };
	REQUIRE(::lstat(path.c_str(), &st) == 0);
	return st;
}

std::size_t entries(const fs::path &dir)
{
	return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

// Runs the error-raising @action; returns the PathError it threw.
PathError thrown(const std::function<void()> &action)
{
	try {
		action();
	} catch (const PathError &e) {
		return e;
	}
	FAIL("no PathError thrown");
	return PathError(0, false, "");
}

// Runs @loop until @done holds, polling every 5 ms; false after @limit.
bool runUntil(uv::Loop &loop, const std::function<bool()> &done,
	      std::chrono::milliseconds limit = std::chrono::seconds(5))
{
	bool met = done();
	if (met)
		return true;
	uv::Timer poll(loop.get(), [&] {
		if (done()) {
			met = true;
			loop.stop();
		}
	});
	uv::Timer watchdog(loop.get(), [&] { loop.stop(); });
	poll.start(std::chrono::milliseconds(5), std::chrono::milliseconds(5));
	watchdog.start(limit);
	loop.run();
	return met;
}

// Whether this process holds a POSIX lock on the file now at @path.
bool locked(const std::string &path)
{
	struct stat st { };
	if (::stat(path.c_str(), &st) != 0)
		return false;
	// Lines read "1: POSIX  ADVISORY  WRITE PID MAJ:MIN:INODE START END".
	std::ifstream locks("/proc/locks");
	const std::string pid = std::to_string(::getpid());
	const std::string inode = ":" + std::to_string(st.st_ino);
	for (std::string line; std::getline(locks, line);) {
		std::istringstream words(line);
		std::string number, kind, advisory, mode, owner, file;
		words >> number >> kind >> advisory >> mode >> owner >> file;
		if (kind == "POSIX" && mode == "WRITE" && owner == pid && file.ends_with(inode))
			return true;
	}
	return false;
}

bool isRoot()
{
	if (::geteuid() == 0)
		return true;
	MESSAGE("not root: the cases with other users' files are skipped");
	return false;
}

} // namespace

TEST_SUITE("safe_dir")
{
	TEST_CASE("a file is replaced whole through the directory, mode 0644, no temporary left")
	{
		TempDir tmp(fs::perms(0755));
		const SafeDir dir = SafeDir::open(tmp.path().string());
		CHECK(dir.path() == tmp.path().string());
		CHECK(dir.owner() == ::geteuid());
		const FileId first = dir.replace("hosts", "10.0.0.2/4\n");
		const FileId second = dir.replace("hosts", "10.0.0.3/8\n");
		CHECK(readFile(tmp / "hosts") == "10.0.0.3/8\n");
		CHECK(first != second);
		CHECK(dir.identity("hosts") == second);
		CHECK((lstatOf(tmp / "hosts").st_mode & 07777) == 0644);
		CHECK(entries(tmp.path()) == 1);
		CHECK(dir.identity("missing") == std::nullopt);
	}

	TEST_CASE("relative paths, '.' and '..' are walked as words")
	{
		TempDir tmp(fs::perms(0755));
		fs::create_directory(tmp / "a");
		const SafeDir dir = SafeDir::open(tmp / "a/../a/./");
		CHECK(dir.path() == tmp / "a");
		CHECK(splitFilePath("hosts") == std::pair<std::string, std::string>(".", "hosts"));
		CHECK(splitFilePath("/x/y/hosts") == std::pair<std::string, std::string>("/x/y", "hosts"));
		CHECK(splitFilePath("/hosts") == std::pair<std::string, std::string>("/", "hosts"));
		CHECK_THROWS_AS(splitFilePath("/x/"), PathError);
		CHECK_THROWS_AS(splitFilePath(""), PathError);
		CHECK_THROWS_AS(splitFilePath("/x/.."), PathError);
		CHECK_THROWS_AS(dir.replace("../escape", "x\n"), PathError);
		CHECK_THROWS_AS(dir.subdir(".."), PathError);
	}

	TEST_CASE("a symbolic link on the way is refused, not followed")
	{
		TempDir tmp(fs::perms(0755));
		fs::create_directory(tmp / "outside");
		fs::create_directory(tmp / "home");
		fs::create_directory_symlink(tmp / "outside", tmp / "home/link");

		const PathError walk = thrown([&] { SafeDir::open(tmp / "home/link/deeper"); });
		CHECK(walk.refused());
		CHECK(std::string(walk.what()).find(tmp / "home/link is a symbolic link") != std::string::npos);

		const SafeDir home = SafeDir::open(tmp / "home");
		const PathError sub = thrown([&] { home.subdir("link"); });
		CHECK(sub.refused());
		CHECK(std::string(sub.what()).find("links are not followed") != std::string::npos);
		CHECK(entries(tmp / "outside") == 0);

		// A link where the file goes: neither followed nor replaced.
		writeFile(tmp / "outside/secret", "secret\n");
		fs::create_symlink(tmp / "outside/secret", tmp / "home/hosts");
		CHECK(thrown([&] { home.replace("hosts", "x\n"); }).refused());
		CHECK(thrown([&] { home.openFile("hosts"); }).refused());
		CHECK(fs::is_symlink(tmp / "home/hosts"));
		CHECK(readFile(tmp / "outside/secret") == "secret\n");
		CHECK(entries(tmp / "home") == 2); // link and hosts: no temporary left
	}

	TEST_CASE("a file where a directory goes, or a missing directory")
	{
		TempDir tmp(fs::perms(0755));
		writeFile(tmp / "file", "x");
		const PathError notDir = thrown([&] { SafeDir::open(tmp / "file"); });
		CHECK(notDir.refused());
		CHECK(std::string(notDir.what()).find("is a regular file, not a directory") != std::string::npos);

		// Missing is a fault, to be retried, not a refusal.
		const PathError missing = thrown([&] { SafeDir::open(tmp / "missing"); });
		CHECK_FALSE(missing.refused());
		CHECK(missing.code().value() == ENOENT);
		CHECK(std::string(missing.what()).find(tmp / "missing") != std::string::npos);
	}

	TEST_CASE("a FIFO at any name is refused at once, never opened for long")
	{
		TempDir tmp(fs::perms(0755));
		REQUIRE(::mkfifo((tmp / "hosts").c_str(), 0644) == 0);
		REQUIRE(::mkfifo((tmp / "lock").c_str(), 0644) == 0);
		REQUIRE(::mkfifo((tmp / "zeroconf").c_str(), 0644) == 0);
		const SafeDir dir = SafeDir::open(tmp.path().string());
		const PathError file = thrown([&] { dir.replace("hosts", "x\n"); });
		CHECK(file.refused());
		CHECK(std::string(file.what()).find("is a FIFO, not a regular file") != std::string::npos);
		CHECK(thrown([&] { dir.openFile("lock"); }).refused());
		CHECK(thrown([&] { dir.subdir("zeroconf"); }).refused());
		CHECK(thrown([&] { SafeDir::open(tmp / "zeroconf"); }).refused());
		CHECK(S_ISFIFO(lstatOf(tmp / "hosts").st_mode));
		CHECK(S_ISFIFO(lstatOf(tmp / "lock").st_mode));
		CHECK(entries(tmp.path()) == 3);
	}

	TEST_CASE("a planted temporary name is skipped, never opened; too many give up")
	{
		TempDir tmp(fs::perms(0755));
		REQUIRE(::mkfifo((tmp / "planted").c_str(), 0644) == 0);
		writeFile(tmp / "planted-file", "theirs\n");
		const SafeDir dir = SafeDir::open(tmp.path().string());
		int calls = 0;
		dir.replace("hosts", "ours\n", [&](const std::string &name) {
			CHECK(name == "hosts");
			++calls;
			return calls == 1 ? std::string("planted") : calls == 2 ? std::string("planted-file")
										: "fresh";
		});
		CHECK(calls == 3);
		CHECK(readFile(tmp / "hosts") == "ours\n");
		CHECK(S_ISFIFO(lstatOf(tmp / "planted").st_mode));
		CHECK(readFile(tmp / "planted-file") == "theirs\n");
		CHECK(!fs::exists(tmp / "fresh"));

		calls = 0;
		const PathError full = thrown([&] {
			dir.replace("hosts", "new\n", [&](const std::string &) {
				++calls;
				return std::string("planted");
			});
		});
		CHECK_FALSE(full.refused());
		CHECK(full.code().value() == EEXIST);
		CHECK(calls == 8);
		CHECK(readFile(tmp / "hosts") == "ours\n");
	}

	TEST_CASE("a FIFO at the old predictable temporary name no longer stops a write")
	{
		// The name writeAtomically used before: PATH.tmp.PID, opened
		// without O_EXCL, so a FIFO there blocked the daemon for good.
		TempDir tmp(fs::perms(0755));
		const std::string old = tmp / ("hosts.tmp." + std::to_string(::getpid()));
		REQUIRE(::mkfifo(old.c_str(), 0644) == 0);
		writeAtomically(tmp / "hosts", "x\n");
		CHECK(readFile(tmp / "hosts") == "x\n");
		CHECK(S_ISFIFO(lstatOf(old).st_mode));
		CHECK(entries(tmp.path()) == 2);
	}

	TEST_CASE("the lock is made once, opened again as the same file, refused with two links")
	{
		TempDir tmp(fs::perms(0755));
		const SafeDir dir = SafeDir::open(tmp.path().string());
		const UniqueFd first = dir.openFile("lock");
		REQUIRE(first.get() >= 0);
		struct stat a {
		}, b{};
		REQUIRE(::fstat(first.get(), &a) == 0);
		const UniqueFd again = dir.openFile("lock");
		REQUIRE(::fstat(again.get(), &b) == 0);
		CHECK(a.st_ino == b.st_ino);
		CHECK((a.st_mode & 07777) == 0644);
		CHECK((::fcntl(again.get(), F_GETFL) & O_ACCMODE) == O_RDWR);

		REQUIRE(::link((tmp / "lock").c_str(), (tmp / "lock2").c_str()) == 0);
		const PathError linked = thrown([&] { dir.openFile("lock"); });
		CHECK(linked.refused());
		CHECK(std::string(linked.what()).find("2 hard links") != std::string::npos);
	}

	TEST_CASE("a directory others may write is refused unless it is a sticky one of root's")
	{
		TempDir tmp(fs::perms(0755));
		fs::create_directory(tmp / "open");
		fs::permissions(tmp / "open", fs::perms(0777));
		const PathError open = thrown([&] { SafeDir::open(tmp / "open"); });
		CHECK(open.refused());
		CHECK(std::string(open.what()).find("mode 0777") != std::string::npos);

		fs::create_directory(tmp / "open/inner");
		CHECK(thrown([&] { SafeDir::open(tmp / "open/inner"); }).refused()); // on the way too

		fs::create_directory(tmp / "group");
		fs::permissions(tmp / "group", fs::perms(0775));
		CHECK(thrown([&] { SafeDir::open(tmp / "group"); }).refused());

		const SafeDir parent = SafeDir::open(tmp.path().string());
		fs::create_directory(tmp / "sub");
		fs::permissions(tmp / "sub", fs::perms(0777));
		CHECK(thrown([&] { parent.subdir("sub"); }).refused());

		fs::permissions(tmp / "open", fs::perms(01777));
		if (::geteuid() == 0)
			CHECK_NOTHROW(SafeDir::open(tmp / "open/inner"));
		else
			CHECK(thrown([&] { SafeDir::open(tmp / "open/inner"); }).refused());
	}

	TEST_CASE("as root: files go to the directory's owner; another user's directory or file is refused")
	{
		if (!isRoot())
			return;
		TempDir tmp(fs::perms(0755));
		fs::create_directory(tmp / "outside");
		const std::string user = tmp / "user";
		fs::create_directory(user);
		REQUIRE(::chown(user.c_str(), kUser, kUser) == 0);

		const SafeDir dir = SafeDir::open(user);
		CHECK(dir.owner() == kUser);
		dir.replace("hosts", "x\n");
		CHECK(lstatOf(user + "/hosts").st_uid == kUser);
		CHECK((lstatOf(user + "/hosts").st_mode & 07777) == 0644);
		const SafeDir zeroconf = dir.subdir("zeroconf");
		CHECK(lstatOf(user + "/zeroconf").st_uid == kUser);
		CHECK(zeroconf.owner() == kUser);
		const UniqueFd lock = zeroconf.openFile("lock");
		CHECK(lstatOf(user + "/zeroconf/lock").st_uid == kUser);

		// A root-owned directory inside is fine: the user could not have
		// made it.
		fs::create_directory(user + "/rootdir");
		CHECK_NOTHROW(dir.subdir("rootdir"));

		// Another user's directory where ours goes.
		fs::create_directory(user + "/foreign");
		REQUIRE(::chown((user + "/foreign").c_str(), kOther, kOther) == 0);
		const PathError sub = thrown([&] { dir.subdir("foreign"); });
		CHECK(sub.refused());
		CHECK(std::string(sub.what()).find("owned by uid 65533") != std::string::npos);
		// ... on the way to the user's directory.
		fs::create_directory(user + "/foreign/mine");
		REQUIRE(::chown((user + "/foreign/mine").c_str(), kUser, kUser) == 0);
		CHECK(thrown([&] { SafeDir::open(user + "/foreign/mine"); }).refused());

		// Another user's file where the hosts file or the lock goes.
		writeFile(user + "/zeroconf/hosts", "theirs\n");
		REQUIRE(::chown((user + "/zeroconf/hosts").c_str(), kOther, kOther) == 0);
		CHECK(thrown([&] { zeroconf.replace("hosts", "x\n"); }).refused());
		CHECK(readFile(user + "/zeroconf/hosts") == "theirs\n");
		REQUIRE(::fchownat(AT_FDCWD, (user + "/zeroconf/lock").c_str(), kOther, kOther, 0) == 0);
		CHECK(thrown([&] { zeroconf.openFile("lock"); }).refused());

		// The walk's subject: a link the user planted to a root directory
		// gets nothing made in it and keeps its owner.
		fs::create_directory_symlink(tmp / "outside", user + "/evil");
		REQUIRE(::lchown((user + "/evil").c_str(), kUser, kUser) == 0);
		CHECK(thrown([&] { dir.subdir("evil"); }).refused());
		CHECK(lstatOf(tmp / "outside").st_uid == 0);
		CHECK(entries(tmp / "outside") == 0);
	}

	TEST_CASE("faults are counted once per cause until a success")
	{
		PathFaults faults("test file");
		const PathError full(ENOSPC, false, "cannot write /x/hosts: No space left on device");
		const PathError link(ELOOP, true, "/x is a symbolic link");
		faults.failed(full);
		faults.failed(full);
		CHECK(faults.pending() == 1);
		faults.failed(link);
		CHECK(faults.pending() == 2);
		faults.succeeded();
		CHECK(faults.pending() == 0);
		for (int i = 0; i < 40; ++i)
			faults.failed(PathError(EIO, false, "cause " + std::to_string(i)));
		CHECK(faults.pending() == 16); // bounded
	}
}

TEST_SUITE("keepers")
{
	TEST_CASE("the hosts file keeper rewrites a deleted file and survives a deleted directory")
	{
		TempDir tmp(fs::perms(0755));
		const std::string dirPath = tmp / "distcc";
		fs::create_directory(dirPath);
		const std::string path = dirPath + "/hosts";
		std::string line = "10.0.0.2/4 localhost/2";
		uv::Loop loop;
		HostsFileKeeper keeper(loop.get(), path, std::chrono::milliseconds(10), [&] { return line; });
		CHECK(readFile(path) == line + "\n");
		CHECK(keeper.writes() == 1);
		CHECK(keeper.current());

		// Deleted with the line unchanged: written again.
		fs::remove(path);
		CHECK(runUntil(loop, [&] { return fs::exists(path); }));
		CHECK(readFile(path) == line + "\n");
		CHECK(keeper.writes() == 2);

		// A new line is written once.
		line = "10.0.0.3/8";
		CHECK(runUntil(loop, [&] { return readFile(path) == line + "\n"; }));
		CHECK(keeper.writes() == 3);

		// The directory goes: no throw, retried; back: the file is back.
		fs::remove_all(dirPath);
		CHECK(runUntil(loop, [&] { return !keeper.current(); }));
		fs::create_directory(dirPath);
		CHECK(runUntil(loop, [&] { return fs::exists(path) && keeper.current(); }));
		CHECK(readFile(path) == line + "\n");

		// A FIFO where the file goes: refused, left alone, and the loop
		// keeps turning.
		fs::remove(path);
		REQUIRE(::mkfifo(path.c_str(), 0644) == 0);
		CHECK(runUntil(loop, [&] { return !keeper.current(); }));
		int turns = 0;
		CHECK(runUntil(loop, [&] { return ++turns > 20; }));
		CHECK(S_ISFIFO(lstatOf(path).st_mode));
		fs::remove(path);
		CHECK(runUntil(loop, [&] { return keeper.current(); }));
	}

	TEST_CASE("the hosts file keeper makes its missing directory at start, and recovers from an unusable one")
	{
		TempDir tmp(fs::perms(0755));
		const std::string path = tmp / "later/hosts";
		uv::Loop loop;
		{
			// distcc makes ~/.distcc only when it first runs: made here.
			HostsFileKeeper keeper(loop.get(), path, std::chrono::milliseconds(10),
					       [] { return std::string("x"); });
			CHECK(keeper.writes() == 1);
			CHECK(keeper.current());
			CHECK(readFile(path) == "x\n");
			CHECK((lstatOf(tmp / "later").st_mode & 07777) == 0755);
		}
		// Unusable (others may write it): refused at start, retried, fine
		// once fixed.
		fs::remove_all(tmp / "later");
		fs::create_directory(tmp / "later");
		fs::permissions(tmp / "later", fs::perms(0777));
		HostsFileKeeper keeper(loop.get(), path, std::chrono::milliseconds(10), [] { return std::string("x"); });
		CHECK(keeper.writes() == 0);
		CHECK_FALSE(keeper.current());
		fs::permissions(tmp / "later", fs::perms(0755));
		CHECK(runUntil(loop, [&] { return keeper.current(); }));
		CHECK(readFile(path) == "x\n");
		CHECK_THROWS_AS(HostsFileKeeper(loop.get(), tmp / "later/", std::chrono::milliseconds(10),
						[] { return std::string("x"); }),
				PathError);
	}

	TEST_CASE("the zeroconf keeper holds the lock, writes remote hosts, refuses a linked zeroconf")
	{
		TempDir tmp(fs::perms(0755));
		const std::string distccDir = tmp / "distcc";
		fs::create_directory(distccDir);
		fs::create_directory(tmp / "outside");
		uv::Loop loop;
		ZeroconfCompat compat(loop.get(), distccDir, std::chrono::milliseconds(10),
				      [] { return std::string("10.0.0.2/4,lzo localhost/2"); });
		CHECK(compat.holdsLock());
		CHECK(readFile(distccDir + "/zeroconf/hosts") == "10.0.0.2/4,lzo\n");

		// The lock deleted: a new one is made and held (its inode number
		// may be the old one's, so /proc/locks says which file is locked).
		const std::string lock = distccDir + "/zeroconf/lock";
		CHECK(locked(lock));
		fs::remove(lock);
		CHECK(runUntil(loop, [&] { return fs::exists(lock) && locked(lock); }));
		CHECK(compat.holdsLock());

		// zeroconf swapped for a link to a directory outside: nothing
		// appears there; the real directory back, the files are back.
		fs::rename(distccDir + "/zeroconf", tmp / "old");
		fs::create_directory_symlink(tmp / "outside", distccDir + "/zeroconf");
		int turns = 0;
		CHECK(runUntil(loop, [&] { return ++turns > 20; }));
		CHECK(entries(tmp / "outside") == 0);
		fs::remove(distccDir + "/zeroconf");
		CHECK(runUntil(loop, [&] { return fs::exists(distccDir + "/zeroconf/hosts"); }));
		CHECK(readFile(distccDir + "/zeroconf/hosts") == "10.0.0.2/4,lzo\n");
		CHECK(runUntil(loop, [&] { return fs::exists(distccDir + "/zeroconf/lock"); }));
		CHECK(compat.holdsLock());
	}

	TEST_CASE("the zeroconf keeper starts without its directory and recovers")
	{
		TempDir tmp(fs::perms(0755));
		const std::string distccDir = tmp / "distcc";
		uv::Loop loop;
		ZeroconfCompat compat(loop.get(), distccDir, std::chrono::milliseconds(10),
				      [] { return std::string("localhost/2"); });
		CHECK_FALSE(compat.holdsLock());
		fs::create_directory(distccDir);
		CHECK(runUntil(loop, [&] { return fs::exists(distccDir + "/zeroconf/hosts"); }));
		CHECK(readFile(distccDir + "/zeroconf/hosts") == "localhost/2\n");
	}
}
