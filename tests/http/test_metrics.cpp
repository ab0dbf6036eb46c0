// The Prometheus renderer: every figure of the farm object, unchanged, in the text format.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "http/metrics.h"

using dmdns::http::escapeLabel;
using dmdns::http::renderMetrics;

namespace {

std::string fixture()
{
	std::ifstream in(HTTP_FIXTURE);
	std::stringstream s;
	s << in.rdbuf();
	REQUIRE(!s.str().empty());
	return s.str();
}

bool hasLine(const std::string &text, const std::string &line)
{
	std::istringstream in(text);
	for (std::string l; std::getline(in, l);)
		if (l == line)
			return true;
	return false;
}

} // namespace

TEST_SUITE("metrics")
{
	TEST_CASE("totals, servers and clients carry the object's numbers")
	{
		const std::string m = renderMetrics(fixture());
		CHECK(hasLine(m, "distcc_mdns_farm_available 1"));
		CHECK(hasLine(m, "distcc_mdns_farm_seq 17"));
		CHECK(hasLine(m, "distcc_mdns_farm_slots 10"));
		CHECK(hasLine(m, "distcc_mdns_farm_utilisation 0.5"));
		CHECK(hasLine(m, "distcc_mdns_server_slots{server=\"s1\",id=\"00000000000000b1\"} 4"));
		CHECK(hasLine(m, "distcc_mdns_server_busy{server=\"s1\",id=\"00000000000000b1\"} 3"));
		CHECK(hasLine(m, "distcc_mdns_server_reserved{server=\"s1\",id=\"00000000000000b1\"} 2"));
		CHECK(hasLine(m, "distcc_mdns_server_sample_age_seconds{server=\"s1\",id=\"00000000000000b1\"} 0.25"));
		CHECK(hasLine(m, "distcc_mdns_server_state{server=\"s3\",id=\"00000000000000b3\",state=\"drain\"} 1"));
		CHECK(hasLine(m, "distcc_mdns_server_fresh{server=\"s1\",id=\"00000000000000b1\"} 1"));
		CHECK(hasLine(m, "distcc_mdns_server_client_jobs{server=\"s1\",id=\"00000000000000b1\",client=\"10.0.0.3\"} 2"));
		CHECK(hasLine(m, "distcc_mdns_server_client_jobs{server=\"s1\",id=\"00000000000000b1\",client=\"\"} 1"));
		CHECK(hasLine(m, "distcc_mdns_client_want{client=\"c1\",id=\"00000000000000a1\"} 8"));
		CHECK(hasLine(m, "distcc_mdns_client_share{client=\"c1\",id=\"00000000000000a1\"} 6"));
		// A client without a name is labelled by its id.
		CHECK(hasLine(m, "distcc_mdns_client_want{client=\"00000000000000a2\",id=\"00000000000000a2\"} 4"));
		CHECK(hasLine(m, "distcc_mdns_gossip_datagrams_received_total 1000"));
		CHECK(hasLine(m, "distcc_mdns_gossip_datagrams_dropped_total{reason=\"rate_limited\"} 3"));
		CHECK(hasLine(m, "distcc_mdns_gossip_records_ignored_total{reason=\"unknown\"} 7"));
		CHECK(hasLine(m, "distcc_mdns_queries_total{op=\"hosts\"} 12"));
		CHECK(hasLine(m, "distcc_mdns_query_refused_total 2"));
	}

	TEST_CASE("null fields give no sample")
	{
		const std::string m = renderMetrics(fixture());
		// s3 has no running count, load or age; c2 (a2) no share.
		CHECK(m.find("distcc_mdns_server_busy{server=\"s3\"") == std::string::npos);
		CHECK(m.find("distcc_mdns_server_load{server=\"s3\"") == std::string::npos);
		CHECK(m.find("distcc_mdns_server_sample_age_seconds{server=\"s3\"") == std::string::npos);
		CHECK(m.find("distcc_mdns_client_share{client=\"00000000000000a2\"") == std::string::npos);
		CHECK(hasLine(m, "distcc_mdns_server_slots{server=\"s3\",id=\"00000000000000b3\"} 4"));
	}

	TEST_CASE("each family has one HELP and one TYPE line, before its samples")
	{
		const std::string m = renderMetrics(fixture());
		std::istringstream in(m);
		std::string current;
		int types = 0;
		for (std::string l; std::getline(in, l);) {
			if (l.rfind("# TYPE ", 0) == 0) {
				const std::string name = l.substr(7, l.find(' ', 7) - 7);
				CHECK(m.find("# TYPE " + name + " ") == m.rfind("# TYPE " + name + " "));
				current = name;
				++types;
			} else if (l.rfind("# HELP ", 0) != 0) {
				CHECK(l.rfind(current, 0) == 0);
			}
		}
		CHECK(types > 20);
	}

	TEST_CASE("label values are escaped")
	{
		CHECK(escapeLabel("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
		const std::string m = renderMetrics(fixture());
		CHECK(hasLine(m, "distcc_mdns_server_slots{server=\"s2 \\\"quoted\\\\name\\\"\",id=\"00000000000000b2\"} 6"));
	}

	TEST_CASE("bad input says there is no farm and throws nothing")
	{
		for (const char *bad : { "", "{", "[1,2]", "null", "{\"servers\": 5, \"totals\": []}" }) {
			std::string m;
			CHECK_NOTHROW(m = renderMetrics(bad));
			if (std::string(bad).rfind("{\"", 0) == 0)
				CHECK(hasLine(m, "distcc_mdns_farm_available 1"));
			else
				CHECK(hasLine(m, "distcc_mdns_farm_available 0"));
		}
		// Wrong types inside are skipped, not guessed.
		const std::string m = renderMetrics(
			R"({"servers":[{"name":"x","slots":"four","running":[1]},7],"clients":{"a":1},"queries":[]})");
		CHECK(m.find("server_slots") == std::string::npos);
		CHECK(m.find("server_busy") == std::string::npos);
	}
}
