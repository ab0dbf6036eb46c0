// /metrics: the farm object rendered in the Prometheus text format (0.0.4), a pure function.
#pragma once

#include <string>
#include <string_view>

namespace dmdns::http {

// Renders @farmJson (one farm object of docs/query-socket.md's `farm`
// operation) as Prometheus text exposition format 0.0.4. Every figure is
// the object's own, unchanged (milliseconds become seconds); a field that
// is null or missing gives no sample. Empty or unreadable input gives
// distcc_mdns_farm_available 0 and nothing else. Never throws for bad input.
std::string renderMetrics(std::string_view farmJson);

// A label value escaped for the text format: \ " and newline.
std::string escapeLabel(std::string_view value);

} // namespace dmdns::http
