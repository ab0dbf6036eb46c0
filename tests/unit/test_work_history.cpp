// Unit tests of the work distcc-mdns-run remembers per compile, and of where a compile of known work may go.
#include <doctest/doctest.h>

#include <string>

#include <fmt/format.h>

#include "distcc-mdns/work_history.h"

using namespace dmdns;

namespace {

// The benchmark farm's line: two fast servers, one middle, one slow, and
// this machine.
Placement farmPlacement(double median)
{
	Placement p;
	p.line = *parseHostsLine("10.0.0.1/10 10.0.0.2/10 10.0.0.3/6 10.0.0.5/2 localhost/1").line;
	p.speeds = { 1.5, 1.5, 1.0, 0.6, 1.0 };
	p.median = median;
	return p;
}

} // namespace

TEST_SUITE("work_history")
{
	TEST_CASE("key: FNV-1a 64, stable from build to build")
	{
		// The published test vectors of FNV-1a 64.
		CHECK(WorkHistory::key("") == 0xcbf29ce484222325ull);
		CHECK(WorkHistory::key("a") == 0xaf63dc4c8601ec8cull);
		CHECK(WorkHistory::key("foobar") == 0x85944171f73967e8ull);
		CHECK(WorkHistory::key("/src/a.o") != WorkHistory::key("/src/b.o"));
	}

	TEST_CASE("record, format and parse give the same entries back")
	{
		WorkHistory h;
		h.record(WorkHistory::key("/p/u001.o"), 1.25);
		h.record(WorkHistory::key("/p/u002.o"), 7.5);
		h.record(WorkHistory::key("/p/u001.o"), 1.5); // measured again: the newer stands
		WorkHistory back;
		CHECK(back.parse(h.format()) == 0);
		CHECK(back.size() == 2);
		CHECK(back.work(WorkHistory::key("/p/u001.o")) == doctest::Approx(1.5));
		CHECK(back.work(WorkHistory::key("/p/u002.o")) == doctest::Approx(7.5));
		CHECK_FALSE(back.work(WorkHistory::key("/p/u003.o")));
		CHECK(h.format().find(fmt::format("{:016x} 7.5 1\n", WorkHistory::key("/p/u002.o"))) != std::string::npos);
		// One compile's look-up in the text.
		CHECK(WorkHistory::lookup(h.format(), WorkHistory::key("/p/u002.o")) == doctest::Approx(7.5));
		CHECK_FALSE(WorkHistory::lookup(h.format(), WorkHistory::key("/p/u003.o")));
		// Only at a line's start, and only a good line.
		CHECK_FALSE(WorkHistory::lookup("x00000000000000aa 1 1\n", 0xaa));
		CHECK_FALSE(WorkHistory::lookup("00000000000000aa 1x 1\n", 0xaa));
		CHECK(WorkHistory::lookup("00000000000000aa 1x 1\n00000000000000aa 2 1", 0xaa) == doctest::Approx(2.0));
	}

	TEST_CASE("lookup finds every key of a full history, and no other")
	{
		WorkHistory h;
		for (int i = 0; i < 20000; ++i)
			h.record(WorkHistory::key(fmt::format("/tree/u{}.o", i)), 0.25 + (i % 997) * 0.125);
		const std::string text = h.format();
		WorkHistory back; // what the text holds, to the 3 decimals written
		REQUIRE(back.parse(text) == 0);
		for (int i = 0; i < 20000; ++i) {
			const std::uint64_t key = WorkHistory::key(fmt::format("/tree/u{}.o", i));
			REQUIRE(back.work(key));
			REQUIRE(WorkHistory::lookup(text, key) == back.work(key));
			REQUIRE(WorkHistory::lookup(text, key + 1) == back.work(key + 1));
		}
		CHECK_FALSE(WorkHistory::lookup(text, 0));
		CHECK_FALSE(WorkHistory::lookup(text, ~std::uint64_t{ 0 }));
		// The last line without its newline, the first without a header.
		CHECK(WorkHistory::lookup("00000000000000aa 1 1\n00000000000000bb 2 1", 0xbb) == doctest::Approx(2.0));
		CHECK(WorkHistory::lookup("00000000000000aa 1 1\n00000000000000bb 2 1", 0xaa) == doctest::Approx(1.0));
		CHECK_FALSE(WorkHistory::lookup("", 0xaa));
		CHECK_FALSE(WorkHistory::lookup("\n\n\n", 0xaa));
		CHECK_FALSE(WorkHistory::lookup("00000000000000aa", 0xaa));
	}

	TEST_CASE("a bad line is refused and counted, the good ones kept")
	{
		WorkHistory h;
		const std::string text = "# a comment\n"
					 "00000000000000aa 1.5 3\n"
					 "00000000000000AA 1.5 3\n"	     // upper case
					 "00000000000000bb 0 3\n"	     // no work
					 "00000000000000cc 86401 3\n"	     // longer than any compile
					 "00000000000000dd -1 3\n"	     // a sign
					 "00000000000000ee 1.5\n"	     // no generation
					 "00000000000000ff 1.5 3 x\n"	     // a word too many
					 "0000000000000011  1.5 3\n"	     // two spaces
					 "000000000000022 1.5 3\n"	     // 15 digits
					 "0000000000000033 1.5 4294967296\n" // past 32 bits
					 "\xff\xfe garbage\n"
					 "0000000000000044 2.25 7"; // no newline at the end
		CHECK(h.parse(text) == 10);
		CHECK(h.size() == 2);
		CHECK(h.work(0xaa) == doctest::Approx(1.5));
		CHECK(h.work(0x44) == doctest::Approx(2.25));
	}

	TEST_CASE("a new build records in the generation after the newest read")
	{
		WorkHistory h;
		CHECK(h.parse("00000000000000aa 1 41\n00000000000000bb 2 40\n") == 0);
		h.record(0xcc, 3.0);
		h.record(0xdd, 4.0);
		CHECK(h.format().find("00000000000000cc 3 42\n") != std::string::npos);
		CHECK(h.format().find("00000000000000dd 4 42\n") != std::string::npos);
		// update(): what a build measured goes over what the file has now.
		WorkHistory file;
		CHECK(file.parse("00000000000000aa 9 50\n") == 0);
		file.update(h);
		CHECK(file.work(0xaa) == doctest::Approx(1.0));
		CHECK(file.format().find("00000000000000aa 1 51\n") != std::string::npos);
		// A work out of range is not recorded.
		h.record(0xee, 0.0);
		h.record(0xee, 1e9);
		CHECK_FALSE(h.work(0xee));
	}

	TEST_CASE("bounded: past kMaxEntries the oldest generations go first")
	{
		WorkHistory h;
		std::string text;
		for (std::uint64_t k = 0; k < WorkHistory::kMaxEntries; ++k)
			text += fmt::format("{:016x} 1 {}\n", k, k < 10 ? 1 : 2);
		CHECK(h.parse(text) == 0);
		CHECK(h.size() == WorkHistory::kMaxEntries);
		for (std::uint64_t k = 0; k < 5; ++k)
			h.record(0xffff0000ull + k, 2.0);
		CHECK(h.size() == WorkHistory::kMaxEntries);
		// The five dropped are of generation 1, the new ones are kept.
		CHECK_FALSE(h.work(0));
		CHECK_FALSE(h.work(4));
		CHECK(h.work(5));
		CHECK(h.work(10));
		CHECK(h.work(0xffff0004ull));
	}

	TEST_CASE("median")
	{
		WorkHistory h;
		CHECK_FALSE(h.median());
		for (double w : { 5.0, 1.0, 3.0, 2.0, 4.0 })
			h.record(WorkHistory::key(fmt::format("/{}", w)), w);
		CHECK(h.median() == doctest::Approx(3.0));
	}

	TEST_CASE("placement: format and parse")
	{
		const Placement p = farmPlacement(1.6);
		const std::optional<Placement> back = Placement::parse(p.format());
		REQUIRE(back);
		CHECK(back->line == p.line);
		REQUIRE(back->speeds.size() == p.speeds.size());
		for (std::size_t i = 0; i < p.speeds.size(); ++i)
			CHECK(back->speeds[i] == doctest::Approx(p.speeds[i]));
		CHECK(back->median == doctest::Approx(1.6));
		CHECK_FALSE(Placement::parse(""));
		CHECK_FALSE(Placement::parse("median 1\nspeeds 1 1\nhosts a/2\n"));   // a speed too many
		CHECK_FALSE(Placement::parse("median 1\nspeeds 1\nhosts a/2 b/2\n")); // one too few
		CHECK_FALSE(Placement::parse("median 1\nspeeds  1\nhosts a/2\n"));    // two spaces
		CHECK_FALSE(Placement::parse("median 1\nspeeds 0\nhosts a/2\n"));     // no speed
		CHECK_FALSE(Placement::parse("median x\nspeeds 1\nhosts a/2\n"));
		CHECK_FALSE(Placement::parse("median 1\nspeeds 1\nhosts a/2 ;rm\n"));
		CHECK_FALSE(Placement::parse("median 1\nspeeds 1\nhosts a/2\nmore\n"));
		CHECK(Placement::parse("median 1\nspeeds 1\nhosts a/2\n"));
	}

	TEST_CASE("placement: a long compile only where it ends within one median compile of the fastest, on slots of its own")
	{
		// median 1.6 work: patience 1.6 / 1.5 = 1.07 s. On the middle
		// server a compile takes w / 3 longer than on a fast one, on the
		// slow one w, on this machine w / 3.
		const Placement p = farmPlacement(1.6);
		// Short: everywhere (1.0 s longer on the slow server).
		CHECK_FALSE(p.forWork(1.0));
		// 2.0: 2 s longer on the slow one, 0.67 s on the middle one.
		const auto mid = p.forWork(2.0);
		REQUIRE(mid);
		CHECK(writeHostsLine(*mid) == "10.0.0.1/20 10.0.0.2/20 10.0.0.3/12 localhost/2");
		// 6.0: 2 s longer on the middle server and here: the fast ones only.
		const auto longOne = p.forWork(6.0);
		REQUIRE(longOne);
		CHECK(writeHostsLine(*longOne) == "10.0.0.1/20 10.0.0.2/20");
		// Options of the line stay.
		Placement q = p;
		q.line.localSlots = 2;
		CHECK(writeHostsLine(*q.forWork(6.0)) == "--localslots=2 10.0.0.1/20 10.0.0.2/20");
		// An entry without a limit: twice distcc's default of 4.
		Placement r = p;
		r.line.hosts[0].limit.reset();
		CHECK(writeHostsLine(*r.forWork(6.0)) == "10.0.0.1/8 10.0.0.2/20");
		// No median, no work, or every entry as fast: the line as it is.
		CHECK_FALSE(farmPlacement(0.0).forWork(6.0));
		CHECK_FALSE(p.forWork(0.0));
		Placement even = p;
		even.speeds.assign(even.speeds.size(), 1.0);
		CHECK_FALSE(even.forWork(100.0));
	}
}
