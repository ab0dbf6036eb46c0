// The web page (src/http/page.html), built into the daemon.
#pragma once

#include <string_view>

namespace dmdns::http {

// The page's bytes: one self-contained HTML file (inline CSS and script).
std::string_view pageHtml();

} // namespace dmdns::http
