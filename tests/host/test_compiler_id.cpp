// Unit tests of host::CompilerIdentifier: identities of compilers made of temporary files.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include "distcc-mdns/server.h"
#include "host/compiler_id.h"
#include "support/temp_dir.h"

using namespace dmdns;
using namespace dmdns::host;
namespace fs = std::filesystem;

namespace {

void writeFile(const fs::path &path, const std::string &text, fs::perms mode = fs::perms::owner_all)
{
	std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
	fs::permissions(path, mode);
}

// A driver as a shell script that prints @cc1 and @cc1plus (absent: empty)
// for -print-prog-name, as gcc does.
void writeDriver(const fs::path &path, const fs::path &cc1, const fs::path &cc1plus)
{
	writeFile(path, "#!/bin/sh\n"
			"case \"$1\" in\n"
			"-print-prog-name=cc1) echo '" +
				cc1.string() + "' ;;\n" + "-print-prog-name=cc1plus) echo '" +
				(cc1plus.empty() ? std::string("cc1plus") : cc1plus.string()) + "' ;;\n" +
				"*) exit 1 ;;\nesac\n");
}

} // namespace

TEST_SUITE("compiler_id")
{
	TEST_CASE("same contents give the same identity, one byte changed another")
	{
		test::TempDir dir;
		const fs::path a = dir.path() / "a", b = dir.path() / "b", cc1 = dir.path() / "cc1";
		writeFile(a, std::string(100000, 'x'));
		writeFile(b, std::string(100000, 'x'));
		writeFile(cc1, "cc1 contents");
		CompilerIdentifier id;
		// A driver that compiles by itself (clang: no cc1, no cc1plus).
		const std::string first = id.identify(CompilerParts{ a.string(), std::nullopt, std::nullopt });
		CHECK(validCompilerIdentity(first));
		// Another path with the same bytes: the same compiler.
		CHECK(id.identify(CompilerParts{ b.string(), std::nullopt, std::nullopt }) == first);
		std::string patched(100000, 'x');
		patched[50000] = 'y';
		writeFile(b, patched);
		CHECK(id.identify(CompilerParts{ b.string(), std::nullopt, std::nullopt }) != first);

		// gcc's drivers only run cc1/cc1plus: gcc and g++ of one
		// installation (different driver files) share the identity.
		const std::string gcc = id.identify(CompilerParts{ a.string(), cc1.string(), std::nullopt });
		CHECK(validCompilerIdentity(gcc));
		CHECK(id.identify(CompilerParts{ b.string(), cc1.string(), std::nullopt }) == gcc);
		// A byte appended to cc1 (a patched copy) changes it.
		writeFile(cc1, "cc1 contents!");
		CHECK(id.identify(CompilerParts{ a.string(), cc1.string(), std::nullopt }) != gcc);
	}

	TEST_CASE("which part a file is counts, and a missing part differs from a present one")
	{
		test::TempDir dir;
		const fs::path d = dir.path() / "d", p = dir.path() / "p";
		writeFile(d, "driver");
		writeFile(p, "part");
		CompilerIdentifier id;
		const std::string asCc1 = id.identify(CompilerParts{ d.string(), p.string(), std::nullopt });
		const std::string asCc1plus = id.identify(CompilerParts{ d.string(), std::nullopt, p.string() });
		const std::string driverOnly = id.identify(CompilerParts{ d.string(), std::nullopt, std::nullopt });
		CHECK(asCc1 != asCc1plus);
		CHECK(asCc1 != driverOnly);
		CHECK(asCc1plus != driverOnly);
	}

	TEST_CASE("a file is read once while it stays the same, again when it changes")
	{
		test::TempDir dir;
		const fs::path d = dir.path() / "d", cc1 = dir.path() / "cc1";
		writeFile(d, "driver");
		writeFile(cc1, "cc1");
		CompilerIdentifier id;
		const CompilerParts parts{ d.string(), cc1.string(), std::nullopt };
		const std::string first = id.identify(parts);
		CHECK(id.filesHashed() == 1); // cc1; the driver only runs it
		for (int i = 0; i < 5; ++i)
			CHECK(id.identify(parts) == first);
		CHECK(id.filesHashed() == 1);
		// Another size: re-read (the size and the time are in the key).
		writeFile(cc1, "cc1 patched");
		CHECK(id.identify(parts) != first);
		CHECK(id.filesHashed() == 2);
	}

	TEST_CASE("an unreadable, missing or oversize file gives no identity")
	{
		test::TempDir dir;
		const fs::path d = dir.path() / "d", big = dir.path() / "big";
		writeFile(d, "driver");
		writeFile(big, std::string(5000, 'b'));
		CompilerIdentifier id;
		id.setMaxFile(4096);
		CHECK(id.identify(CompilerParts{ d.string(), big.string(), std::nullopt }).empty());
		CHECK(id.identify(CompilerParts{ (dir.path() / "none").string(), std::nullopt, std::nullopt }).empty());
		// A FIFO is no compiler, and opening it must not hang.
		const fs::path fifo = dir.path() / "fifo";
		REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
		CHECK(id.identify(CompilerParts{ d.string(), fifo.string(), std::nullopt }).empty());
		CHECK_FALSE(id.identify(CompilerParts{ d.string(), std::nullopt, std::nullopt }).empty());
	}

	TEST_CASE("a driver is asked where cc1 and cc1plus are, and a patched cc1 changes its identity")
	{
		test::TempDir dir;
		const fs::path driver = dir.path() / "gcc", cc1 = dir.path() / "cc1", cc1plus = dir.path() / "cc1plus";
		writeFile(cc1, "cc1");
		writeFile(cc1plus, "cc1plus");
		writeDriver(driver, cc1, cc1plus);
		const CompilerParts parts = compilerParts(driver.string());
		CHECK(parts.cc1 == cc1.string());
		CHECK(parts.cc1plus == cc1plus.string());
		CompilerIdentifier id;
		const std::string first = id.identify(driver.string());
		CHECK(validCompilerIdentity(first));
		writeFile(cc1plus, "cc1plus with a fix");
		const std::string second = id.identify(driver.string());
		CHECK(validCompilerIdentity(second));
		CHECK(second != first);

		// No cc1plus installed: gcc prints the bare name; still identified.
		writeDriver(driver, cc1, {});
		const CompilerParts cOnly = compilerParts(driver.string());
		CHECK(cOnly.cc1 == cc1.string());
		CHECK_FALSE(cOnly.cc1plus);
		CHECK(validCompilerIdentity(id.identify(driver.string())));
	}

	TEST_CASE("the machine's gcc and its cross or clang relatives are identified the same way")
	{
		// Whatever is installed here: each found driver gets an identity,
		// stable from one probe to the next.
		CompilerIdentifier id;
		int found = 0;
		for (const char *path : { "/usr/bin/gcc", "/usr/bin/clang", "/usr/bin/arm-linux-gnueabihf-gcc" }) {
			if (::access(path, X_OK) != 0)
				continue;
			++found;
			const std::string first = id.identify(std::string(path));
			CHECK(validCompilerIdentity(first));
			CHECK(id.identify(std::string(path)) == first);
		}
		if (found == 0)
			MESSAGE("no compiler installed: nothing to identify");
	}
}
