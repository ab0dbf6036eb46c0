// distcc 3.4 host list: a writer whose output distcc reads, and a strict parser.
#include "distcc-mdns/hosts_line.h"

#include <stdexcept>

#include <fmt/format.h>

#include "distcc-mdns/text.h"

namespace dmdns {

namespace {

constexpr std::string_view kNameChars = "._-";
constexpr std::string_view kCommandChars = "/._+-";
constexpr std::string_view kSpace = " \t\n\r\f\v";
constexpr std::size_t kMaxName = 253;

bool isIPv6Literal(std::string_view host)
{
	const auto percent = host.find('%');
	const auto address = Address::parse(host.substr(0, percent));
	if (!address || address->family != Address::Family::IPv6)
		return false;
	if (percent == std::string_view::npos)
		return true;
	const std::string_view scope = host.substr(percent + 1);
	return !scope.empty() && scope.size() <= 16 && text::onlyChars(scope, "_.-");
}

// A DNS name or a dotted IPv4 address. A leading '-' is refused so that no
// host can be taken for one of distcc's --options.
bool isHostName(std::string_view host)
{
	return !host.empty() && host.size() <= kMaxName && host.front() != '-' &&
	       host.front() != '.' && text::onlyChars(host, kNameChars);
}

std::string checkLimit(const std::optional<std::uint32_t> &limit)
{
	if (limit && (*limit < 1 || *limit > kMaxHostLimit))
		return fmt::format("limit {} not in [1, {}]", *limit, kMaxHostLimit);
	return {};
}

std::string checkOptions(const HostSpec &spec)
{
	if (spec.cpp && !spec.lzo)
		return "pump mode (,cpp) requires compression (,lzo)";
	if (spec.auth && !spec.auth->empty() &&
	    (spec.auth->size() > 64 || !text::onlyChars(*spec.auth, kNameChars)))
		return fmt::format("bad auth name {}", text::quote(*spec.auth));
	return {};
}

bool hasNoOptions(const HostSpec &spec)
{
	return !spec.lzo && !spec.cpp && !spec.auth && spec.port == kDistccPort &&
	       spec.user.empty() && spec.command.empty() && spec.host.empty();
}

// Reads the decimal digits at the start of @rest as one number.
std::optional<std::uint64_t> takeNumber(std::string_view &rest, std::uint64_t min, std::uint64_t max)
{
	std::size_t n = 0;
	while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9')
		++n;
	auto value = text::parseUint(rest.substr(0, n), min, max);
	rest.remove_prefix(n);
	return value;
}

std::string_view takeUntil(std::string_view &rest, std::string_view stops)
{
	const std::size_t n = std::min(rest.find_first_of(stops), rest.size());
	const std::string_view part = rest.substr(0, n);
	rest.remove_prefix(n);
	return part;
}

// Parses the parts of one entry; every method returns an error or "".
class SpecParser final
{
public:
	explicit SpecParser(std::string_view token)
		: rest_(token) { }

	std::string local(HostSpec &spec)
	{
		spec.kind = HostSpec::Kind::Local;
		rest_.remove_prefix(std::string_view("localhost").size());
		return finish(limit(spec));
	}

	std::string ssh(HostSpec &spec)
	{
		spec.kind = HostSpec::Kind::Ssh;
		spec.user = std::string(takeUntil(rest_, "@"));
		rest_.remove_prefix(1);
		spec.host = std::string(takeUntil(rest_, "/:,"));
		if (std::string why = limit(spec); !why.empty())
			return why;
		if (!rest_.empty() && rest_.front() == ':') {
			rest_.remove_prefix(1);
			spec.command = std::string(takeUntil(rest_, ","));
			if (spec.command.empty())
				return "empty ssh command after ':'";
		}
		return finish(options(spec));
	}

