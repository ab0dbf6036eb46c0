// Tests of the job wrapper's pure parts: which compiles can be copied, the copy's command, the runner's line.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "run/backup_job.h"

using namespace dmdns::run;
using Args = std::vector<std::string>;

TEST_SUITE("backup_job")
{
	TEST_CASE("a plain compile: the copy writes a hidden file beside the output, same suffix")
	{
		const Args job = { "distcc", "gcc", "-O2", "-c", "src/a.c", "-o", "obj/a.o" };
		const auto c = backupCommand(job, "dmrun42");
		REQUIRE(c);
		CHECK(c->output == "obj/a.o");
		CHECK(c->temp == "obj/.a.o.dmrun42.o");
		CHECK(c->argv == Args{ "distcc", "gcc", "-O2", "-c", "src/a.c", "-o", "obj/.a.o.dmrun42.o" });
	}

	TEST_CASE("-oFILE in one word, and a path to distcc")
	{
		const Args job = { "/usr/bin/distcc", "cc", "-c", "a.c", "-oa.o" };
		const auto c = backupCommand(job, "t");
		REQUIRE(c);
		CHECK(c->output == "a.o");
		CHECK(c->temp == ".a.o.t.o");
		CHECK(c->argv.back() == "-o.a.o.t.o");
	}

	TEST_CASE("anything else runs once: no distcc, no -c or -o, two outputs, files named after the output")
	{
		CHECK_FALSE(backupCommand(Args{ "gcc", "-c", "a.c", "-o", "a.o" }, "t"));
		CHECK_FALSE(backupCommand(Args{ "distcc", "gcc", "a.c", "-o", "a" }, "t"));
		CHECK_FALSE(backupCommand(Args{ "distcc", "gcc", "-c", "a.c" }, "t"));
		CHECK_FALSE(backupCommand(Args{ "distcc", "gcc", "-c", "a.c", "-o" }, "t"));
		CHECK_FALSE(backupCommand(Args{ "distcc", "gcc", "-c", "a.c", "-o", "a.o", "-o", "b.o" }, "t"));
		CHECK_FALSE(backupCommand(Args{ "distcc", "gcc", "-c", "-c", "a.c", "-o", "a.o" }, "t"));
		CHECK_FALSE(backupCommand(Args{ "distcc", "gcc", "-c", "a.c", "-o", "-" }, "t"));
		CHECK_FALSE(backupCommand(Args{ "distcc", "gcc", "-c", "a.c", "-o", "dir/" }, "t"));
		for (const char *flag : { "-MD", "-MMD", "-MF", "-Wp,-MD,a.d", "-save-temps", "-gsplit-dwarf", "--coverage",
					  "-fprofile-arcs", "-ftest-coverage", "-fdump-tree-all", "-fstack-usage", "-E", "-S",
					  "@args.rsp", "-" }) {
			CAPTURE(flag);
			CHECK_FALSE(backupCommand(Args{ "distcc", "gcc", flag, "-c", "a.c", "-o", "a.o" }, "t"));
		}
		// A tag that would leave the directory is refused.
		CHECK_FALSE(backupCommand(Args{ "distcc", "gcc", "-c", "a.c", "-o", "a.o" }, "x/y"));
		CHECK_FALSE(backupCommand(Args{ "distcc", "gcc", "-c", "a.c", "-o", "a.o" }, ""));
	}

	TEST_CASE("the runner's line: one distcc host entry, checked")
	{
		CHECK(parseBackupLine("backup 10.0.0.5:3632/10") == std::optional<std::string>("10.0.0.5:3632/10"));
		CHECK(parseBackupLine("backup fast.example:3632/4,lzo") == std::optional<std::string>("fast.example:3632/4,lzo"));
		CHECK(parseBackupLine("backup fe80::1%eth0:3632/2") == std::nullopt); // '%' is not taken
		for (const char *bad : { "", "backup", "backup ", "backup  x", "copy 10.0.0.5", "backup localhost",
					 "backup localhost/2", "backup +zeroconf", "backup --randomize", "backup a b",
					 "backup a;rm", "backup $(x)", "backup a\tb" }) {
			CAPTURE(bad);
			CHECK_FALSE(parseBackupLine(bad));
		}
		CHECK_FALSE(parseBackupLine("backup " + std::string(300, 'a')));
	}
}
