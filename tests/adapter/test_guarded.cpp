// guarded(): C callbacks run to the end or report what they threw, never unwinding into C.
#include <doctest/doctest.h>

#include <stdexcept>

#include "uv/guarded.h"

using dmdns::guarded;

TEST_SUITE("uv_guarded")
{
	TEST_CASE("a callback that returns normally runs once with its arguments")
	{
		int calls = 0;
		CHECK(guarded(
			"test", [&](int a, int b) { calls += a + b; }, 2, 3));
		CHECK(calls == 5);
		const std::optional<int> value = guarded("test", [] { return 42; });
		CHECK(value == 42);
	}

	TEST_CASE("whatever a callback throws is caught and reported as a failure")
	{
		static_assert(noexcept(guarded("test", [] { throw std::runtime_error("x"); })));
		bool after = false;
		CHECK_FALSE(guarded("test", [&] {
			throw std::runtime_error("expected by the test");
			after = true;
		}));
		CHECK_FALSE(after);
		CHECK_FALSE(guarded("test", [] { throw 7; }));
		const std::optional<int *> none = guarded("test", []() -> int * { throw std::bad_alloc(); });
		CHECK_FALSE(none);
		CHECK(none.value_or(nullptr) == nullptr);
	}
}