	std::string tcp(HostSpec &spec)
	{
		spec.kind = HostSpec::Kind::Tcp;
		if (!rest_.empty() && rest_.front() == '[') {
			rest_.remove_prefix(1);
			spec.host = std::string(takeUntil(rest_, "]"));
			if (rest_.empty())
				return "IPv6 address without closing ']'";
			rest_.remove_prefix(1);
			if (!isIPv6Literal(spec.host))
				return fmt::format("{} is not an IPv6 address", text::quote(spec.host));
		} else {
			spec.host = std::string(takeUntil(rest_, "/:,"));
		}
		// distcc accepts the limit before or after the port.
		if (std::string why = limit(spec); !why.empty())
			return why;
		if (!rest_.empty() && rest_.front() == ':') {
			rest_.remove_prefix(1);
			auto port = takeNumber(rest_, 1, 65535);
			if (!port)
				return "port is not a number in [1, 65535]";
			spec.port = static_cast<std::uint16_t>(*port);
			if (!spec.limit)
				if (std::string why = limit(spec); !why.empty())
					return why;
		}
		return finish(options(spec));
	}

private:
	std::string limit(HostSpec &spec)
	{
		if (rest_.empty() || rest_.front() != '/')
			return {};
		rest_.remove_prefix(1);
		auto value = takeNumber(rest_, 1, kMaxHostLimit);
		if (!value)
			return fmt::format("limit is not a number in [1, {}]", kMaxHostLimit);
		spec.limit = static_cast<std::uint32_t>(*value);
		return {};
	}

	std::string options(HostSpec &spec)
	{
		while (!rest_.empty() && rest_.front() == ',') {
			rest_.remove_prefix(1);
			const std::string_view option = takeUntil(rest_, ",");
			if (option == "lzo")
				spec.lzo = true;
			else if (option == "cpp")
				spec.cpp = true;
			else if (option == "auth")
				spec.auth = "";
			else if (option.starts_with("auth="))
				spec.auth = std::string(option.substr(5));
			else
				return fmt::format("unknown option {}", text::quote(option));
		}
		return {};
	}

	std::string finish(std::string why)
	{
		if (why.empty() && !rest_.empty())
			why = fmt::format("unexpected {}", text::quote(rest_));
		return why;
	}

