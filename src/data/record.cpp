#include "synthforge/data/record.h"

namespace synthforge {

const char* json_type_name(const Json& v) {
    switch (v.type()) {
        case Json::value_t::null:
            return "null";
        case Json::value_t::boolean:
            return "bool";
        case Json::value_t::string:
            return "string";
        case Json::value_t::array:
            return "list";
        case Json::value_t::object:
            return "object";
        case Json::value_t::number_integer:
        case Json::value_t::number_unsigned:
        case Json::value_t::number_float:
            return "number";
        default:
            return "binary";
    }
}

}  // namespace synthforge
