// Unit tests of the host id: a keyed hash of the machine id, host name and lasting MACs.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "host/host_id.h"

using namespace dmdns::host;

namespace {

NetInterface iface(std::string name, std::vector<std::uint8_t> mac, bool loopback = false)
{
	return NetInterface{ std::move(name), std::move(mac), loopback };
}

} // namespace

TEST_SUITE("host_id")
{
	TEST_CASE("host id: 16 hex digits, stable, and distinct per network namespace")
	{
		const std::string machineId = "3d1219c7c4c5404aaa1f6d2a48adfda4\n";
		const std::vector<NetInterface> hostA = { iface("lo", { 0, 0, 0, 0, 0, 0 }, true),
							  iface("eth0", { 0xc2, 0xd1, 0xcf, 0xa5, 0x10, 0x05 }) };
		const std::vector<NetInterface> hostB = { iface("lo", { 0, 0, 0, 0, 0, 0 }, true),
							  iface("eth0", { 0x6a, 0x11, 0x2f, 0x00, 0x01, 0x02 }) };
		const std::string a = hostIdFrom(machineId, "node", hostA);
		CHECK(a.size() == 16);
		CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
		CHECK(hostIdFrom(machineId, "node", hostA) == a);
		// Two namespaces of one machine with the same host name.
		CHECK(hostIdFrom(machineId, "node", hostB) != a);
		CHECK(hostIdFrom(machineId, "other", hostA) != a);
		CHECK(hostIdFrom("0123456789abcdef0123456789abcdef", "node", hostA) != a);
		// The machine id's newline does not count.
		CHECK(hostIdFrom("3d1219c7c4c5404aaa1f6d2a48adfda4", "node", hostA) == a);
		// No machine id, no interfaces: still an id.
		CHECK(hostIdFrom("", "", {}).size() == 16);
	}

	TEST_CASE("host id ignores interface order, loopback and transient interfaces")
	{
		const NetInterface nic = iface("enp3s0", { 0x00, 0x1b, 0x21, 0x3a, 0x4f, 0x10 });
		const NetInterface wifi = iface("wlp2s0", { 0x3c, 0xa9, 0xf4, 0x01, 0x02, 0x03 });
		const std::string base = hostIdFrom("id", "node", std::vector{ nic, wifi });
		CHECK(hostIdFrom("id", "node", std::vector{ wifi, nic }) == base);
		CHECK(hostIdFrom("id", "node", std::vector{ nic, wifi, nic }) == base);
		// Containers and boot-random devices come and go.
		CHECK(hostIdFrom("id", "node",
				 std::vector{ iface("lo", { 0, 0, 0, 0, 0, 0 }, true), nic,
					      iface("docker0", { 0x02, 0x42, 0xac, 0x11, 0, 1 }),
					      iface("veth1a2b3c", { 0x86, 0x3e, 0x11, 0x22, 0x33, 0x44 }),
					      iface("br-0123abcd", { 0x02, 0x42, 1, 2, 3, 4 }),
					      iface("ifb0", { 0x76, 0x5a, 0x3d, 0x34, 0x91, 0x62 }),
					      iface("tun0", {}), wifi }) == base);
		// With a burnt-in address present, a locally administered one
		// (random by nature) does not count ...
		CHECK(hostIdFrom("id", "node", std::vector{ nic, wifi, iface("bond0", { 0x02, 9, 9, 9, 9, 9 }) }) ==
		      base);
		// ... but a burnt-in one does.
		CHECK(hostIdFrom("id", "node", std::vector{ nic, wifi, iface("enp4s0", { 0x00, 0x1b, 0x21, 9, 9, 9 }) }) !=
		      base);
		// A VM: only locally administered addresses, which then count.
		const std::string vm1 = hostIdFrom("id", "node", std::vector{ iface("ens3", { 0x52, 0x54, 0, 1, 2, 3 }) });
		const std::string vm2 = hostIdFrom("id", "node", std::vector{ iface("ens3", { 0x52, 0x54, 0, 1, 2, 4 }) });
		CHECK(vm1 != vm2);
		// An all-zero address is no address.
		CHECK(hostIdFrom("id", "node", std::vector{ nic, wifi, iface("eth9", { 0, 0, 0, 0, 0, 0 }) }) == base);
	}

	TEST_CASE("host id is a keyed hash: not the old FNV value, no piece of the machine id")
	{
		const std::string machineId = "3d1219c7c4c5404aaa1f6d2a48adfda4";
		const std::vector<NetInterface> host = { iface("lo", { 0, 0, 0, 0, 0, 0 }, true),
							 iface("eth0", { 0xc2, 0xd1, 0xcf, 0xa5, 0x10, 0x05 }) };
		const std::string id = hostIdFrom(machineId, "node", host);
		// What the unkeyed FNV-1a of these inputs gave before (computed
		// with the old hostIdFrom): anyone could recompute it from a
		// guessed machine id.
		CHECK(id != "60654fb97a0068a7");
		// No 4 hex digits in a row of the machine id show in the id (13
		// windows of the id against 29 of the machine id: a chance match
		// has odds of about 1 in 170).
		for (std::size_t i = 0; i + 4 <= id.size(); ++i)
			CHECK_MESSAGE(machineId.find(id.substr(i, 4)) == std::string::npos, id);
		// Every input counts, even one bit of the machine id.
		CHECK(hostIdFrom("3d1219c7c4c5404aaa1f6d2a48adfda5", "node", host) != id);
		CHECK(hostIdFrom(machineId, "nodf", host) != id);
		CHECK(hostIdFrom(machineId, "node", std::vector{ iface("eth0", { 0xc2, 0xd1, 0xcf, 0xa5, 0x10, 0x04 }) }) !=
		      id);
		// Fields are framed: moving a character from one to the next is
		// another input.
		CHECK(hostIdFrom("ab", "c", {}) != hostIdFrom("a", "bc", {}));
		// Same inputs, same id, as after a restart.
		CHECK(hostIdFrom(machineId + "\n", "node", host) == id);
	}

	TEST_CASE("a per-user daemon's node id: stable, distinct from the host's and per uid")
	{
		const std::string host = hostIdFrom("3d1219c7c4c5404aaa1f6d2a48adfda4", "node", {});
		const std::string user = userHostIdFrom(host, 1000);
		CHECK(user.size() == 16);
		CHECK(user.find_first_not_of("0123456789abcdef") == std::string::npos);
		CHECK(userHostIdFrom(host, 1000) == user);
		CHECK(user != host);
		CHECK(userHostIdFrom(host, 1001) != user);
		CHECK(userHostIdFrom(host, 0) != host);
		CHECK(userHostIdFrom(hostIdFrom("", "other", {}), 1000) != user);
		// Not the host id of a host whose name is the uid.
		CHECK(userHostIdFrom(host, 1000) != hostIdFrom(host, "1000", {}));
	}
}
