// Unit tests of the /proc, argv and compiler-output parsers, on real samples.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <string>
#include <string_view>
#include <vector>

#include "host/procfs.h"

using namespace dmdns;
using namespace dmdns::procfs;
using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

// Captured in a network namespace: a dual-stack listener on 3632 with one
// accepted v4-mapped connection and one still in the backlog (inode 0) from
// ::1; an IPv4 listener on 3633 with one connection; the client sides too.
constexpr std::string_view kTcp =
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     \n"
	"   0: 0100007F:0E31 00000000:0000 0A 00000000:00000001 00:00000000 00000000     0        0 38519 2 0000000003c3fc14 100 0 0 10 0                     \n"
	"   1: 0100007F:0E31 0100007F:89BE 01 00000000:00000000 00:00000000 00000000     0        0 0 1 000000008521c8da 20 0 0 10 -1                         \n"
	"   2: 0100007F:89BE 0100007F:0E31 01 00000000:00000000 00:00000000 00000000     0        0 38522 2 0000000023c2df65 20 0 0 10 -1                     \n"
	"   3: 0100007F:D8BE 0100007F:0E30 01 00000000:00000000 00:00000000 00000000     0        0 38520 2 0000000076444f8c 20 0 0 10 -1                     \n";

constexpr std::string_view kTcp6 =
	"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 00000000000000000000000000000000:0E30 00000000000000000000000000000000:0000 0A 00000000:00000001 00:00000000 00000000     0        0 38518 2 000000005ea885de 100 0 0 10 0\n"
	"   1: 00000000000000000000000001000000:0E30 00000000000000000000000001000000:D8F4 01 00000000:00000000 00:00000000 00000000     0        0 0 1 00000000bf7d5ed5 20 0 0 10 -1\n"
	"   2: 0000000000000000FFFF00000100007F:0E30 0000000000000000FFFF00000100007F:D8BE 01 00000000:00000000 00:00000000 00000000     0        0 38523 1 00000000eb747963 20 0 0 10 -1\n"
	"   3: 00000000000000000000000001000000:D8F4 00000000000000000000000001000000:0E30 01 00000000:00000000 00:00000000 00000000     0        0 38521 2 00000000adcdbc26 20 0 0 10 -1\n";

// A line of the IPv4 format with the given fields.
std::string tcpLine(int slot, std::string_view local, std::string_view remote, std::string_view state)
{
	return std::string("  ") + std::to_string(slot) + ": " + std::string(local) + " " + std::string(remote) +
	       " " + std::string(state) +
	       " 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 20 0 0 10 -1\n";
}

std::vector<TcpEntry> both()
{
	std::vector<TcpEntry> all = parseTcp(kTcp);
	const std::vector<TcpEntry> v6 = parseTcp(kTcp6);
	all.insert(all.end(), v6.begin(), v6.end());
	return all;
}

std::vector<std::string> args(std::initializer_list<const char *> list)
{
	return { list.begin(), list.end() };
}

} // namespace

