// Temporary forward to the public header; remove once nothing includes it.
#pragma once
#include "distcc-mdns/text.h"
