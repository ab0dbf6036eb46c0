// Replays the committed query-line corpus through the daemon's request path.
#include <doctest/doctest.h>

#include "fuzz/corpus.h"
#include "fuzz/targets.h"

using dmdns::fuzz::replay;

TEST_SUITE("corpus")
{
	TEST_CASE("the query-line corpus replays cleanly")
	{
		CHECK(replay("query", dmdns::fuzz::checkQueryLine) >= 10);
	}
}
