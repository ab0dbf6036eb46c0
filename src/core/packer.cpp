// Records into datagrams: bounded in size, numbered, and tagged when the node holds a key.
#include "distcc-mdns/gossip/packer.h"

#include <utility>

#include "distcc-mdns/gossip/own_news.h"

namespace dmdns::gossip {

Packer::Packer(PackerSettings settings)
	: settings_(std::move(settings)) { }

std::vector<std::uint8_t> Packer::seal(std::vector<std::uint8_t> bytes)
{
	wire::stampSequence(bytes, bump(sequence_));
	if (settings_.sign) {
		const std::size_t body = bytes.size() - wire::kTagSize;
		settings_.sign(std::span<const std::uint8_t>(bytes.data(), body),
			       std::span<std::uint8_t, wire::kTagSize>(bytes.data() + body, wire::kTagSize));
	}
	return bytes;
}

std::vector<std::vector<std::uint8_t>> Packer::pack(const std::vector<wire::Record> &records, std::uint8_t flags,
						    std::optional<std::uint64_t> cookie)
{
	const std::uint8_t tagged = settings_.sign ? wire::kFlagTagged : 0;
	const bool isRequest = flags & wire::kFlagPushPullRequest;
	std::vector<std::vector<std::uint8_t>> out;
	// A push-pull request rides on the first datagram only, so that the
	// peer answers once; it carries the cookie the peer handed us.
	wire::PacketWriter writer({ static_cast<std::uint8_t>(flags | tagged), settings_.node, settings_.incarnation, 0 },
				  settings_.maxDatagram);
	wire::PacketWriter rest({ static_cast<std::uint8_t>((flags & ~wire::kFlagPushPullRequest) | tagged),
				  settings_.node, settings_.incarnation, 0 },
				settings_.maxDatagram);
	if (isRequest && cookie)
		writer.add(wire::Cookie{ *cookie });
	wire::PacketWriter *w = &writer;
	for (const wire::Record &record : records) {
		if (w->add(record))
			continue;
		if (w == &writer && isRequest)
			writer.padTo(settings_.minRequest);
		out.push_back(seal(w->finish()));
		w = &rest;
		w->add(record); // always fits an empty datagram: checked by Gossip's constructor
	}
	if (w == &writer && isRequest)
		writer.padTo(settings_.minRequest);
	if (!w->empty() || (out.empty() && isRequest))
		out.push_back(seal(w->finish()));
	return out;
}

std::optional<std::vector<std::uint8_t>> Packer::packWithin(std::span<const wire::Record> records,
							    std::size_t budget)
{
	if (budget < wire::kHeaderSize + (tagged() ? wire::kTagSize : 0))
		return std::nullopt;
	wire::PacketWriter w({ static_cast<std::uint8_t>(tagged() ? wire::kFlagTagged : 0), settings_.node,
			       settings_.incarnation, 0 },
			     budget);
	for (const wire::Record &record : records)
		w.add(record); // what does not fit stays out
	return seal(w.finish());
}

} // namespace dmdns::gossip