	std::string_view rest_;
};

} // namespace

std::uint32_t HostSpec::effectiveLimit() const noexcept
{
	if (limit)
		return *limit;
	return kind == Kind::Local ? 2 : 4;
}

std::string checkHostSpec(const HostSpec &spec)
{
	if (std::string why = checkLimit(spec.limit); !why.empty())
		return why;
	switch (spec.kind) {
	case HostSpec::Kind::Local:
		return hasNoOptions(spec) ? std::string{} : "localhost takes only a limit";
	case HostSpec::Kind::Zeroconf:
		return hasNoOptions(spec) && !spec.limit ? std::string{}
							 : "+zeroconf takes no limit or options";
	case HostSpec::Kind::Ssh:
		if (!isHostName(spec.host))
			return fmt::format("bad ssh host name {}", text::quote(spec.host));
		if (spec.port != kDistccPort)
			return "ssh hosts take no port";
		if (spec.user.size() > 64 || !text::onlyChars(spec.user, kNameChars))
			return fmt::format("bad ssh user {}", text::quote(spec.user));
		if (spec.command.size() > 255 || !text::onlyChars(spec.command, kCommandChars))
			return fmt::format("bad ssh command {}", text::quote(spec.command));
		return checkOptions(spec);
	case HostSpec::Kind::Tcp:
		if (!isHostName(spec.host) && !isIPv6Literal(spec.host))
			return fmt::format("bad host {}", text::quote(spec.host));
		if (spec.port == 0)
			return "port 0";
		if (!spec.user.empty() || !spec.command.empty())
			return "tcp hosts take no ssh user or command";
		return checkOptions(spec);
	}
	return "unknown kind";
}

std::string writeHostsLine(const HostsLine &line)
{
	std::vector<std::string> words;
	if (line.randomize)
		words.emplace_back("--randomize");
	for (auto [name, value] : { std::pair{ "--localslots", line.localSlots },
				    std::pair{ "--localslots_cpp", line.localSlotsCpp } }) {
		if (!value)
			continue;
		if (std::string why = checkLimit(value); !why.empty())
			throw std::invalid_argument(fmt::format("{}: {}", name, why));
		words.push_back(fmt::format("{}={}", name, *value));
	}

	for (std::size_t i = 0; i < line.hosts.size(); ++i) {
		const HostSpec &spec = line.hosts[i];
		if (std::string why = checkHostSpec(spec); !why.empty())
			throw std::invalid_argument(fmt::format("host {}: {}", i + 1, why));
		std::string word;
		switch (spec.kind) {
		case HostSpec::Kind::Local:
			word = "localhost";
			break;
		case HostSpec::Kind::Zeroconf:
			word = "+zeroconf";
			break;
		case HostSpec::Kind::Ssh:
			word = spec.user + "@" + spec.host;
			break;
		case HostSpec::Kind::Tcp:
			word = spec.host.find(':') != std::string::npos ? "[" + spec.host + "]" : spec.host;
			// A bare "localhost" would mean running jobs locally.
			if (spec.port != kDistccPort || spec.host == "localhost")
				word += fmt::format(":{}", spec.port);
			break;
		}
		if (spec.limit)
			word += fmt::format("/{}", *spec.limit);
		if (!spec.command.empty())
			word += ":" + spec.command;
		if (spec.lzo)
			word += ",lzo";
		if (spec.cpp)
			word += ",cpp";
		if (spec.auth)
			word += spec.auth->empty() ? ",auth" : ",auth=" + *spec.auth;
		words.push_back(std::move(word));
	}

	std::string out;
	for (const std::string &w : words) {
		if (!out.empty())
			out += ' ';
		out += w;
	}
	return out;
}

HostsLineParse parseHostsLine(std::string_view text)
{
	HostsLineParse result;
	auto fail = [&](std::size_t offset, std::string message) {
		result.line.reset();
		result.error = std::move(message);
		result.errorOffset = offset;
		return result;
	};
	if (text.size() > kMaxHostsLineBytes)
		return fail(kMaxHostsLineBytes, fmt::format("host list longer than {} bytes", kMaxHostsLineBytes));
	if (text.find('\0') != std::string_view::npos)
		return fail(text.find('\0'), "NUL byte in host list");

	HostsLine line;
	std::size_t pos = 0;
	while (pos < text.size()) {
		const char c = text[pos];
		if (c == '#') {
			pos = std::min(text.find_first_of("\n\r", pos), text.size());
			continue;
		}
		if (kSpace.find(c) != std::string_view::npos) {
			++pos;
			continue;
		}
		const std::size_t end = std::min(text.find_first_of(" #\t\n\r\f\v", pos), text.size());
		const std::string_view token = text.substr(pos, end - pos);
		const std::size_t at = pos;
		pos = end;

		if (token == "--randomize") {
			line.randomize = true;
			continue;
		}
		bool keyword = false;
		for (auto [name, slot] : { std::pair{ std::string_view("--localslots_cpp"), &line.localSlotsCpp },
					   std::pair{ std::string_view("--localslots"), &line.localSlots } }) {
			if (keyword || !token.starts_with(name))
				continue;
			std::string_view rest = token.substr(name.size());
			if (rest.empty() || (rest.front() != '=' && rest.front() != '/'))
				continue;
			rest.remove_prefix(1);
			auto value = text::parseUint(rest, 1, kMaxHostLimit);
			if (!value)
				return fail(at, fmt::format("{}: value is not a number in [1, {}]", name, kMaxHostLimit));
			*slot = static_cast<std::uint32_t>(*value);
			keyword = true;
		}
		if (keyword)
			continue;

		if (line.hosts.size() == kMaxHostSpecs)
			return fail(at, fmt::format("more than {} hosts", kMaxHostSpecs));
		HostSpec spec;
		SpecParser parser(token);
		std::string why;
		if (token == "+zeroconf")
			spec.kind = HostSpec::Kind::Zeroconf;
		else if (token == "localhost" || token.starts_with("localhost/"))
			why = parser.local(spec);
		else if (token.find('@') != std::string_view::npos)
			why = parser.ssh(spec);
		else
			why = parser.tcp(spec);
		if (why.empty())
			why = checkHostSpec(spec);
		if (!why.empty())
			return fail(at, fmt::format("bad host specification {}: {}", text::quote(token), why));
		line.hosts.push_back(std::move(spec));
	}
	result.line = std::move(line);
	return result;
}

HostSpec hostSpecFor(const Address &address, std::uint16_t port, std::uint32_t limit,
		     bool lzo, bool cpp)
{
	HostSpec spec;
	spec.host = address.text;
	if (address.family == Address::Family::IPv6 && address.isLinkLocal() && address.scope)
		spec.host += fmt::format("%{}", address.scope);
	spec.port = port;
	spec.limit = limit;
	spec.lzo = lzo || cpp;
	spec.cpp = cpp;
	return spec;
}

} // namespace dmdns
