// distcc-mdns-hosts: prints a distcc hosts line (entry point).
#include <getopt.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "distcc-mdns/hosts_line.h"
#include "dmdns-config.h"
#include "log.h"

namespace {

constexpr int kUsageError = 2;

void usage(std::FILE *out)
{
	std::fputs("Usage: distcc-mdns-hosts [OPTION]...\n"
		   "Print a distcc hosts line for the servers on this network.\n"
		   "\n"
		   "  -j, --jobs      print the suggested make -j value instead\n"
		   "  -v, --verbose   log more\n"
		   "  -h, --help      show this help and exit\n"
		   "      --version   show the version and exit\n"
		   "\n"
		   "This version knows no remote servers yet: the line holds only\n"
		   "localhost with one slot per online CPU.\n",
		   out);
}

} // namespace

int main(int argc, char **argv)
{
	enum { OptVersion = 0x100 };
	static const option options[] = {
		{ "jobs", no_argument, nullptr, 'j' },
		{ "verbose", no_argument, nullptr, 'v' },
		{ "help", no_argument, nullptr, 'h' },
		{ "version", no_argument, nullptr, OptVersion },
		{ nullptr, 0, nullptr, 0 },
	};
	bool jobs = false;
	for (int c; (c = getopt_long(argc, argv, "jvh", options, nullptr)) != -1;) {
		switch (c) {
		case 'j':
			jobs = true;
			break;
		case 'v':
			dmdns::setLogLevel(dmdns::LogLevel::Info);
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case OptVersion:
			std::printf("distcc-mdns-hosts %s\n", DMDNS_VERSION);
			return EXIT_SUCCESS;
		default:
			std::fputs("Try 'distcc-mdns-hosts --help' for more information.\n", stderr);
			return kUsageError;
		}
	}
	if (optind < argc) {
		dmdns::log(dmdns::LogLevel::Error, "unexpected argument '{}'", argv[optind]);
		return kUsageError;
	}

	const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	dmdns::HostSpec local;
	local.kind = dmdns::HostSpec::Kind::Local;
	local.limit = static_cast<std::uint32_t>(cpus > 0 ? std::min(cpus, 9999L) : 1L);
	dmdns::HostsLine line;
	line.hosts.push_back(local);

	if (jobs)
		std::printf("%u\n", local.effectiveLimit());
	else
		std::printf("%s\n", dmdns::writeHostsLine(line).c_str());
	return EXIT_SUCCESS;
}
