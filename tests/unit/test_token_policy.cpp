// Unit tests of distcc-mdns-run's token and demand rule.
#include <doctest/doctest.h>

#include "distcc-mdns/token_policy.h"

using namespace dmdns;

namespace {

// A farm of two fast servers (speed 2, 4 slots each) and one slow one
// (speed 1, 4 slots), and localhost/2 at speed 1 last.
ShareAnswer mixedFarm()
{
	ShareAnswer a;
	a.line = { { 2.0, 4, false }, { 2.0, 4, false }, { 1.0, 4, false }, { 1.0, 2, true } };
	a.localSlots = 2;
	a.localSpeed = 1.0;
	a.farmSlots = 12;
	return a;
}

// Feeds @policy the same observation @times times.
void observe(TokenPolicy &policy, const TokenUse &use, int times)
{
	for (int i = 0; i < times; ++i)
		policy.observe(use);
}

} // namespace

TEST_SUITE("token_policy")
{
	TEST_CASE("body: the slots that compile minus the implicit token, the whole farm wanted")
	{
		TokenPolicy policy;
		observe(policy, { .idle = 0, .inUse = 12 }, 5);
		const TokenDecision d = policy.decide(mixedFarm(), { .idle = 0, .inUse = 12 }, 2);
		CHECK_FALSE(d.tail);
		// 12 remote slots and one of the 2 local ones (the other one
		// preprocesses): a token for every slot of the hosts file.
		CHECK(d.target == 4 + 4 + 4 + 1 - 1);
		CHECK(d.want == 12);
	}

	TEST_CASE("the local slots count once even when the line leaves localhost out")
	{
		ShareAnswer a = mixedFarm();
		a.line.pop_back();
		a.localSlots = 3;
		const TokenDecision d = TokenPolicy().decide(a, {}, 3);
		CHECK(d.localCompileSlots == 2);
		CHECK(d.target == 12 + 2 - 1);
	}

	TEST_CASE("tail: idle tokens at three observations drop the slow slots and cap the want")
	{
		TokenPolicy policy;
		policy.observe({ .idle = 0, .inUse = 13 });
		policy.observe({ .idle = 2, .inUse = 5 });
		policy.observe({ .idle = 2, .inUse = 5 });
		CHECK_FALSE(policy.tail()); // two observations are not enough
		policy.observe({ .idle = 2, .inUse = 5 });
		REQUIRE(policy.tail());
		const TokenDecision d = policy.decide(mixedFarm(), { .idle = 2, .inUse = 5 }, 2);
		CHECK(d.tail);
		// Speed 1 < 2 / 1.5: the slow server and localhost's compile use go;
		// localhost stays for links.
		CHECK(d.target == 4 + 4 + 2 - 1);
		// Fast remote slots are 8, capped at the jobs running (5 + the
		// implicit one) + 1.
		CHECK(d.want == 7);
		const TokenDecision fewer = policy.decide(mixedFarm(), { .idle = 3, .inUse = 1 }, 2);
		CHECK(fewer.want == 3);
	}

	TEST_CASE("tail: a slot a little slower than the fastest still pays")
	{
		ShareAnswer a = mixedFarm();
		a.line[2].speed = 1.4; // 1.4 > 2 / 1.5
		TokenPolicy policy;
		observe(policy, { .idle = 0, .inUse = 3 }, 1);
		observe(policy, { .idle = 1, .inUse = 3 }, 3);
		REQUIRE(policy.tail());
		const TokenDecision d = policy.decide(a, { .idle = 1, .inUse = 20 }, 2);
		CHECK(d.target == 4 + 4 + 4 + 2 - 1);
		CHECK(d.want == 12);
	}

	TEST_CASE("idle tokens before the first job are no tail")
	{
		TokenPolicy policy;
		observe(policy, { .idle = 13, .inUse = 0 }, 10);
		CHECK_FALSE(policy.tail());
		CHECK(policy.decide(mixedFarm(), { .idle = 13, .inUse = 0 }, 2).want == 12);
	}

	TEST_CASE("idle tokens while make still starts jobs are its ramp, no tail")
	{
		TokenPolicy policy;
		// Right after the start make reads tokens as fast as it can fork:
		// some lie idle for a moment while the jobs running grow.
		policy.observe({ .idle = 0, .inUse = 2 });
		for (unsigned running = 4; running <= 24; running += 4)
			policy.observe({ .idle = 8, .inUse = running });
		CHECK_FALSE(policy.tail());
		// Once they stop growing, idle tokens mean make has nothing to start.
		observe(policy, { .idle = 8, .inUse = 24 }, 3);
		CHECK(policy.tail());
	}

	TEST_CASE("leaving the tail: three observations without idle tokens, none held back")
	{
		TokenPolicy policy;
		observe(policy, { .idle = 0, .inUse = 4 }, 1);
		observe(policy, { .idle = 1, .inUse = 4 }, 3);
		REQUIRE(policy.tail());
		// Held-back tokens hide whether make waits: no verdict.
		observe(policy, { .idle = 0, .inUse = 6, .heldBack = 2 }, 5);
		CHECK(policy.tail());
		policy.observe({ .idle = 0, .inUse = 6 });
		policy.observe({ .idle = 0, .inUse = 6 });
		CHECK(policy.tail());
		policy.observe({ .idle = 0, .inUse = 6 });
		CHECK_FALSE(policy.tail());
		const TokenDecision d = policy.decide(mixedFarm(), { .idle = 0, .inUse = 6 }, 2);
		CHECK(d.target == 12);
		CHECK(d.want == 12);
		// A single idle observation in between resets the count.
		observe(policy, { .idle = 1, .inUse = 6 }, 3);
		REQUIRE(policy.tail());
		policy.observe({ .idle = 0, .inUse = 6 });
		policy.observe({ .idle = 1, .inUse = 6 });
		policy.observe({ .idle = 0, .inUse = 6 });
		CHECK(policy.tail());
	}

	TEST_CASE("--max-jobs caps the jobs, the implicit one included")
	{
		TokenPolicy policy(5);
		CHECK(policy.decide(mixedFarm(), {}, 2).target == 4);
		CHECK(TokenPolicy(1).decide(mixedFarm(), {}, 2).target == 0);
		CHECK(TokenPolicy(100).decide(mixedFarm(), {}, 2).target == 12);
	}

	TEST_CASE("a shrinking share lowers the target, never below 0")
	{
		ShareAnswer a = mixedFarm();
		TokenPolicy policy;
		const unsigned before = policy.decide(a, {}, 2).target;
		a.line = { { 2.0, 1, false }, { 1.0, 2, true } }; // the daemon's fair share: 1 remote slot
		const unsigned after = policy.decide(a, {}, 2).target;
		CHECK(after < before);
		CHECK(after == 2);
		a.line = {};
		a.localSlots = 0;
		CHECK(policy.decide(a, {}, 0).target == 0);
	}

	TEST_CASE("no answer: local parallelism, no want")
	{
		TokenPolicy policy;
		const TokenDecision d = policy.decide(std::nullopt, {}, 8);
		CHECK(d.target == 7);
		CHECK(d.want == 0);
		CHECK(policy.decide(std::nullopt, {}, 1).target == 0);
	}

	TEST_CASE("body: localhost compiles whatever the servers offer, one local slot kept for preprocessing")
	{
		// 2 local slots against 12 remote ones: still capacity, but one of
		// them preprocesses and links for the remote jobs.
		const TokenDecision d = TokenPolicy().decide(mixedFarm(), { .idle = 0, .inUse = 13 }, 2);
		CHECK(d.localCompiles);
		CHECK(d.localCompileSlots == 1);
		// The tokens count the slots that compile: a token for the kept
		// one would be a compile parked in distcc until a slot frees.
		CHECK(d.target == 4 + 4 + 4 + 1 - 1);
		// Fewer remote slots than local ones: every local slot compiles.
		ShareAnswer small;
		small.line = { { 2.0, 1, false }, { 1.0, 2, true } };
		small.localSlots = 2;
		small.farmSlots = 1;
		CHECK(TokenPolicy().decide(small, { .idle = 0, .inUse = 2 }, 2).localCompileSlots == 2);
		// One CPU and servers: it preprocesses, the servers compile.
		ShareAnswer one = mixedFarm();
		one.line.back().limit = 1;
		one.localSlots = 1;
		const TokenDecision d1 = TokenPolicy().decide(one, { .idle = 0, .inUse = 12 }, 1);
		CHECK_FALSE(d1.localCompiles);
		CHECK(d1.target == 4 + 4 + 4 - 1);
	}

	TEST_CASE("tail: localhost compiles only when strictly faster than the speed floor")
	{
		// In the tail a tie with waiting for the server (1.5 / 1.5 = 1)
		// goes to the server.
		ShareAnswer a;
		a.line = { { 1.5, 4, false }, { 1.0, 2, true } };
		a.localSlots = 2;
		a.farmSlots = 4;
		TokenPolicy policy;
		observe(policy, { .idle = 0, .inUse = 3 }, 1);
		CHECK(policy.decide(a, { .idle = 0, .inUse = 3 }, 2).localCompiles);
		observe(policy, { .idle = 1, .inUse = 3 }, 3);
		REQUIRE(policy.tail());
		CHECK_FALSE(policy.decide(a, { .idle = 1, .inUse = 3 }, 2).localCompiles);
		a.line[1].speed = 1.1;
		CHECK(policy.decide(a, { .idle = 1, .inUse = 3 }, 2).localCompiles);
	}

	TEST_CASE("withLocalCompileSlots: localhost's limit set, distcc keeps the local slots")
	{
		CHECK(withLocalCompileSlots("s1/4 s2/3,lzo localhost/2", 1, 2) == "--localslots=2 s1/4 s2/3,lzo localhost/1");
		CHECK(withLocalCompileSlots("s1/4 localhost/4", 0, 4) == "--localslots=4 s1/4");
		// Without localhost, nothing but localhost, or not parsed: as it was.
		CHECK(withLocalCompileSlots("s1/4 s2/4", 1, 2) == "s1/4 s2/4");
		CHECK(withLocalCompileSlots("localhost/2", 1, 2) == "localhost/2");
		CHECK(withLocalCompileSlots("s1/4 $bad", 1, 2) == "s1/4 $bad");
	}

	TEST_CASE("withoutLocalCompiles: localhost leaves the line, distcc keeps the local slots")
	{
		CHECK(withoutLocalCompiles("s1/4 s2/3,lzo localhost/2", 2) == "--localslots=2 s1/4 s2/3,lzo");
		CHECK(withoutLocalCompiles("localhost/2 s1/4", 3) == "--localslots=3 s1/4");
		// Nothing but localhost, or a line that does not parse: as it was.
		CHECK(withoutLocalCompiles("localhost/2", 2) == "localhost/2");
		CHECK(withoutLocalCompiles("s1/4 $bad", 2) == "s1/4 $bad");
	}
}
