// Reads the fields of a query request strictly: wrong types are refused, not guessed.
#include "request.h"

#include <fmt/format.h>

namespace dmdns::request {

std::int64_t integer(const nlohmann::json &request, const char *key, std::int64_t min, std::int64_t max,
		     std::int64_t fallback)
{
	if (!request.contains(key))
		return fallback;
	const nlohmann::json &v = request[key];
	if (!v.is_number_integer())
		throw std::invalid_argument(fmt::format("'{}' must be an integer", key));
	const auto n = v.get<std::int64_t>();
	if (n < min || n > max)
		throw std::invalid_argument(fmt::format("'{}' must be in [{}, {}]", key, min, max));
	return n;
}

double number(const nlohmann::json &request, const char *key, double min, double max, double fallback)
{
	if (!request.contains(key))
		return fallback;
	const nlohmann::json &v = request[key];
	if (!v.is_number())
		throw std::invalid_argument(fmt::format("'{}' must be a number", key));
	const auto x = v.get<double>();
	if (!(x >= min && x <= max))
		throw std::invalid_argument(fmt::format("'{}' must be in [{}, {}]", key, min, max));
	return x;
}

bool boolean(const nlohmann::json &request, const char *key, bool fallback)
{
	if (!request.contains(key))
		return fallback;
	if (!request[key].is_boolean())
		throw std::invalid_argument(fmt::format("'{}' must be true or false", key));
	return request[key].get<bool>();
}

std::string string(const nlohmann::json &request, const char *key, const std::string &fallback)
{
	if (!request.contains(key))
		return fallback;
	if (!request[key].is_string())
		throw std::invalid_argument(fmt::format("'{}' must be a string", key));
	return request[key].get<std::string>();
}

} // namespace dmdns::request
