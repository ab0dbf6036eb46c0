// doctest entry point of the adapter tests; the IPv6 suite is skipped (exit 77) where there is no IPv6.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <string_view>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

// Whether a UDP socket can bind [::1] (IPv6 disabled, some containers: no).
bool haveIpv6Loopback()
{
	const int fd = ::socket(AF_INET6, SOCK_DGRAM, 0);
	if (fd < 0)
		return false;
	sockaddr_in6 address{};
	address.sin6_family = AF_INET6;
	address.sin6_addr = in6addr_loopback;
	const bool bound = ::bind(fd, reinterpret_cast<const sockaddr *>(&address), sizeof address) == 0;
	::close(fd);
	return bound;
}

} // namespace

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; ++i)
		if (std::string_view(argv[i]) == "--test-suite=uv_udp_ipv6" && !haveIpv6Loopback()) {
			std::fputs("skipped: no IPv6 loopback on this host ([::1] cannot be bound)\n", stderr);
			return 77;
		}
	doctest::Context context(argc, argv);
	return context.run();
}
