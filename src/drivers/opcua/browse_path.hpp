// Tags addressed by browse path: the text form of a RelativePath (OPC 10000-4
// Annex A.2), followed from the Objects folder with TranslateBrowsePathsToNodeIds
// after every connect. `/2:Line1/2:Temp`: each element is a BrowseName with its
// namespace index (none: 0), reached by `/` (hierarchical references) or `.`
// (aggregates, i.e. components and properties); `&` takes the next character
// as it is (`&/`, `&.`, `&:`, `&&`...). Pure; errors name the character offset.
#pragma once

#include <string_view>

#include "core/result.hpp"
#include "drivers/opcua/view_services.hpp"

namespace ib::drivers::opcua {

// Whether a tag address is a browse path rather than a NodeId.
bool is_browse_path(std::string_view address);

Result<RelativePath> parse_browse_path(std::string_view text);

}  // namespace ib::drivers::opcua
