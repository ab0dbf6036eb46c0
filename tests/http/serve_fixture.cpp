// A web server without a daemon, for the Python and browser tests: serves each farm object read from stdin.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <variant>

#include <fmt/format.h>

#include "http/address.h"
#include "http/http_server.h"

// Usage: http-serve-fixture [ADDR:]PORT|ADDR:0
// Prints "port N" once listening, then publishes every line of stdin as
// the newest farm object, and stops at end of input.
int main(int argc, char **argv)
{
	using namespace dmdns::http;
	HttpConfig config;
	if (argc > 1) {
		const std::string arg = argv[1];
		const std::size_t colon = arg.rfind(':');
		if (colon != std::string::npos && arg.substr(colon + 1) == "0") {
			config.address = arg.substr(0, colon);
		} else {
			auto parsed = parseListenAddress(arg);
			if (const std::string *error = std::get_if<std::string>(&parsed)) {
				fmt::print(stderr, "http-serve-fixture: {}\n", *error);
				return EXIT_FAILURE;
			}
			config.address = std::get<ListenAddress>(parsed).address;
			config.port = std::get<ListenAddress>(parsed).port;
		}
	}
	try {
		HttpServer server(config);
		server.start();
		fmt::print("port {}\n", server.port());
		std::fflush(stdout);
		for (std::string line; std::getline(std::cin, line);)
			if (!line.empty())
				server.publish(line);
	} catch (const std::exception &e) {
		fmt::print(stderr, "http-serve-fixture: {}\n", e.what());
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}
