// Reads the fields of a query request strictly: wrong types are refused, not guessed.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace dmdns::request {

// The integer at @key in [min, max], or @fallback when absent.
std::int64_t integer(const nlohmann::json &request, const char *key, std::int64_t min, std::int64_t max,
		     std::int64_t fallback);
// A finite number at @key in [min, max], or @fallback when absent.
double number(const nlohmann::json &request, const char *key, double min, double max, double fallback);
bool boolean(const nlohmann::json &request, const char *key, bool fallback);
std::string string(const nlohmann::json &request, const char *key, const std::string &fallback);

} // namespace dmdns::request
