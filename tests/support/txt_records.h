// TXT records the tests resolve: a stock distccd's and a distcc-mdnsd's.
#pragma once

#include <string>
#include <vector>

namespace dmdns::test {

// What a stock `distccd --zeroconf` publishes.
inline const std::vector<std::string> kStockTxt = { "txtvers=1",
						    "cpus=2",
						    "jobs=4",
						    "distcc=3.4",
						    "gnuhost=x86_64-pc-linux-gnu",
						    "cc_version=12",
						    "cc_machine=x86_64-linux-gnu" };

// The TXT of a distcc-mdns server, up, with gossip id @id.
inline std::vector<std::string> oursTxt(const std::string &id)
{
	std::vector<std::string> txt = kStockTxt;
	txt.insert(txt.end(), { "dmver=1", "id=" + id, "run=1", "state=up" });
	return txt;
}

} // namespace dmdns::test
