// ZeroconfCompat in a temporary $DISTCC_DIR: the hosts file's content, its atomic replacement, the lock.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>

#include "adapter/support.h"
#include "daemon/zeroconf_compat.h"
#include "support/fake_clock.h"

using namespace dmdns;
using namespace std::chrono_literals;

namespace {

constexpr std::chrono::milliseconds kInterval{ 1000 };

std::string contentOf(const std::string &path)
{
	std::ifstream in(path);
	REQUIRE(in);
	std::ostringstream out;
	out << in.rdbuf();
	return out.str();
}

std::string contentOf(int fd)
{
	std::string all;
	char buf[256];
	for (off_t at = 0;;) {
		const ssize_t n = ::pread(fd, buf, sizeof buf, at);
		REQUIRE(n >= 0);
		if (n == 0)
			return all;
		all.append(buf, static_cast<std::size_t>(n));
		at += n;
	}
}

ino_t inodeOf(const std::string &path)
{
	struct stat st { };
	REQUIRE(::stat(path.c_str(), &st) == 0);
	return st.st_ino;
}

std::set<std::string> namesIn(const std::string &dir)
{
	std::set<std::string> names;
	for (const auto &e : std::filesystem::directory_iterator(dir))
		names.insert(e.path().filename());
	return names;
}

// Whether another open file description could not take a write lock on
// @path: an OFD lock conflicts with the daemon's classic fcntl lock even
// inside this process.
bool writeLocked(const std::string &path)
{
	test::Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
	REQUIRE(fd.get() >= 0);
	struct flock l { };
	l.l_type = F_WRLCK;
	l.l_whence = SEEK_SET;
	REQUIRE(::fcntl(fd.get(), F_OFD_GETLK, &l) == 0);
	return l.l_type != F_UNLCK;
}

// A $DISTCC_DIR with its zeroconf directory, and the line the daemon
// would answer.
struct Fixture {
	uv::Loop loop;
	test::FakeClock clock;
	test::TempDir distccDir;
	std::string zeroconf = distccDir.file("zeroconf");
	std::string hosts = distccDir.file("zeroconf/hosts");
	std::string line = "10.0.0.2/6,lzo,cpp 10.0.0.3/4,lzo localhost/2";
	std::optional<ZeroconfCompat> compat; // last: its alarm goes before the clock

	Fixture() { REQUIRE(::mkdir(zeroconf.c_str(), 0755) == 0); }

	void start()
	{
		compat.emplace(
			loop.get(), distccDir.file(""), kInterval, [this] { return line; }, &clock);
	}
};

} // namespace

TEST_SUITE("adapter_zeroconf_compat")
{
	TEST_CASE("holds distcc's lock and writes the remote hosts one per line, localhost only when alone")
	{
		Fixture f;
		f.start();
		CHECK(f.compat->holdsLock());
		CHECK(writeLocked(f.distccDir.file("zeroconf/lock")));
		CHECK(contentOf(f.hosts) == "10.0.0.2/6,lzo,cpp\n10.0.0.3/4,lzo\n");
		CHECK(namesIn(f.zeroconf) == std::set<std::string>{ "hosts", "lock" });

		f.line = "localhost/2";
		f.clock.advance(kInterval);
		CHECK(contentOf(f.hosts) == "localhost/2\n");
	}

	TEST_CASE("a new line replaces the file atomically at the next interval: a reader keeps the old one whole")
	{
		Fixture f;
		f.start();
		const ino_t before = inodeOf(f.hosts);
		test::Fd reader(::open(f.hosts.c_str(), O_RDONLY | O_CLOEXEC));
		REQUIRE(reader.get() >= 0);

		f.line = "10.0.0.9/8";
		f.clock.advance(kInterval - 1ms);
		CHECK(contentOf(f.hosts) == "10.0.0.2/6,lzo,cpp\n10.0.0.3/4,lzo\n");
		f.clock.advance(1ms);
		CHECK(contentOf(f.hosts) == "10.0.0.9/8\n");
		CHECK(inodeOf(f.hosts) != before);
		// Renamed over, never rewritten in place: the open file is intact.
		CHECK(contentOf(reader.get()) == "10.0.0.2/6,lzo,cpp\n10.0.0.3/4,lzo\n");
		// No temporary file left behind.
		CHECK(namesIn(f.zeroconf) == std::set<std::string>{ "hosts", "lock" });

		// The same line again is not rewritten.
		const ino_t written = inodeOf(f.hosts);
		f.clock.advance(kInterval);
		CHECK(inodeOf(f.hosts) == written);
	}

	TEST_CASE("a hosts file deleted or a lock file replaced is put right at the next interval")
	{
		Fixture f;
		f.start();
		REQUIRE(std::filesystem::remove(f.hosts));
		f.clock.advance(kInterval);
		CHECK(contentOf(f.hosts) == "10.0.0.2/6,lzo,cpp\n10.0.0.3/4,lzo\n");

		const std::string lock = f.distccDir.file("zeroconf/lock");
		REQUIRE(std::filesystem::remove(lock));
		{
			std::ofstream fresh(lock);
		}
		CHECK_FALSE(writeLocked(lock));
		f.clock.advance(kInterval);
		CHECK(f.compat->holdsLock());
		CHECK(writeLocked(lock));
	}

	TEST_CASE("while a stock browser holds the lock, nothing is written; the lock is taken once it goes")
	{
		Fixture f;
		const std::string lock = f.distccDir.file("zeroconf/lock");
		test::Fd stock(::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
		REQUIRE(stock.get() >= 0);
		struct flock l { };
		l.l_type = F_WRLCK;
		l.l_whence = SEEK_SET;
		REQUIRE(::fcntl(stock.get(), F_OFD_SETLK, &l) == 0);

		f.start();
		CHECK_FALSE(f.compat->holdsLock());
		CHECK_FALSE(std::filesystem::exists(f.hosts));

		stock.reset(); // the stock browser exits
		f.clock.advance(kInterval);
		CHECK(f.compat->holdsLock());
		CHECK(contentOf(f.hosts) == "10.0.0.2/6,lzo,cpp\n10.0.0.3/4,lzo\n");
	}
}
