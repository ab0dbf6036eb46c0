// distcc-mdnsd: advertises a distccd host and resolves its peers (entry point).
#include <getopt.h>

#include <cstdio>
#include <cstdlib>

#include "dmdns-config.h"
#include "log.h"

namespace {

constexpr int kUsageError = 2;

void usage(std::FILE *out)
{
	std::fputs("Usage: distcc-mdnsd [OPTION]...\n"
		   "Advertise this distccd host over mDNS/DNS-SD and resolve the others.\n"
		   "\n"
		   "  -v, --verbose   log more (repeat for debug output)\n"
		   "  -h, --help      show this help and exit\n"
		   "      --version   show the version and exit\n",
		   out);
}

} // namespace

int main(int argc, char **argv)
{
	enum { OptVersion = 0x100 };
	static const option options[] = {
		{ "verbose", no_argument, nullptr, 'v' },
		{ "help", no_argument, nullptr, 'h' },
		{ "version", no_argument, nullptr, OptVersion },
		{ nullptr, 0, nullptr, 0 },
	};
	int verbosity = 0;
	for (int c; (c = getopt_long(argc, argv, "vh", options, nullptr)) != -1;) {
		switch (c) {
		case 'v':
			++verbosity;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case OptVersion:
			std::printf("distcc-mdnsd %s\n", DMDNS_VERSION);
			return EXIT_SUCCESS;
		default:
			std::fputs("Try 'distcc-mdnsd --help' for more information.\n", stderr);
			return kUsageError;
		}
	}
	if (optind < argc) {
		dmdns::log(dmdns::LogLevel::Error, "unexpected argument '{}'", argv[optind]);
		return kUsageError;
	}
	dmdns::setLogLevel(verbosity > 1 ? dmdns::LogLevel::Debug : verbosity ? dmdns::LogLevel::Info
									       : dmdns::LogLevel::Warning);
	dmdns::log(dmdns::LogLevel::Error, "advertising and resolving are not built into this version yet");
	return EXIT_FAILURE;
}