TEST_SUITE("procfs")
{
	TEST_CASE("IPv4 sample: every socket line, header skipped")
	{
		const auto entries = parseTcp(kTcp);
		REQUIRE(entries.size() == 4);
		CHECK_FALSE(entries[0].local.ipv6);
		CHECK(entries[0].local.port == 3633);
		CHECK(entries[0].remote.port == 0);
		CHECK(entries[0].state == kTcpListen);
		CHECK(entries[1].remote.port == 0x89BE);
		CHECK(entries[1].state == kTcpEstablished);
		CHECK(entries[3].local.port == 0xD8BE);
		CHECK(entries[3].remote.port == 3632);
		if constexpr (std::endian::native == std::endian::little) {
			CHECK(entries[0].local.addressText() == "127.0.0.1");
			CHECK(entries[0].remote.addressText() == "0.0.0.0");
		}
	}

	TEST_CASE("IPv6 sample: any, loopback and v4-mapped addresses")
	{
		const auto entries = parseTcp(kTcp6);
		REQUIRE(entries.size() == 4);
		for (const TcpEntry &e : entries) {
			CHECK(e.local.ipv6);
			CHECK(e.remote.ipv6);
		}
		CHECK(entries[0].state == kTcpListen);
		CHECK(entries[0].local.port == 3632);
		if constexpr (std::endian::native == std::endian::little) {
			CHECK(entries[0].local.addressText() == "::");
			CHECK(entries[1].local.addressText() == "::1");
			CHECK(entries[2].local.addressText() == "::ffff:127.0.0.1");
			CHECK(entries[2].remote.addressText() == "::ffff:127.0.0.1");
		}
	}

	TEST_CASE("listening and established count only the server side of the port")
	{
		const auto all = both();
		CHECK(listening(all, 3632));
		CHECK(listening(all, 3633));
		CHECK_FALSE(listening(all, 3634));
		// 3632: the accepted v4-mapped one and the one still queued; the
		// client side (local D8BE, remote 0E30) is not a job.
		CHECK(established(all, 3632) == 2);
		CHECK(established(all, 3633) == 1);
		// Ephemeral client ports have connections but no listener.
		CHECK(established(all, 0xD8BE) == 1);
		CHECK_FALSE(listening(all, 0xD8BE));
		CHECK(established(all, 3634) == 0);
		CHECK(established({}, 3632) == 0);
	}

	TEST_CASE("other states are neither listening nor established")
	{
		std::string text;
		const char *states[] = { "02", "03", "04", "05", "06", "07", "08", "09", "0B", "0C", "FF" };
		int slot = 0;
		for (const char *st : states)
			text += tcpLine(slot++, "0100007F:0E30", "0100007F:A000", st);
		const auto entries = parseTcp(text);
		CHECK(entries.size() == std::size(states));
		CHECK_FALSE(listening(entries, 3632));
		CHECK(established(entries, 3632) == 0);
		// Lower-case hex and a final line without newline are fine.
		const auto lower = parseTcp("   0: 0100007f:0e30 00000000:0000 0a 00000000:00000000 00:00000000 00000000 0 0 1 1");
		REQUIRE(lower.size() == 1);
		CHECK(listening(lower, 3632));
	}

	TEST_CASE("malformed lines are skipped, the good ones around them kept")
	{
		const std::string good = tcpLine(7, "0100007F:0E30", "0100007F:A000", "01");
		const std::string bad[] = {
			"",
			"\n",
			"garbage\n",
			"   0:\n",
			"   0: 0100007F:0E30\n",
			"   0: 0100007F:0E30 0100007F:A000\n",				  // no state
			"   0: 0100007F:0E30 0100007F:A000 1\n",			  // one-digit state
			"   0: 0100007F:0E30 0100007F:A000 001\n",			  // three-digit state
			"   0: 0100007F:0E30 0100007F:A000 0G\n",			  // not hex
			"   0: 0100007F:E30 0100007F:A000 01\n",			  // three-digit port
			"   0: 0100007F:10E30 0100007F:A000 01\n",			  // port > 65535
			"   0: 100007F:0E30 0100007F:A000 01\n",			  // 7-digit address
			"   0: 0100007F0E30 0100007F:A000 01\n",			  // no colon
			"   0: 0100007F:0E30 00000000000000000000000001000000:A000 01\n", // mixed families
			"   0: 0100007Z:0E30 0100007F:A000 01\n",
			"  -1: 0100007F:0E30 0100007F:A000 01\n", // signed slot
			"   x: 0100007F:0E30 0100007F:A000 01\n",
			"0100007F:0E30 0100007F:A000 01\n",					      // no slot
			"   99999999999999999999999: 0100007F:0E30 0100007F:A000 01\n",		      // absurd slot
			"   0: 0100007F:0E30 0100007F:A000 01"s + std::string("\0\0\xff", 3) + "x\n", // junk after the state token
			std::string("\0\0\0\xff\xfe\n", 6),
			"   0: :0E30 0100007F:A000 01\n",
			"   0: 0100007F: 0100007F:A000 01\n",
		};
		std::string text = good;
		for (const std::string &b : bad)
			text += b + good;
		const auto entries = parseTcp(text);
		CHECK(entries.size() == std::size(bad) + 1);
		CHECK(established(entries, 3632) == std::size(bad) + 1);
	}

	TEST_CASE("the entry bound holds, and huge input is read without trouble")
	{
		std::string text;
		for (int i = 0; i < 5000; ++i)
			text += tcpLine(i, "0100007F:0E30", "0100007F:A000", "01");
		CHECK(parseTcp(text, 10).size() == 10);
		CHECK(parseTcp(text, 0).empty());
		CHECK(parseTcp(text).size() == 5000);

		// 16 MiB in one line, and 16 MiB of newlines: no entries, no crash.
		const std::string oneLine(16u << 20, 'A');
		CHECK(parseTcp(oneLine).empty());
		const std::string newlines(16u << 20, '\n');
		CHECK(parseTcp(newlines).empty());
		// Many more lines than the default bound.
		std::string many;
		const std::string line = tcpLine(0, "00000000:0E30", "00000000:0000", "0A");
		many.reserve(line.size() * (kMaxTcpEntries + 100));
		for (std::size_t i = 0; i < kMaxTcpEntries + 100; ++i)
			many += line;
		CHECK(parseTcp(many).size() == kMaxTcpEntries);
	}

	TEST_CASE("the owner uid and inode of each socket, from the columns after the state")
	{
		// A listener of user 65534 (anyone may bind 3632) beside distccd's
		// (uid 102), as captured with both running in one namespace.
		constexpr std::string_view owners =
			"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
			"   0: 0100007F:0E30 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65534        0 15324 1 00000000f8fa306b 100 0 0 10 0\n"
			"   1: 0200000A:0E30 00000000:0000 0A 00000000:00000000 00:00000000 00000000   102        0 15400 1 0000000000000000 100 0 0 10 0\n"
			"   2: 0200000A:0E30 0100000A:A001 01 00000000:00000000 00:00000000 00000000   102        0 15401 1 0000000000000000 20 0 0 10 -1\n"
			"   3: 0200000A:0E31 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 15402 1 0000000000000000 100 0 0 10 0\n";
		const auto entries = parseTcp(owners);
		REQUIRE(entries.size() == 4);
		CHECK(entries[0].uid == 65534u);
		CHECK(entries[0].inode == 15324u);
		CHECK(entries[2].uid == 102u);
		CHECK(entries[2].inode == 15401u);

		const auto on3632 = listeners(entries, 3632);
		REQUIRE(on3632.size() == 2); // not the connection, not the other port
		CHECK(on3632[0].uid == 65534u);
		CHECK(on3632[1].uid == 102u);
		CHECK(on3632[1].inode == 15400u);
		REQUIRE(listeners(entries, 3633).size() == 1);
		CHECK(listeners(entries, 3633)[0].uid == 0u);
		CHECK(listeners(entries, 3634).empty());

		// Both captured samples: root's sockets, the backlog one without inode.
		const auto all = both();
		CHECK(all[0].uid == 0u);
		CHECK(all[0].inode == 38519u);
		CHECK(all[1].uid == 0u);
		CHECK(all[1].inode == 0u);
		REQUIRE(listeners(all, 3632).size() == 1);
		CHECK(listeners(all, 3632)[0].inode == 38518u);
		CHECK(listeners(all, 3632)[0].local.ipv6);
	}

	TEST_CASE("a line without a well-formed owner column keeps its state but has no owner")
	{
		const std::string head = "   0: 0100007F:0E30 00000000:0000 0A";
		const std::string cut[] = {
			head,											// cut after the state
			head + " 00000000:00000000 00:00000000 00000000",					// cut before the uid
			head + " 00000000:00000000 00:00000000 00000000 -1 0 7 1",				// signed uid
			head + " 00000000:00000000 00:00000000 00000000 4294967296 0 7 1",			// uid > 32 bits
			head + " 00000000:00000000 00:00000000 00000000 0x10 0 7 1",				// not decimal
			head + " 00000000:00000000 00:00000000 0000000G 0 0 7 1",				// bad retransmits
			head + " 0000000000000000 00:00000000 00000000 0 0 7 1",				// queues without ':'
			head + " 00000000:00000000 0000000000 00000000 0 0 7 1",				// timer without ':'
			head + " 00000000:00000000 00:00000000 00000000 1"s + std::string("\0", 1) + "0 0 7 1", // NUL in the uid
		};
		for (const std::string &line : cut) {
			CAPTURE(line);
			const auto entries = parseTcp(line);
			REQUIRE(entries.size() == 1);
			CHECK(entries[0].state == kTcpListen);
			CHECK(listening(entries, 3632));
			CHECK_FALSE(entries[0].uid);
			CHECK(entries[0].inode == 0u);
		}
		// The owner without a readable inode is still the owner.
		const auto noInode = parseTcp(head + " 00000000:00000000 00:00000000 00000000 1000 0 x 1");
		REQUIRE(noInode.size() == 1);
		CHECK(noInode[0].uid == 1000u);
		CHECK(noInode[0].inode == 0u);
		// The largest values the kernel may print.
		const auto largest = parseTcp(head + " 00000000:00000000 00:00000000 00000000 4294967295 0 18446744073709551615 1");
		REQUIRE(largest.size() == 1);
		CHECK(largest[0].uid == UINT32_MAX);
		CHECK(largest[0].inode == UINT64_MAX);
	}

	TEST_CASE("status: the real and effective uid; socket links: the inode")
	{
		// distccd after dropping root, as /proc/PID/status shows it.
		const auto dropped = parseStatusUids("Name:\tdistccd\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t5475\n"
						     "Pid:\t5475\nPPid:\t1\nTracerPid:\t0\nUid:\t102\t102\t102\t102\n"
						     "Gid:\t65534\t65534\t65534\t65534\n");
		REQUIRE(dropped);
		CHECK(dropped->real == 102u);
		CHECK(dropped->effective == 102u);
		const auto setuid = parseStatusUids("Uid:\t1000\t0\t0\t0\n");
		REQUIRE(setuid);
		CHECK(setuid->real == 1000u);
		CHECK(setuid->effective == 0u);
		// A name that looks like the line does not count: only a line start.
		const auto tricky = parseStatusUids("Name:\tUid:\t0\t0\nUid:\t7\t8\t8\t8\n");
		REQUIRE(tricky);
		CHECK(tricky->real == 7u);
		for (std::string_view bad : { ""sv, "Name:\tx\n"sv, "Uid:\n"sv, "Uid:\t5\n"sv, "Uid:\t-1\t0\t0\t0\n"sv,
					      "Uid:\t4294967296\t0\t0\t0\n"sv, "Uid:\tzero\t0\t0\t0\n"sv }) {
			CAPTURE(bad);
			CHECK_FALSE(parseStatusUids(bad));
		}

		CHECK(parseSocketLink("socket:[15324]") == 15324u);
		CHECK(parseSocketLink("socket:[18446744073709551615]") == UINT64_MAX);
		for (std::string_view bad : { "pipe:[15324]"sv, "socket:[]"sv, "socket:[0]"sv, "socket:[x]"sv,
					      "socket:[15324"sv, "socket:15324]"sv, "/tmp/socket:[1]"sv,
					      "socket:[18446744073709551616]"sv, "anon_inode:[eventfd]"sv })
			CHECK_FALSE(parseSocketLink(bad));
	}

	TEST_CASE("loadavg: runnable tasks and the 1-minute load")
	{
		auto l = parseLoadavg("0.43 1.03 0.58 1/85 7060\n");
		REQUIRE(l);
		CHECK(l->load1 == doctest::Approx(0.43));
		CHECK(l->runnable == 1);
		CHECK(l->tasks == 85);
		l = parseLoadavg("123.99 64.00 12.50 37/1523 4194303");
		REQUIRE(l);
		CHECK(l->load1 == doctest::Approx(123.99));
		CHECK(l->runnable == 37);
		CHECK(l->tasks == 1523);
		l = parseLoadavg("0.00 0.00 0.00 0/0 1");
		REQUIRE(l);
		CHECK(l->runnable == 0);

		for (std::string_view bad : {
			     ""sv, "\n"sv, "0.43 1.03 0.58 1/85"sv, "0.43 1.03 0.58 1/85 7060 extra"sv,
			     "0.43 1.03 0.58 185 7060"sv, "0.43 1.03 0.58 /85 7060"sv, "0.43 1.03 0.58 1/ 7060"sv,
			     "0.43 1.03 0.58 -1/85 7060"sv, "-0.43 1.03 0.58 1/85 7060"sv, "x 1.03 0.58 1/85 7060"sv,
			     "0.43 y 0.58 1/85 7060"sv, "0.43 1.03 0.58 1/85/3 7060"sv,
			     "0.43 1.03 0.58 99999999/99999999 7060"sv, // above PID_MAX_LIMIT
			     "0.43 1.03 0.58 18446744073709551617/85 7060"sv, "1e308 1.03 0.58 1/85 7060"sv,
			     "0.43\0 1.03 0.58 1/85 7060"sv })
			CHECK_MESSAGE(!parseLoadavg(bad), std::string(bad));
	}

	TEST_CASE("cmdline splits on NULs")
	{
		CHECK(splitCmdline("distccd\0--jobs\0"
				   "3\0"sv) == args({ "distccd", "--jobs", "3" }));
		// No final NUL (a process that rewrote its title), inner empty args.
		CHECK(splitCmdline("distccd\0\0-j4"sv) == args({ "distccd", "", "-j4" }));
		CHECK(splitCmdline("").empty());
		CHECK(splitCmdline("\0"sv) == args({ "" }));
		CHECK(splitCmdline("a\0b\0c\0d\0"sv, 2) == args({ "a", "b" }));
		const std::string many(100000, '\0');
		CHECK(splitCmdline(many).size() == kMaxArgs);
	}

	TEST_CASE("distccd is recognised by the basename of argv[0]")
	{
		CHECK(parseDistccd(args({ "distccd" })));
		CHECK(parseDistccd(args({ "/usr/bin/distccd", "--daemon" })));
		CHECK(parseDistccd(args({ "/usr/local/sbin/distccd" })));
		CHECK_FALSE(parseDistccd(args({ "distcc" })));
		CHECK_FALSE(parseDistccd(args({ "distccd-wrapper" })));
		CHECK_FALSE(parseDistccd(args({ "/usr/bin/distccd/" })));
		CHECK_FALSE(parseDistccd(args({ "/usr/bin/python3", "distccd" })));
		CHECK_FALSE(parseDistccd(args({ "" })));
		CHECK_FALSE(parseDistccd(std::vector<std::string>{}));
	}

	TEST_CASE("distccd options: --listen, --allow, -a, --allow-private")
	{
		auto d = parseDistccd(args({ "distccd", "--daemon", "--allow", "127.0.0.1", "--listen", "127.0.0.1" }));
		REQUIRE(d);
		REQUIRE(d->listen);
		CHECK(d->listen->text == "127.0.0.1");
		REQUIRE(d->allow.size() == 1);
		CHECK(d->allow[0].text() == "127.0.0.1");
		CHECK_FALSE(d->allowUnknown);

		d = parseDistccd(args({ "distccd", "-a", "10.0.0.0/8", "-a192.168.1.0/24", "--allow=fd00::/8",
					"--allow-private", "--listen=::" }));
		REQUIRE(d);
		std::vector<std::string> allowed;
		for (const Network &n : d->allow)
			allowed.push_back(n.text());
		// --allow-private repeats 10.0.0.0/8: listed once.
		CHECK(allowed == args({ "10.0.0.0/8", "192.168.1.0/24", "fd00::/8", "172.16.0.0/12", "192.168.0.0/16",
					"127.0.0.0/8" }));
		CHECK(d->listen->text == "::");

		// One unreadable --allow, or too many, makes the list incomplete.
		d = parseDistccd(args({ "distccd", "--allow", "build-net", "--allow", "10.0.0.0/8" }));
		REQUIRE(d);
		CHECK(d->allowUnknown);
		std::vector<std::string> many{ "distccd" };
		for (std::size_t i = 0; i <= kMaxAllow; ++i)
			many.push_back("--allow=10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256));
		d = parseDistccd(many);
		REQUIRE(d);
		CHECK(d->allow.size() == kMaxAllow);
		CHECK(d->allowUnknown);
		// A value that looks like an option is still --allow's value (popt).
		d = parseDistccd(args({ "distccd", "--allow", "--jobs" }));
		REQUIRE(d);
		CHECK(d->allowUnknown);
		CHECK_FALSE(d->jobs);
	}

	TEST_CASE("distccd options: --jobs, -j, --port, -p in every spelling")
	{
		auto d = parseDistccd(args({ "distccd", "--daemon", "--allow", "10.0.0.0/8" }));
		REQUIRE(d);
		CHECK(d->port == kDistccPort);
		CHECK_FALSE(d->jobs);
		CHECK_FALSE(d->inetd);

		for (auto argv : { args({ "distccd", "--jobs", "12" }), args({ "distccd", "--jobs=12" }),
				   args({ "distccd", "-j", "12" }), args({ "distccd", "-j12" }),
				   args({ "distccd", "-j=12" }), args({ "distccd", "--jobs", "3", "-j12" }) }) {
			d = parseDistccd(argv);
			REQUIRE(d);
			CHECK(d->jobs == 12u);
		}
		for (auto argv : { args({ "distccd", "--port", "3700" }), args({ "distccd", "--port=3700" }),
				   args({ "distccd", "-p", "3700" }), args({ "distccd", "-p3700" }) }) {
			d = parseDistccd(argv);
			REQUIRE(d);
			CHECK(d->port == 3700);
		}

		// Debian's init script, as ps shows it.
		d = parseDistccd(args({ "/usr/bin/distccd", "--pid-file=/var/run/distccd.pid", "--log-file=/var/log/distccd.log",
					"--daemon", "--allow", "192.168.0.0/16", "--listen", "0.0.0.0", "--nice", "10",
					"--jobs", "18", "--zeroconf" }));
		REQUIRE(d);
		CHECK(d->jobs == 18u);
		CHECK(d->port == kDistccPort);

		d = parseDistccd(args({ "distccd", "--inetd" }));
		REQUIRE(d);
		CHECK(d->inetd);
	}

	TEST_CASE("distccd option values are not mistaken for options")
	{
		auto d = parseDistccd(args({ "distccd", "--log-file", "-j", "--allow", "-p", "-P", "--jobs", "-N", "5" }));
		REQUIRE(d);
		CHECK_FALSE(d->jobs);
		CHECK(d->port == kDistccPort);
		// After "--" nothing is an option.
		d = parseDistccd(args({ "distccd", "-j", "4", "--", "-j", "9" }));
		REQUIRE(d);
		CHECK(d->jobs == 4u);
		// Unknown options and flags are passed over.
		d = parseDistccd(args({ "distccd", "--verbose", "--weird=1", "-x", "-", "-j", "6" }));
		REQUIRE(d);
		CHECK(d->jobs == 6u);
	}

	TEST_CASE("a distccd with an option it would refuse is no distccd")
	{
		for (auto argv : { args({ "distccd", "--jobs", "0" }), args({ "distccd", "--jobs", "4097" }),
				   args({ "distccd", "--jobs", "99999999999999999999999" }),
				   args({ "distccd", "--jobs", "-3" }), args({ "distccd", "--jobs", "abc" }),
				   args({ "distccd", "--jobs", " 4" }), args({ "distccd", "--jobs=" }),
				   args({ "distccd", "--jobs" }), args({ "distccd", "-j" }), args({ "distccd", "-jx" }),
				   args({ "distccd", "--port", "0" }), args({ "distccd", "--port", "65536" }),
				   args({ "distccd", "-p", "0x10" }), args({ "distccd", "--port" }) })
			CHECK_FALSE(parseDistccd(argv));
		auto d = parseDistccd(args({ "distccd", "--jobs", "4096", "--port", "65535" }));
		REQUIRE(d);
		CHECK(d->jobs == 4096u);
		CHECK(d->port == 65535);
		d = parseDistccd(args({ "distccd", "-j", "1", "-p", "1" }));
		REQUIRE(d);
		CHECK(d->jobs == 1u);
		CHECK(d->port == 1);
	}

	TEST_CASE("compiler names of a masquerade directory")
	{
		for (std::string_view ok : { "cc", "gcc", "c++", "g++-12", "x86_64-linux-gnu-g++-12", "clang++-14",
					     "c89-gcc", "aarch64-linux-gnu-gcc-12.2" })
			CHECK_MESSAGE(validCompilerName(ok), std::string(ok));
		for (std::string_view bad : { "", ".", "..", ".hidden", "-v", "a/b", "a b", "gcc\n", "g$cc",
					      "gcc;rm", "\xc3\xa9" })
			CHECK_MESSAGE(!validCompilerName(bad), std::string(bad));
		CHECK_FALSE(validCompilerName(std::string(256, 'a')));
		CHECK(validCompilerName(std::string(255, 'a')));
	}

	TEST_CASE("compiler output: one advertisable line each")
	{
		auto c = parseCompilerOutput("x86_64-linux-gnu\n", "12\n");
		REQUIRE(c);
		CHECK(*c == Compiler{ "x86_64-linux-gnu", "12" });
		c = parseCompilerOutput("x86_64-pc-linux-gnu\n", "14.0.6\n");
		REQUIRE(c);
		CHECK(c->version == "14.0.6");
		CHECK(parseCompilerOutput("aarch64-linux-gnu", "12.2.0+deb~1"));
		CHECK(parseCompilerOutput("x86_64-linux-gnu\r\n", "12 \n"));

		const std::pair<std::string_view, std::string_view> bad[] = {
			{ "", "12" },
			{ "x86_64-linux-gnu", "" },
			{ "\n", "12\n" },
			{ "x86_64-linux-gnu\n", "12\n13\n" },
			{ "x86_64-linux-gnu\nfoo\n", "12\n" },
			{ "x86_64 linux", "12" },
			{ "x86+64-linux-gnu", "12" },	// '+' is for versions only
			{ "x86_64-linux-gnu", "12:1" }, // ':' splits the TXT cc list
			{ "x86_64-linux-gnu", "12,1" },
			{ "x86_64-linux-gnu", "gcc: error: unrecognized option" },
			{ " x86_64-linux-gnu", "12" },
			{ "x86_64-linux-gnu", "1\0"sv
					      "2" },
		};
		for (auto [machine, version] : bad) {
			const std::string shown = std::string(machine) + "|" + std::string(version);
			CHECK_MESSAGE(!parseCompilerOutput(machine, version), shown);
		}
		CHECK_FALSE(parseCompilerOutput(std::string(64, 'a'), "12"));
		CHECK(parseCompilerOutput(std::string(63, 'a'), "12"));
		CHECK_FALSE(parseCompilerOutput("x86_64-linux-gnu", std::string(64, '1')));
	}

	TEST_CASE("/proc/locks: held files by device and inode, waiters and junk skipped")
	{
		const auto held = parseLocks("1: POSIX  ADVISORY  WRITE 1234 08:01:131090 0 EOF\n"
					     "1: -> POSIX  ADVISORY  WRITE 1240 08:01:131090 0 EOF\n"
					     "2: FLOCK  ADVISORY  WRITE 99 fd:1a:42 0 EOF\n"
					     "3: POSIX ADVISORY WRITE 5 zz:01:7 0 EOF\n"
					     "garbage\n"
					     "4: OFDLCK ADVISORY READ -1 00:2c:18446744073709551615 0 EOF");
		REQUIRE(held.size() == 3);
		CHECK(held[0] == LockedFile{ 8, 1, 131090 });
		CHECK(held[1] == LockedFile{ 0xfd, 0x1a, 42 });
		CHECK(held[2] == LockedFile{ 0, 0x2c, UINT64_MAX });
		CHECK(parseLocks("1: POSIX ADVISORY WRITE 1 08:01:7 0 EOF\n1: POSIX ADVISORY WRITE 1 08:01:8 0 EOF", 1)
			      .size() == 1);
	}

	TEST_CASE("distcc's slot lock names: host, port and slot")
	{
		auto slot = parseDistccLockName("cpu_tcp_10.0.0.2_3632_3");
		REQUIRE(slot);
		CHECK(slot->host == "10.0.0.2");
		CHECK(slot->port == 3632);
		CHECK(slot->slot == 3);
		slot = parseDistccLockName("cpu_tcp_build_host.example_4000_0");
		REQUIRE(slot);
		CHECK(slot->host == "build_host.example");
		CHECK(slot->port == 4000);
		for (const char *bad : { "cpu_localhost_0", "backoff_tcp_10.0.0.2_3632_0", "cpu_tcp__3632_0",
					 "cpu_tcp_h_0_1", "cpu_tcp_h_3632_", "cpu_tcp_h_3632", "cpu_tcp_h_x_1" })
			CHECK_MESSAGE(!parseDistccLockName(bad), bad);
	}

	TEST_CASE("the parent pid of /proc/PID/stat, whatever the command name holds")
	{
		CHECK(parseStatParent("4242 (distcc) S 4000 4242 4000 0 -1") == 4000u);
		CHECK(parseStatParent("7 (a) b) R 1 7") == 1u);
		CHECK(parseStatParent("7 (x) R 0") == 0u);
		for (const char *bad : { "", "7 (x", "7 (x) R", "7 (x) R x 1", "7 (x)R 1", "7 (x) RR 1", "7 (x) R -1" })
			CHECK_MESSAGE(!parseStatParent(bad), bad);
		// With the state: a zombie's is 'Z'.
		const auto head = parseStatHead("9 (sleep) Z 1 9");
		REQUIRE(head);
		CHECK(head->state == 'Z');
		CHECK(head->parent == 1u);
		CHECK(parseStatHead("7 (a) b) R 1 7")->state == 'R');
		CHECK_FALSE(parseStatHead("7 (x) R x 1"));
	}

	TEST_CASE("distcc's backoff file names: the kind must match")
	{
		auto backoff = parseDistccLockName("backoff_tcp_10.0.0.2_3632_0", "backoff");
		REQUIRE(backoff);
		CHECK(backoff->host == "10.0.0.2");
		CHECK(backoff->port == 3632);
		CHECK(!parseDistccLockName("cpu_tcp_10.0.0.2_3632_0", "backoff"));
		CHECK(!parseDistccLockName("backofftcp_10.0.0.2_3632_0", "backoff"));
		CHECK(!parseDistccLockName("backoff_tcp_10.0.0.2_3632_0", ""));
		CHECK(!parseDistccLockName("backoff_localhost_0", "backoff"));
	}
}
