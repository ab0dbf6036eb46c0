// Unit tests of the automatic drain of a busy desktop.
#include <doctest/doctest.h>

#include <stdexcept>

#include "distcc-mdns/drain.h"

using namespace dmdns;
using namespace std::chrono_literals;

TEST_SUITE("drain")
{
	TEST_CASE("the owner's sustained load drains the host; a short spike does not")
	{
		AutoDrain d(0.5, 10s); // drain above 2 tasks of the owner on 4 cpus
		// 1 s spike of 8 owner tasks: the 10 s average stays under 2.
		for (int i = 0; i < 4; ++i)
			CHECK_FALSE(d.update(8.0, 0, 4, 250ms));
		for (int i = 0; i < 40; ++i)
			d.update(0.0, 0, 4, 250ms);
		CHECK_FALSE(d.drained());
		// distcc's own jobs are not the owner's: 6 runnable with 6 jobs.
		for (int i = 0; i < 200; ++i)
			CHECK_FALSE(d.update(6.0, 6, 4, 250ms));
		// The owner compiles for real: drained within a few seconds.
		int samples = 0;
		while (!d.update(4.0, 0, 4, 250ms) && samples < 400)
			++samples;
		CHECK(d.drained());
		CHECK(samples * 250 < 10000);
		CHECK(d.ownerLoad() > 2.0);
	}

	TEST_CASE("back up only below half the share: no flapping at the boundary")
	{
		AutoDrain d(0.5, 2s);
		for (int i = 0; i < 100; ++i)
			d.update(3.0, 0, 4, 250ms);
		REQUIRE(d.drained());
		for (int i = 0; i < 100; ++i)
			CHECK(d.update(1.5, 0, 4, 250ms)); // under 2, above 1: still drained
		for (int i = 0; i < 100; ++i)
			d.update(0.5, 0, 4, 250ms);
		CHECK_FALSE(d.drained());
	}

	TEST_CASE("bad settings and readings")
	{
		CHECK_THROWS_AS(AutoDrain(0.0), std::invalid_argument);
		CHECK_THROWS_AS(AutoDrain(5.0), std::invalid_argument);
		CHECK_THROWS_AS(AutoDrain(0.5, 0ms), std::invalid_argument);
		AutoDrain d(1.0);
		CHECK_FALSE(d.update(-3.0, 0, 0, 250ms));
		CHECK_FALSE(d.update(1.0 / 0.0, 0, 2, 250ms));
		CHECK(d.ownerLoad() == 0.0);
	}
}
