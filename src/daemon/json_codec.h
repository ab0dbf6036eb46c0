// The one adapter between JSON and the typed requests, replies and view: used at the query socket and for --json.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "daemon/farm_view.h"
#include "daemon/gossip_node.h"
#include "daemon/request.h"
#include "daemon/view.h"

namespace dmdns::codec {

// The request object's operation and fields, read strictly: a missing or
// unknown "op", a field of the wrong type or out of its range throws
// std::invalid_argument naming it. Fields the operation does not read are
// ignored. See docs/query-socket.md.
Request decodeRequest(const nlohmann::json &request);
// The "op" a request carries.
std::string_view opName(const Request &request);

nlohmann::json encode(const HostsRequest &request);
nlohmann::json encode(const SetStateRequest &request);
nlohmann::json encode(const SetStateReply &reply);
nlohmann::json encode(const SetupUserRequest &request);
nlohmann::json encode(const SetupUserReply &reply);
// A "setup-user" reply; throws std::invalid_argument without an absolute
// "path".
SetupUserReply decodeSetupUserReply(const nlohmann::json &reply);
nlohmann::json encode(const View &view);
// The "stats" reply: {"gossip": null} without a gossip node.
nlohmann::json encode(const std::optional<GossipNodeStats> &stats);
// The "stats" reply from its typed parts (what Daemon answers to "stats").
nlohmann::json encode(const FarmStats &stats);
// The "farm" reply and each object of a "watch" stream
// (docs/query-socket.md): one object, the "ok" left to the caller.
nlohmann::json encode(const FarmView &farm);
// The farm object as one line, newline included: what a watcher and the
// farm sink (Daemon::setFarmSink) get.
std::string farmLine(const FarmView &farm);

// Adds to a stats reply why this host is not advertised and what to change
// ("not_advertising"; absent while it is advertised).
void addNotAdvertising(nlohmann::json &stats, const std::string &reason);
// Adds this machine's speed and job timing to a stats reply ("speed").
void addSpeedStats(nlohmann::json &stats, const SpeedStats &speed);
// The reason a stats reply gives, or empty; throws std::invalid_argument
// for one that is not a string of at most 1024 bytes.
std::string decodeNotAdvertising(const nlohmann::json &stats);

// A view as encode() writes it (the "ok" of a reply is ignored); throws
// std::invalid_argument for a field of the wrong type or a missing "line"
// or "jobs". Fields it does not know are ignored.
View decodeView(const nlohmann::json &view);

// The sources of unauthenticated gossip a "stats" reply lists (none
// without gossip); throws std::invalid_argument for a field of the wrong
// type.
std::vector<AuthFailure> decodeAuthFailures(const nlohmann::json &stats);

// The reply line, newline included, for a request refused with @message.
std::string errorLine(std::string_view message);

// Answers one well-formed request; may throw std::invalid_argument for a
// request it refuses, which becomes an error reply.
using Handler = std::function<nlohmann::json(const Request &request, const Caller &caller)>;

// The reply line, newline included, to one request line: the handler's
// object with "ok":true, or {"ok":false,"error":...} for a request that is
// not a JSON object, that decodeRequest() or the handler refuses.
// @failed, when given, is set to whether the reply is an error.
std::string answerLine(std::string_view line, const Handler &handler, const Caller &caller = {},
		       bool *failed = nullptr);

} // namespace dmdns::codec
