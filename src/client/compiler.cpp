// The compiler a build here runs (client/compiler.h).
#include "client/compiler.h"

#include <sstream>

namespace dmdns::client {

std::string compilerOf(const char *cc)
{
	std::string name = "cc";
	if (cc) {
		std::istringstream words(cc);
		for (std::string w; words >> w;)
			if (w != "distcc" && w != "ccache" && w.find('=') == std::string::npos)
				name = w;
	}
	return name;
}

} // namespace dmdns::client
