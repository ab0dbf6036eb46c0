// Unit tests of the gossip wire format: round trips, hostile datagrams, bounds.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "distcc-mdns/gossip_wire.h"
#include "distcc-mdns/host_port.h"
#include "distcc-mdns/text.h"

using namespace dmdns;
using namespace dmdns::wire;

namespace {

Sample busySample()
{
	Sample s;
	s.server = 0x0123456789abcdefULL;
	s.incarnation = 1732750000123ULL;
	s.sequence = 42;
	s.ageMs = 180;
	s.running = 7;
	s.slots = 18;
	s.cpus = 16;
	s.runnable = 3.5;
	s.speed = 1.25;
	s.state = ServerState::Drain;
	s.lzo = true;
	s.cpp = true;
	s.port = 3633;
	return s;
}

Packet everyKind()
{
	Packet p;
	p.header = { kFlagFullState, 0xfeedfacecafebeefULL, 77 };
	p.records = {
		busySample(),
		Leave{ 0x42, 9 },
		Reservation{ 0x1000, 0x0123456789abcdefULL, 5, 3000, 120, 8, 99 },
		Demand{ 0x1000, 8, 100, 250, 64, 8 },
	};
	return p;
}

// Offsets into an encoded datagram, per docs/protocol.md.
constexpr std::size_t kCountAt = kHeaderSize - 1;
constexpr std::size_t kFirstRecord = kHeaderSize;

std::vector<std::uint8_t> oneRecord(const Record &r, std::uint8_t flags = 0)
{
	PacketWriter w({ flags, 0x99, 1 });
	REQUIRE(w.add(r));
	return w.finish();
}

// The byte offset of a field inside the body of the first record.
std::size_t bodyAt(std::size_t offset)
{
	return kFirstRecord + 2 + offset;
}

void putBe(std::vector<std::uint8_t> &b, std::size_t at, std::uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; ++i)
		b[at + i] = static_cast<std::uint8_t>(v >> (8 * (bytes - 1 - i)));
}

} // namespace

TEST_SUITE("gossip_wire")
{
	TEST_CASE("every record type survives a round trip")
	{
		const Packet p = everyKind();
		const auto bytes = encode(p);
		CHECK(bytes.size() == kHeaderSize + 4 * 2 + kSampleSize + kLeaveSize + kReservationSize + kDemandSize);
		const Decoded d = decode(bytes);
		REQUIRE_MESSAGE(d.packet, d.error);
		CHECK(d.error.empty());
		CHECK(d.packet->header == p.header);
		CHECK_FALSE(d.tagged);
		CHECK(d.bodyEnd == bytes.size());
		REQUIRE(d.packet->records.size() == p.records.size());
		for (std::size_t i = 0; i < p.records.size(); ++i)
			CHECK(d.packet->records[i] == p.records[i]);
	}

	TEST_CASE("the header layout is the documented one")
	{
		const auto bytes = encode(everyKind());
		CHECK(bytes[0] == 'd');
		CHECK(bytes[1] == 'G');
		CHECK(bytes[2] == 2);
		CHECK(bytes[3] == kFlagFullState);
		CHECK(bytes[4] == 0xfe); // sender, big-endian
		CHECK(bytes[11] == 0xef);
		CHECK(bytes[19] == 77); // incarnation's low byte
		CHECK(bytes[27] == 0);	// datagram sequence: stamped when sent
		auto stamped = bytes;
		stampSequence(stamped, 0x0102);
		CHECK(stamped[26] == 1);
		CHECK(stamped[27] == 2);
		REQUIRE(decode(stamped).packet);
		CHECK(decode(stamped).packet->header.sequence == 0x0102);
		CHECK(bytes[kCountAt] == 4);
		CHECK(bytes[kFirstRecord] == static_cast<std::uint8_t>(RecordType::Sample));
		CHECK(bytes[kFirstRecord + 1] == kSampleSize);
	}

	TEST_CASE("fixed-point fields keep thousandths and the extremes")
	{
		Sample s = busySample();
		s.runnable = 1e6;
		s.speed = kMinSpeed;
		s.running = 65535;
		s.slots = kMaxSlots;
		s.cpus = kMaxCpus;
		s.ageMs = kMaxAgeMs;
		s.sequence = kMaxCounter - 1;
		s.incarnation = kMaxCounter - 1;
		auto d = decode(oneRecord(s));
		REQUIRE_MESSAGE(d.packet, d.error);
		CHECK(std::get<Sample>(d.packet->records[0]) == s);

		s.speed = kMaxSpeed;
		s.runnable = 0.001;
		s.state = ServerState::Down;
		s.cpp = false;
		s.lzo = false;
		d = decode(oneRecord(s));
		REQUIRE(d.packet);
		CHECK(std::get<Sample>(d.packet->records[0]) == s);
	}

	TEST_CASE("a tagged datagram leaves room for the tag and says where the body ends")
	{
		Packet p = everyKind();
		p.header.flags |= kFlagTagged;
		auto bytes = encode(p);
		CHECK(bytes.size() == encode(everyKind()).size() + kTagSize);
		for (std::size_t i = bytes.size() - kTagSize; i < bytes.size(); ++i)
			CHECK(bytes[i] == 0);
		bytes.back() = 0xaa; // the adapter writes the tag
		const Decoded d = decode(bytes);
		REQUIRE(d.packet);
		CHECK(d.tagged);
		CHECK(d.bodyEnd == bytes.size() - kTagSize);
		CHECK(tagOf(bytes, d)[kTagSize - 1] == 0xaa);
		CHECK(d.packet->records.size() == 4);

		// The flag without room for a tag is refused.
		std::vector<std::uint8_t> shortTagged(bytes.begin(), bytes.begin() + kHeaderSize);
		shortTagged[kCountAt] = 0;
		CHECK_FALSE(decode(shortTagged).packet);
	}

	TEST_CASE("a datagram cut at any byte is refused with a reason, never read past")
	{
		Packet p = everyKind();
		for (std::uint8_t flags : { std::uint8_t(0), kFlagTagged }) {
			p.header.flags = flags;
			const auto bytes = encode(p);
			for (std::size_t n = 0; n < bytes.size(); ++n) {
				// A copy of exactly n bytes, so ASan catches any overread.
				const std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + n);
				const Decoded d = decode(cut);
				INFO("length " << n << " flags " << int(flags));
				CHECK_FALSE(d.packet);
				CHECK_FALSE(d.error.empty());
			}
		}
	}

	TEST_CASE("trailing bytes, bad counts and bad lengths are refused")
	{
		const auto good = encode(everyKind());

		auto trailing = good;
		trailing.push_back(0);
		CHECK_FALSE(decode(trailing).packet);

		auto fewer = good;
		fewer[kCountAt] = 3; // leaves a record's worth of trailing bytes
		CHECK_FALSE(decode(fewer).packet);

		auto more = good;
		more[kCountAt] = 5;
		CHECK_FALSE(decode(more).packet);

		auto countMax = good;
		countMax[kCountAt] = 255;
		CHECK_FALSE(decode(countMax).packet);

		auto longer = good;
		longer[kFirstRecord + 1] = kSampleSize + 1;
		CHECK_FALSE(decode(longer).packet);

		auto shorter = good;
		shorter[kFirstRecord + 1] = kSampleSize - 1;
		CHECK_FALSE(decode(shorter).packet);

		auto pastEnd = good;
		pastEnd[kFirstRecord + 1] = 255;
		CHECK_FALSE(decode(pastEnd).packet);

		auto typeZero = good;
		typeZero[kFirstRecord] = 0;
		CHECK_FALSE(decode(typeZero).packet);
	}

	TEST_CASE("absurd incarnations and sequences are refused; cookies and padding decode")
	{
		for (std::uint64_t bad : { kMaxCounter, UINT64_MAX }) {
			Sample s = busySample();
			s.sequence = bad;
			CHECK_FALSE(validate(s).empty());
			Leave l{ 0x42, bad };
			CHECK_FALSE(validate(l).empty());
			Demand d{ 0x1000, bad, 1, 0, 1, 1 };
			CHECK_FALSE(validate(d).empty());
			Reservation r{ 0x1000, 0x2000, 1, 3000, 0, 1, bad };
			CHECK_FALSE(validate(r).empty());
		}
		// The same in a header, written by hand.
		auto bytes = oneRecord(Leave{ 0x42, 1 });
		for (std::size_t i = 12; i < 20; ++i)
			bytes[i] = 0xff;
		const Decoded absurd = decode(bytes);
		CHECK_FALSE(absurd.packet);
		CHECK(absurd.error.find("absurd") != std::string::npos);

		PacketWriter w({ kFlagPushPullRequest, 0x99, 1 });
		REQUIRE(w.add(Cookie{ 0xfeedULL }));
		w.padTo(128);
		const auto padded = w.finish();
		CHECK(padded.size() == 128);
		const Decoded d = decode(padded);
		REQUIRE_MESSAGE(d.packet, d.error);
		REQUIRE(d.packet->records.size() == 1);
		CHECK(std::get<Cookie>(d.packet->records[0]).value == 0xfeed);
		CHECK(d.unknownRecords == 0);
		CHECK_FALSE(validate(Cookie{ 0 }).empty());
	}

	TEST_CASE("bad magic, unknown versions and unknown flags are refused")
	{
		const auto good = encode(everyKind());
		auto magic = good;
		magic[0] = 'x';
		CHECK(decode(magic).error == "bad magic");

		auto version = good;
		version[2] = 1; // the first release: refused and counted as an old peer
		const Decoded v = decode(version);
		CHECK_FALSE(v.packet);
		CHECK(v.otherVersion);
		CHECK(v.error.find("version 1") != std::string::npos);

		auto flags = good;
		flags[3] |= 0x80;
		CHECK_FALSE(decode(flags).packet);

		auto sender = good;
		putBe(sender, 4, 0, 8);
		CHECK_FALSE(decode(sender).packet);
	}

	TEST_CASE("records of unknown types are skipped by their length")
	{
		auto bytes = encode(everyKind());
		// Append a type-200 record of 5 bytes and count it.
		for (std::uint8_t b : { 200, 5, 1, 2, 3, 4, 5 })
			bytes.push_back(b);
		bytes[kCountAt] = 5;
		Decoded d = decode(bytes);
		REQUIRE_MESSAGE(d.packet, d.error);
		CHECK(d.packet->records.size() == 4);
		CHECK(d.unknownRecords == 1);

		// An empty unknown record is fine too.
		bytes.push_back(201);
		bytes.push_back(0);
		bytes[kCountAt] = 6;
		d = decode(bytes);
		REQUIRE(d.packet);
		CHECK(d.unknownRecords == 2);

		// But its length may not run past the end.
		bytes.back() = 1;
		CHECK_FALSE(decode(bytes).packet);
	}

	TEST_CASE("absurd sample values are refused field by field")
	{
		const auto good = oneRecord(busySample());
		REQUIRE(decode(good).packet);
		struct Case {
			const char *what;
			std::size_t offset; // in the sample body
			std::uint64_t value;
			unsigned bytes;
		};
		const Case cases[] = {
			{ "server 0", 0, 0, 8 },
			{ "age over an hour", 24, kMaxAgeMs + 1, 4 },
			{ "slots 0", 30, 0, 2 },
			{ "slots over 4096", 32 - 2, 4097, 2 },
			{ "cpus 0", 32, 0, 2 },
			{ "cpus over 4096", 32, 4097, 2 },
			{ "runnable over 1e6", 34, kMaxRunnableMilli + 1, 4 },
			{ "speed 0", 38, 0, 4 },
			{ "speed over 1000", 38, 1'000'001, 4 },
			{ "unknown state", 42, 3, 1 },
			{ "unknown option", 43, 0x07, 1 },
			{ "cpp without lzo", 43, 0x02, 1 },
			{ "port 0", 44, 0, 2 },
		};
		for (const Case &c : cases) {
			auto bad = good;
			putBe(bad, bodyAt(c.offset), c.value, c.bytes);
			const Decoded d = decode(bad);
			INFO(c.what);
			CHECK_FALSE(d.packet);
			CHECK_FALSE(d.error.empty());
		}
	}

	TEST_CASE("absurd reservations and demands are refused")
	{
		const Reservation r{ 0x1, 0x2, 5, 3000, 100, 1, 1 };
		REQUIRE(decode(oneRecord(r)).packet);
		struct Case {
			const char *what;
			std::size_t offset;
			std::uint64_t value;
			unsigned bytes;
		};
		for (const Case &c : { Case{ "client 0", 0, 0, 8 }, Case{ "server 0", 8, 0, 8 },
				       Case{ "count over 4096", 16, 4097, 2 }, Case{ "ttl 0", 18, 0, 4 },
				       Case{ "ttl over a minute", 18, 60001, 4 },
				       Case{ "older than its ttl", 22, 3001, 4 } }) {
			auto bad = oneRecord(r);
			putBe(bad, bodyAt(c.offset), c.value, c.bytes);
			INFO(c.what);
			CHECK_FALSE(decode(bad).packet);
		}

		const Demand d{ 0x1, 1, 1, 10, 64, 8 };
		REQUIRE(decode(oneRecord(d)).packet);
		for (const Case &c : { Case{ "client 0", 0, 0, 8 }, Case{ "age over an hour", 24, kMaxAgeMs + 1, 4 },
				       Case{ "wanted over 1e6", 28, kMaxWantedJobs + 1, 4 },
				       Case{ "local slots over 4096", 32, 4097, 2 } }) {
			auto bad = oneRecord(d);
			putBe(bad, bodyAt(c.offset), c.value, c.bytes);
			INFO(c.what);
			CHECK_FALSE(decode(bad).packet);
		}

		auto leave = oneRecord(Leave{ 0x5, 1 });
		putBe(leave, bodyAt(0), 0, 8);
		CHECK_FALSE(decode(leave).packet);
	}

	TEST_CASE("oversize datagrams are refused and the writer never makes one")
	{
		std::vector<std::uint8_t> huge(kMaxDatagram + 1, 0);
		huge[0] = kMagic0;
		huge[1] = kMagic1;
		huge[2] = kVersion;
		CHECK_FALSE(decode(huge).packet);

		for (std::uint8_t flags : { std::uint8_t(0), kFlagTagged }) {
			PacketWriter w({ flags, 0x99, 1 });
			std::size_t n = 0;
			while (w.add(busySample()))
				++n;
			CHECK(w.size() <= kMaxDatagram);
			const auto bytes = w.finish();
			CHECK(bytes.size() <= kMaxDatagram);
			CHECK(bytes.size() + 2 + kSampleSize > kMaxDatagram);
			const Decoded d = decode(bytes);
			REQUIRE(d.packet);
			CHECK(d.packet->records.size() == n);
			CHECK(n >= 25);
			// The writer starts afresh after finish().
			CHECK(w.empty());
			CHECK(w.add(Leave{ 1, 1 }));
		}

		Packet p;
		p.header.sender = 1;
		p.records.assign(40, busySample());
		CHECK_THROWS_AS(encode(p), std::length_error);

		// The record count byte bounds small records too.
		PacketWriter w({ 0, 0x99, 1 }, kMaxDatagram);
		std::size_t leaves = 0;
		while (w.add(Leave{ 1, 1 }))
			++leaves;
		CHECK(leaves == (kMaxDatagram - kHeaderSize) / (2 + kLeaveSize));
	}

	TEST_CASE("the writer refuses records the decoder would refuse")
	{
		PacketWriter w({ 0, 0x99, 1 });
		Sample s = busySample();
		s.slots = 0;
		CHECK_THROWS_AS(w.add(s), std::invalid_argument);
		CHECK_THROWS_AS(w.add(Leave{ 0, 1 }), std::invalid_argument);
		CHECK_THROWS_AS(w.add(Reservation{ 1, 2, 1, 0, 0, 1, 1 }), std::invalid_argument);
		CHECK(w.empty());
		CHECK_THROWS_AS(PacketWriter({ 0, 0, 1 }), std::invalid_argument);
		CHECK_THROWS_AS(PacketWriter({ 0x40, 1, 1 }), std::invalid_argument);
	}

	TEST_CASE("random bytes and random mutations never crash the decoder")
	{
		std::mt19937_64 rng(4);
		const auto good = encode(everyKind());
		std::size_t accepted = 0;
		for (int i = 0; i < 20000; ++i) {
			std::vector<std::uint8_t> bytes;
			if (i % 2) {
				bytes.resize(rng() % 200);
				for (auto &b : bytes)
					b = static_cast<std::uint8_t>(rng());
			} else {
				bytes = good;
				for (int k = 0; k < 3; ++k)
					bytes[rng() % bytes.size()] = static_cast<std::uint8_t>(rng());
			}
			const Decoded d = decode(bytes);
			CHECK((d.packet.has_value() || !d.error.empty()));
			accepted += d.packet.has_value();
		}
		CHECK(accepted > 0); // some mutations hit harmless fields
	}

	TEST_CASE("node ids are the TXT's 16 hex digits")
	{
		CHECK(parseNodeId("0123456789abcdef") == 0x0123456789abcdefULL);
		CHECK(parseNodeId("0123456789ABCDEF") == 0x0123456789abcdefULL);
		CHECK(formatNodeId(0x0123456789abcdefULL) == "0123456789abcdef");
		CHECK(formatNodeId(0x42) == "0000000000000042");
		CHECK_FALSE(parseNodeId("0000000000000000"));
		CHECK_FALSE(parseNodeId("0123456789abcde"));
		CHECK_FALSE(parseNodeId("0123456789abcdeg"));
		CHECK_FALSE(parseNodeId("0123456789abcdef0"));
		CHECK_FALSE(parseNodeId(""));
	}

	TEST_CASE("--peer specs: host, host:port, bracketed IPv6; bad ones refused")
	{
		auto hp = readHostPort("build-7.example", 3632).hostPort;
		REQUIRE(hp);
		CHECK(hp->host == "build-7.example");
		CHECK(hp->port == 3632);
		hp = readHostPort("10.1.2.3:4000", 3632).hostPort;
		REQUIRE(hp);
		CHECK(hp->host == "10.1.2.3");
		CHECK(hp->port == 4000);
		hp = readHostPort("[fe80::1%eth0]:4000", 3632).hostPort;
		REQUIRE(hp);
		CHECK(hp->host == "fe80::1%eth0");
		CHECK(hp->port == 4000);
		hp = readHostPort("2001:db8::7", 3632).hostPort;
		REQUIRE(hp);
		CHECK(hp->host == "2001:db8::7");
		CHECK(hp->port == 3632);
		for (const char *bad : { "", ":4000", "host:", "host:0", "host:65536", "host:x", "[::1", "[::1]x",
					 "[::1]:", "[]:1", "a b", "a/b" })
			CHECK_MESSAGE(!readHostPort(bad, 3632).hostPort, bad);
	}

	TEST_CASE("a Load record is a third of a Sample and round-trips in its units")
	{
		Load l{ 0x20, 0xbeef, 77, 1230, 9, 2.5 };
		Packet p;
		p.header = { 0, 0x1234, 1 };
		p.records = { l };
		const auto bytes = encode(p);
		CHECK(encodedSize(Record(l)) == 2 + kLoadSize);
		CHECK(kLoadSize * 2 < kSampleSize);
		const Decoded d = decode(bytes);
		REQUIRE(d.packet);
		REQUIRE(d.packet->records.size() == 1);
		CHECK(std::get<Load>(d.packet->records.front()) == l);

		CHECK_FALSE(validate(Load{ 0, 1, 1, 0, 0, 0.0 }).empty());
		CHECK_FALSE(validate(Load{ 1, 1, 1, kMaxLoadAgeMs + 10, 0, 0.0 }).empty());
		CHECK_FALSE(validate(Load{ 1, 1, 1, 0, 70000, 0.0 }).empty());
		CHECK_FALSE(validate(Load{ 1, 1, 1, 0, 0, 7000.0 }).empty());
		CHECK(validate(Load{ 1, 1, 1, kMaxLoadAgeMs, 65535, 6553.5 }).empty());
	}

	TEST_CASE("a PROFILE round-trips, is refused when absurd, and an old v2 decoder could skip it")
	{
		Packet p;
		p.header.sender = 0x20;
		p.header.incarnation = 7;
		p.records = { Sample{ 0x20, 7, 1 }, Profile{ 0x20, 7, 0xfedcba9876543210 } };
		const auto bytes = encode(p);
		CHECK(bytes.size() == kHeaderSize + 2 * 2 + kSampleSize + kProfileSize);
		const Decoded d = decode(bytes);
		REQUIRE_MESSAGE(d.packet, d.error);
		REQUIRE(d.packet->records.size() == 2);
		CHECK(d.packet->records[1] == p.records[1]);
		// Type 8, 24 bytes: the length byte lets a peer that knows no type
		// 8 skip it, as it does any unknown type.
		const std::size_t at = kHeaderSize + 2 + kSampleSize;
		CHECK(bytes[at] == 8);
		CHECK(bytes[at + 1] == kProfileSize);
		CHECK(bytes[at + 2 + 16] == 0xfe);
		CHECK(validate(Profile{ 0, 7, 1 }) == "server id 0");
		CHECK_FALSE(validate(Profile{ 1, kMaxCounter, 1 }).empty());
		CHECK(validate(Profile{ 1, 7, 0 }).empty());
		auto absurd = bytes;
		putBe(absurd, at + 2 + 8, kMaxCounter, 8);
		CHECK_FALSE(decode(absurd).packet);
		auto shortened = bytes;
		shortened[at + 1] = kProfileSize - 1;
		shortened.erase(shortened.begin() + static_cast<std::ptrdiff_t>(at + 2));
		CHECK_FALSE(decode(shortened).packet);
	}
}
